// Functions evaluated in the demo page, and small helpers shared by the e2e tests.

export const mediaStats = () => window.sotto.call.mediaStats();
export const cryptoStats = () => window.sotto.call.cryptoStats();
export const firstRemote = (stats) => Object.values(stats)[0] ?? { framesDecoded: 0, framesReceived: 0, audioPacketsReceived: 0 };

// Luminance spread of the remote video, and a hash of its pixels: decoded video has texture,
// and the fake camera moves, so two samples differ.
export function remotePixels() {
  // The demo's call is the <sotto-call> element: the first remote tile's video.
  const video = document.querySelector('sotto-call')?.shadowRoot?.querySelector('li.tile:not(.local) video') ?? document.querySelector('video.remote-video');
  if (!video || video.videoWidth === 0) return null;
  const canvas = document.createElement('canvas');
  canvas.width = 160;
  canvas.height = 120;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  let sum = 0;
  let sumSq = 0;
  let hash = 0;
  for (let i = 0; i < data.length; i += 4) {
    const y = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
    sum += y;
    sumSq += y * y;
    hash = (hash * 31 + data[i] + data[i + 1] * 3 + data[i + 2] * 7) >>> 0;
  }
  const n = data.length / 4;
  return { width: video.videoWidth, stddev: Math.sqrt(sumSq / n - (sum / n) ** 2), hash };
}

export async function dumpOnFailure(participants, fn) {
  try {
    await fn();
  } catch (error) {
    for (const p of participants) console.error(p.console.join('\n'));
    throw error;
  }
}

/** The safety code shown on each page once all agree on one ready code (polled every 250 ms),
 *  else what each shows at `timeoutMs`: hexes (null where not ready) with `.states`. */
export async function readyCodes(pages, get, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const codes = await Promise.all(pages.map((page) => page.evaluate(get)));
    const hexes = codes.map((c) => (c?.state === 'ready' ? c.hex : null));
    hexes.states = codes.map((c) => c?.state);
    if ((hexes.every(Boolean) && new Set(hexes).size === 1) || Date.now() > deadline) return hexes;
    await new Promise((r) => setTimeout(r, 250));
  }
}

// Chromium as lib/browser.mjs starts it, with `count` fake cameras instead of two (the last
// --use-fake-device-for-media-stream wins). Chromium's fake cameras by index: 0 and 2 give
// I420 pictures (2 is its MJPEG camera), 1 gives 16-bit grey ones (a depth camera's format,
// a VideoFrame with no pixel format) that no video encoder takes: WebRTC sends no video from
// it, with or without Sotto (the lobby and <sotto-call> say so: canSendVideo).
import { chromium } from 'playwright-core';
import { CHROMIUM } from './browser.mjs';

const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
];

export function launchChromiumWithCameras(count) {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...ARGS, `--use-fake-device-for-media-stream=device-count=${count}`] });
}

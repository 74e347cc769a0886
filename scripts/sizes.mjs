// What the client ships (client-wasm/pkg, made by scripts/package-client.sh), raw and
// gzipped (level 9): each wasm module, and the JavaScript (the API, the crypto worker and
// the two wasm-bindgen glues). `node scripts/sizes.mjs` prints the figures; `--check` fails
// (exit 1) when one is over its limit. bench/run.mjs puts the same figures in BENCHMARKS.md.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const KB = 1024;

// Issue 12's budgets: all the wasm within 150 KB gzipped, the JavaScript within 30 KB, the
// page's module (the call core) "tens of KB". Only the JavaScript one holds: the crypto
// Worker's module alone was 138 KB before issue 12, and the call core, with the wire
// protocol's strict parsing, is three times "tens of KB" (see BENCHMARKS.md, section 5).
export const BUDGETS = { wasmTotalGzip: 150 * KB, jsGzip: 30 * KB, callWasmGzip: 99 * KB };

// What `make test` enforces meanwhile: the JavaScript budget, and for each wasm module a
// ceiling a little above its size when issue 12 landed (so that growth fails the build and
// a decision is needed to raise it). Lower these as the modules shrink; never raise one
// without saying why in BENCHMARKS.md.
// Raised once, for protocol v2 (issues 13 and 14): sealed envelopes and identities, the
// commit-then-reveal safety rounds and the verified state grew the call core from 124 to
// 137.5 KB and the crypto module from 164 to 189 KB gzipped (measured in CI on 59bce1d).
// The shrinking work (a hand-written wire codec in the call core, WebCrypto AES in the
// crypto module) lowers them again.
// Lowered: the call core's wire messages, crypto results and options are read by a
// hand-written codec (protocol/src/codec.rs, json.rs), not serde_json and serde's buffering
// of internally tagged enums: 137.5 -> 109.4 KB gzipped; that deserializer monomorphising
// only what each type reads, and opt-level "z" for sotto-call and sotto-call-wasm: 89.1 KB;
// base64url written out (protocol/src/b64.rs) instead of the base64 crate's engine: 85.5 KB;
// actions, participants and stats written by protocol/src/json.rs (no serde_json): 80.5 KB.
// The crypto module: SFrame written in sotto-e2ee over an AEAD provider seam (no `sframe`
// crate at opt-level 3), sotto-e2ee at opt-level "s": 189.3 -> 147.1 KB gzipped; the crypto
// Worker's requests and results read and written by protocol's small JSON code, not
// serde_json: 122.2 KB.
export const LIMITS = { jsGzip: 30 * KB, callWasmGzip: 81 * KB, cryptoWasmGzip: 123 * KB };

// The call widget (issue 15: the <sotto-call> element and the iframe controller), measured
// apart from the client's JavaScript above, with its own budget (enforced by --check).
export const WIDGET_FILES = ['sotto-call-element.js', 'sotto-call-frame.js'];
export const WIDGET_LIMIT_GZIP = 15 * KB;

// The contacts module (issue 16: identity, contact links, presence, ringing), its own wasm and
// JavaScript, loaded only by pages that use contacts: measured apart, with its own ceiling
// (a little above its size: 78.9 KB wasm + 9.9 KB JavaScript = 88.8 KB gzipped when it landed;
// 82.9 + 10.6 = 93.6 KB with the sealed missed-call notices, which link HPKE's single-shot
// AuthPSK mode).
export const CONTACTS_FILES = ['sotto-contacts.js', 'sotto_contacts_wasm.js'];
export const CONTACTS_LIMIT_GZIP = 100 * KB;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function measure(file) {
  const bytes = readFileSync(file);
  return { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

/** Raw and gzipped sizes of the package in `pkg` (default: client-wasm/pkg). */
export function clientSizes(pkg = path.join(root, 'client-wasm/pkg')) {
  const callWasm = measure(path.join(pkg, 'sotto_call_wasm_bg.wasm'));
  const cryptoWasm = measure(path.join(pkg, 'sotto_client_wasm_bg.wasm'));
  const jsFiles = Object.fromEntries(readdirSync(pkg).filter((f) => f.endsWith('.js') && !WIDGET_FILES.includes(f) && !CONTACTS_FILES.includes(f)).sort().map((f) => [f, measure(path.join(pkg, f))]));
  const widgetFiles = Object.fromEntries(WIDGET_FILES.filter((f) => existsSync(path.join(pkg, f))).map((f) => [f, measure(path.join(pkg, f))]));
  const sum = (list, key) => list.reduce((n, x) => n + x[key], 0);
  const js = Object.values(jsFiles);
  const widget = Object.values(widgetFiles);
  const contactsParts = [...CONTACTS_FILES, 'sotto_contacts_wasm_bg.wasm'].filter((f) => existsSync(path.join(pkg, f))).map((f) => [f, measure(path.join(pkg, f))]);
  const contacts = { raw: sum(contactsParts.map(([, m]) => m), 'raw'), gzip: sum(contactsParts.map(([, m]) => m), 'gzip'), files: Object.fromEntries(contactsParts) };
  return {
    contacts,
    callWasm,
    cryptoWasm,
    wasmTotal: { raw: callWasm.raw + cryptoWasm.raw, gzip: callWasm.gzip + cryptoWasm.gzip },
    js: { raw: sum(js, 'raw'), gzip: sum(js, 'gzip'), files: jsFiles },
    widget: { raw: sum(widget, 'raw'), gzip: sum(widget, 'gzip'), files: widgetFiles },
  };
}

/** The limits `sizes` is over, as sentences (empty: none). */
export function overLimits(sizes) {
  const over = [];
  const check = (what, value, limit) => { if (value > limit) over.push(`${what} is ${kb(value)} gzipped, over its limit of ${kb(limit)}`); };
  check('the JavaScript', sizes.js.gzip, LIMITS.jsGzip);
  check('the call core wasm (page)', sizes.callWasm.gzip, LIMITS.callWasmGzip);
  check('the crypto wasm (worker)', sizes.cryptoWasm.gzip, LIMITS.cryptoWasmGzip);
  if (sizes.widget) check('the call widget JavaScript', sizes.widget.gzip, WIDGET_LIMIT_GZIP);
  if (sizes.contacts) check('the contacts module (wasm and JavaScript)', sizes.contacts.gzip, CONTACTS_LIMIT_GZIP);
  return over;
}

export const kb = (bytes) => `${(bytes / KB).toFixed(1)} KB`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = clientSizes();
  const line = (what, s, note = '') => console.log(`${what.padEnd(36)} ${kb(s.raw).padStart(9)} raw ${kb(s.gzip).padStart(9)} gz ${note}`);
  const budget = (value, limit) => `(budget ${kb(limit)}: ${value <= limit ? 'met' : 'MISSED'})`;
  line('call core wasm (page)', sizes.callWasm, budget(sizes.callWasm.gzip, BUDGETS.callWasmGzip));
  line('crypto wasm (worker)', sizes.cryptoWasm);
  line('wasm, both modules', sizes.wasmTotal, budget(sizes.wasmTotal.gzip, BUDGETS.wasmTotalGzip));
  for (const [file, s] of Object.entries(sizes.js.files)) line(`  ${file}`, s);
  line('JavaScript, all files', sizes.js, budget(sizes.js.gzip, BUDGETS.jsGzip));
  for (const [file, s] of Object.entries(sizes.widget.files)) line(`  ${file}`, s);
  line('call widget JavaScript', sizes.widget, budget(sizes.widget.gzip, WIDGET_LIMIT_GZIP));
  for (const [file, s] of Object.entries(sizes.contacts.files)) line(`  ${file}`, s);
  line('contacts module (own wasm + JS)', sizes.contacts, `(ceiling ${kb(CONTACTS_LIMIT_GZIP)})`);
  if (process.argv.includes('--check')) {
    const over = overLimits(sizes);
    for (const sentence of over) console.error(`sizes: ${sentence}`);
    if (over.length) process.exit(1);
    console.log(`sizes: within the limits make test enforces (JavaScript ${kb(LIMITS.jsGzip)}, call core ${kb(LIMITS.callWasmGzip)}, crypto ${kb(LIMITS.cryptoWasmGzip)}, call widget ${kb(WIDGET_LIMIT_GZIP)}, gzipped)`);
  }
}

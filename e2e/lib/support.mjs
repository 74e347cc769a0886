// What the browser e2e tests showed, for the README's browser-support table: each test records
// the calls it made (browsers and versions, the frame-transform API each side used, the codecs
// that decoded both ways) in target/browser-support/<name>.json; scripts/browser-support.mjs
// renders the table from these files.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SUPPORT_DIR = path.join(root, 'target/browser-support');

/** Collects results; `write()` puts them in target/browser-support/<name>.json. */
export function supportRecorder(name) {
  const record = { source: `e2e/${name}.test.mjs`, date: new Date().toISOString(), browsers: {}, calls: [] };
  return {
    browser(name, info) { record.browsers[name] = { ...record.browsers[name], ...info }; },
    call(entry) { record.calls.push(entry); },
    get calls() { return record.calls; },
    write() {
      mkdirSync(SUPPORT_DIR, { recursive: true });
      const file = path.join(SUPPORT_DIR, `${name}.json`);
      writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
      return file;
    },
  };
}

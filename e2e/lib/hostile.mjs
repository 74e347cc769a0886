// Hostile signaling a misbehaving client (or a fuzzer) sends into a room. Each entry is what
// goes on the wire; the worker must answer each with an error or a close, and the call in
// the room must not notice.
const big = 'x'.repeat(70_000);
const nested = '['.repeat(5000) + ']'.repeat(5000);

export const hostileFrames = [
  'not json',
  '',
  '{}',
  '[]',
  'null',
  '42',
  '{"v":2}',
  '{"type":"join"}',
  '{"v":1,"type":"ping"}',
  '{"v":"1","type":"ping"}',
  '{"v":2,"type":"teleport"}',
  '{"v":2,"type":"ping","extra":true}',
  '{"v":2,"type":"signal","to":"nobody","payload":"hi"}',
  '{"v":2,"type":"signal","to":"","payload":"hi"}',
  '{"v":2,"type":"signal","to":"../../etc","payload":"hi"}',
  '{"v":2,"type":"signal","to":123,"payload":"hi"}',
  '{"v":2,"type":"signal","to":"abc","payload":{"nested":true}}',
  '{"v":2,"type":"signal","to":"abc","from":"spoofed","payload":"hi"}',
  `{"v":2,"type":"signal","to":"abc","payload":"${'y'.repeat(61_000)}"}`,
  `{"v":2,"type":"join","peer":"${'p'.repeat(100)}","identity":"AAAA"}`,
  '{"v":2,"type":"join","peer":"has space","identity":"AAAA"}',
  '{"v":2,"type":"join","peer":"ok","identity":123}',
  `{"v":2,"type":"join","peer":"ok2","identity":"${'i'.repeat(300)}"}`,
  '{"v":2,"type":"welcome","you":"x","peers":[],"max_peers":8}',
  '{"v":2,"type":"peer-left","peer":"x"}',
  '{"v":2,"type":"announce","channels":["a"]}',
  '{"v":2,"type":"ping","v":2}',
  '\u0000\u0001\u0002',
  '{"v":2,"type":"signal","to":"\u202e","payload":"hi"}',
  nested,
  big,
];

/** Binary frames (not UTF-8 text) the worker must refuse too. */
export const hostileBinary = [new Uint8Array([0xff, 0xfe, 0x00, 0x80]), new Uint8Array(1024).fill(0xc3)];

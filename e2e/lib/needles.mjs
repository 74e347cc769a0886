// Text forms a secret could take inside a JSON message.

/** Hex (both cases), base64 and base64url (with and without padding) of `bytes`. */
export function encodings(bytes) {
  const hex = bytes.toString('hex');
  const b64 = bytes.toString('base64');
  return [...new Set([hex, hex.toUpperCase(), b64, b64.replace(/=+$/, ''), bytes.toString('base64url')])];
}

/** The first needle found in any haystack, as `{needle, haystack}`, or null. */
export function findAny(haystacks, needles) {
  for (const haystack of haystacks) {
    for (const needle of needles) {
      if (needle.length >= 16 && haystack.includes(needle)) return { needle, haystack: haystack.slice(0, 200) };
    }
  }
  return null;
}

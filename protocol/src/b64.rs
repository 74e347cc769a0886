//! Unpadded base64url (RFC 4648 §5), as `base64`'s `URL_SAFE_NO_PAD` engine reads and writes
//! it: no `=`, no other alphabet, a length that is not 1 mod 4, and unused trailing bits zero
//! (one encoding per byte string). Written out because that crate's fast generic engine was
//! ~5 KB of the page's wasm module for a few dozen bytes per message; the tests below compare
//! the two on arbitrary bytes and text.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `bytes` as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// The bytes of unpadded base64url `text`, or `None` if it is not exactly that.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1; // 4 -> 3, 3 -> 2, 2 -> 1
                                     // the bits past the last whole byte must be zero
        if n & (0x00FF_FFFF >> (8 * bytes)) != 0 {
            return None;
        }
        #[allow(clippy::cast_possible_truncation)] // one byte each, shifted down
        out.extend((0..bytes).map(|i| (n >> (16 - 8 * i)) as u8));
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn encodes_as_the_base64_crate(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(encode(&bytes), URL_SAFE_NO_PAD.encode(&bytes));
            prop_assert_eq!(decode(&encode(&bytes)), Some(bytes));
        }

        #[test]
        fn decodes_as_the_base64_crate(text in "[A-Za-z0-9_=+/ -]{0,14}") {
            prop_assert_eq!(decode(&text), URL_SAFE_NO_PAD.decode(text.as_bytes()).ok(), "{:?}", text);
        }

        #[test]
        fn decodes_any_text_as_the_base64_crate(text in any::<String>()) {
            prop_assert_eq!(decode(&text), URL_SAFE_NO_PAD.decode(text.as_bytes()).ok());
        }
    }

    #[test]
    fn edges() {
        for text in [
            "", "A", "AA", "AB", "AAA", "AAB", "AAAA", "AQID", "AQI=", "AQ==", "_-_-", "+/+/",
        ] {
            assert_eq!(decode(text), URL_SAFE_NO_PAD.decode(text).ok(), "{text}");
        }
    }
}

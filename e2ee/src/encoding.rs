//! base64url (RFC 4648 §5, no padding) and length-prefixed byte strings, used by several modules.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::E2eeError;

/// Encodes bytes as base64url without padding.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes exactly `N` bytes of base64url without padding (canonical encodings only).
pub(crate) fn b64url_exact<const N: usize>(text: &str) -> Result<[u8; N], E2eeError> {
    // 4 chars carry 3 bytes; reject anything longer early so we never allocate for junk.
    if text.len() != (N * 4).div_ceil(3) {
        return Err(E2eeError::BadEncoding);
    }
    let decoded = zeroize::Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| E2eeError::BadEncoding)?,
    );
    let mut out = [0u8; N];
    if decoded.len() != N {
        return Err(E2eeError::BadEncoding);
    }
    out.copy_from_slice(&decoded);
    Ok(out)
}

/// Decodes base64url without padding (canonical encodings only) of at most `max_chars`
/// characters; longer text is refused before anything is decoded.
pub(crate) fn b64url_decode(text: &str, max_chars: usize) -> Result<Vec<u8>, E2eeError> {
    if text.len() > max_chars {
        return Err(E2eeError::BadEncoding);
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| E2eeError::BadEncoding)
}

/// Appends `bytes` with a 2-byte big-endian length prefix. Callers bound lengths
/// (peer ids to [`crate::MAX_PEER_ID_LEN`]), so the length always fits.
pub(crate) fn put_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

/// Validates a peer id (non-empty, at most [`crate::MAX_PEER_ID_LEN`] bytes).
pub(crate) fn check_peer_id(peer: &str) -> Result<(), E2eeError> {
    if peer.is_empty() || peer.len() > crate::MAX_PEER_ID_LEN {
        Err(E2eeError::BadPeerId)
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    #[test]
    fn exact_decoding_rejects_wrong_lengths_and_non_canonical() {
        let enc = b64url(&[7u8; 32]);
        assert_eq!(enc.len(), 43);
        assert_eq!(b64url_exact::<32>(&enc), Ok([7u8; 32]));
        assert!(b64url_exact::<32>(&enc[..42]).is_err());
        assert!(b64url_exact::<16>(&enc).is_err());
        assert!(b64url_exact::<32>(&format!("{enc}=")).is_err());
        // last char with non-zero trailing bits is non-canonical
        let mut bad = enc.clone();
        bad.pop();
        bad.push('/');
        assert!(b64url_exact::<32>(&bad).is_err());
    }

    #[test]
    fn bounded_decoding_refuses_long_padded_and_non_canonical_text() {
        let enc = b64url(&[7u8; 61]);
        assert_eq!(enc.len(), 82);
        assert_eq!(b64url_decode(&enc, 82), Ok(vec![7u8; 61]));
        assert_eq!(b64url_decode(&enc, 81), Err(E2eeError::BadEncoding));
        assert_eq!(b64url_decode("", 10), Ok(vec![]));
        assert!(b64url_decode("AA==", 10).is_err());
        assert!(b64url_decode("AB", 10).is_err()); // trailing bits set
        assert!(b64url_decode("A+", 10).is_err());
    }
}

//! base64url (no padding), length prefixes, HKDF helpers.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use sha2::Sha256;

use crate::ContactsError;

pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Exactly `N` bytes of canonical base64url; the length is checked before decoding.
pub(crate) fn b64url_exact<const N: usize>(text: &str) -> Result<[u8; N], ContactsError> {
    if text.len() != (N * 4).div_ceil(3) {
        return Err(ContactsError::BadEncoding);
    }
    let decoded = zeroize::Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| ContactsError::BadEncoding)?,
    );
    <[u8; N]>::try_from(decoded.as_slice()).map_err(|_| ContactsError::BadEncoding)
}

/// Appends `bytes` with a 1-byte length prefix; callers bound lengths to 255.
pub(crate) fn put_lp8(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
    out.push(len);
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

/// `HKDF-Expand(HKDF-Extract(salt, ikm), info, N)`.
pub(crate) fn hkdf<const N: usize>(
    salt: &[u8],
    ikm: &[u8],
    info: &[&[u8]],
) -> Result<[u8; N], ContactsError> {
    let mut out = [0u8; N];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand_multi_info(info, &mut out)
        .map_err(|_| ContactsError::Internal)?;
    Ok(out)
}

/// A cursor over untrusted bytes: every read is bounds-checked and fails with `err`.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    err: ContactsError,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], err: ContactsError) -> Self {
        Self { bytes, err }
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ContactsError> {
        if self.bytes.len() < n {
            return Err(self.err);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ContactsError> {
        let s = self.take(N)?;
        <[u8; N]>::try_from(s).map_err(|_| self.err)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, ContactsError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, ContactsError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, ContactsError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, ContactsError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub(crate) fn lp8(&mut self) -> Result<&'a [u8], ContactsError> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
    /// Fails unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), ContactsError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(self.err)
        }
    }
}

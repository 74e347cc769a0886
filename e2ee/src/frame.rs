//! Media frame protection with SFrame (RFC 9605), cipher suite `AES_128_GCM_SHA256_128`.
//!
//! Output layout for Opus, VP8 and the whole-frame codecs:
//!
//! ```text
//!  +----------------------+--------------+----------------------------+-----------+
//!  | clear prefix         | SFrame header| ciphertext                 | tag       |
//!  | (codec bytes, kept   | config byte  | AES-128-GCM(payload after  | 16 bytes  |
//!  |  as they were; AAD)  | [+ CTR bytes]|  the prefix)               |           |
//!  +----------------------+--------------+----------------------------+-----------+
//!  |<---- metadata ------>|<----------------- SFrame ciphertext ------------------>|
//!
//!  SFrame header (RFC 9605 §4.3), config byte  X KKK Y CCC:
//!     X = 0, KKK = KID = sender epoch mod 8;
//!     CTR < 8: Y = 0, CCC = CTR            -> header 1 byte
//!     else:    Y = 1, CCC = CLEN - 1, CTR  -> header 1 + CLEN bytes (minimal big-endian)
//! ```
//! RFC 9605 §4.4.3: "the AAD is the concatenation of the SFrame header and the metadata", so the
//! clear prefix cannot be changed without failing the tag. Per-frame overhead = header + 16:
//! 17..20 bytes for the first 2^24 frames of a key (CTR fits in 3 bytes).
//!
//! H.264 uses a NAL-aware layout, see [`crate::h264`], and AV1 an OBU-aware one, see [`crate::av1`]. Frames too short for their clear prefix
//! are encrypted whole (see [`crate::codec`]).
//!
//! The counter starts at 0 for each sender key and strictly increases; the receiver drops
//! duplicated or too old counters ([`crate::replay`]). Frames (plain or protected) longer than
//! [`MAX_FRAME_LEN`] are refused.

use sframe::frame::{EncryptedFrameView, MediaFrameView, SingleUseCounter};
use sframe::header::SframeHeader;
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::CipherSuite;

use crate::codec::Codec;
use crate::replay::{ReplayVerdict, ReplayWindow};
use crate::sender_key::SenderKey;
use crate::{av1, h264, E2eeError};

/// The SFrame cipher suite used for media.
pub const CIPHER_SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
/// AEAD tag length of [`CIPHER_SUITE`].
pub const TAG_LEN: usize = 16;
/// Largest frame accepted, before encryption and after (1 MiB).
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// Largest SFrame counter used with one key. A new epoch (key) starts at 0 again.
pub const MAX_COUNTER: u64 = (1 << 48) - 1;
/// Number of distinct KIDs: the KID is the sender epoch mod 8 and fits the config byte.
pub const KID_SPACE: u64 = 8;

/// The KID of a sender epoch.
pub fn kid_for_epoch(epoch: u64) -> u64 {
    epoch % KID_SPACE
}

/// Parses an SFrame header strictly: canonical (minimal) encoding, KID in the config byte,
/// room for a tag after it.
pub fn parse_header(sframe: &[u8]) -> Result<SframeHeader, E2eeError> {
    let header = SframeHeader::deserialize(sframe).map_err(|_| E2eeError::MalformedFrame)?;
    let len = header.len();
    if header.key_id() >= KID_SPACE || sframe.len() < len + TAG_LEN {
        return Err(E2eeError::MalformedFrame);
    }
    // re-encode and compare: refuses non-minimal encodings of the same values
    let canonical = SframeHeader::new(header.key_id(), header.counter());
    if canonical.len() != len || Vec::from(&canonical).as_slice() != &sframe[..len] {
        return Err(E2eeError::MalformedFrame);
    }
    Ok(header)
}

/// What a codec layout's `seal(meta, payload)` returned (`meta || hdr || ct || tag`), split.
pub(crate) struct SealedParts<'a> {
    pub(crate) hdr: &'a [u8],
    pub(crate) ct: &'a [u8],
    pub(crate) tag: &'a [u8],
}

/// Splits a layout's sealed output after its `meta_len` bytes of metadata.
pub(crate) fn split_sealed(sealed: &[u8], meta_len: usize) -> Result<SealedParts<'_>, E2eeError> {
    let sf = sealed.get(meta_len..).ok_or(E2eeError::Internal)?;
    let hdr_len = parse_header(sf)?.len();
    let (hdr, rest) = sf.split_at(hdr_len);
    let ct_len = rest.len().checked_sub(TAG_LEN).ok_or(E2eeError::Internal)?;
    let (ct, tag) = rest.split_at(ct_len);
    Ok(SealedParts { hdr, ct, tag })
}

/// Appends a length as 4 big-endian bytes (the codec layouts' metadata encoding).
pub(crate) fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

/// What a codec-aware layout reads out of a received frame: the metadata the AEAD
/// authenticates and the SFrame ciphertext (`hdr || ct || tag`) it opens.
pub(crate) struct ReceivedParts {
    pub(crate) meta: Vec<u8>,
    pub(crate) sframe: Vec<u8>,
}

/// Gathers [`ReceivedParts`] part by part (the receive-side mirror of what `seal` wrote): the
/// carrier is the protected segment holding the SFrame header and tag.
pub(crate) struct PartsReader<'c> {
    carrier: &'c [u8],
    hdr_len: usize,
    parts: ReceivedParts,
}

impl<'c> PartsReader<'c> {
    /// Starts at the carrier; `None` if it does not begin with a valid SFrame header.
    pub(crate) fn new(carrier: &'c [u8], capacity: usize) -> Option<Self> {
        let hdr_len = parse_header(carrier).ok()?.len();
        let mut sframe = Vec::with_capacity(capacity);
        sframe.extend_from_slice(&carrier[..hdr_len]);
        Some(Self {
            carrier,
            hdr_len,
            parts: ReceivedParts {
                meta: Vec::new(),
                sframe,
            },
        })
    }

    /// The carrier's own ciphertext segment, between its header and its tag.
    pub(crate) fn carrier_ciphertext(&self) -> &'c [u8] {
        // parse_header checked that a tag fits after the header
        let end = self.carrier.len().saturating_sub(TAG_LEN).max(self.hdr_len);
        &self.carrier[self.hdr_len..end]
    }

    /// One part of the frame: its clear bytes (authenticated) and its ciphertext segment.
    pub(crate) fn part(&mut self, clear: &[u8], segment: &[u8]) {
        put_u32(&mut self.parts.meta, clear.len());
        self.parts.meta.extend_from_slice(clear);
        put_u32(&mut self.parts.meta, segment.len());
        self.parts.sframe.extend_from_slice(segment);
    }

    /// Appends the carrier's tag.
    pub(crate) fn finish(mut self) -> ReceivedParts {
        let tag_at = self.carrier.len().saturating_sub(TAG_LEN);
        self.parts.sframe.extend_from_slice(&self.carrier[tag_at..]);
        self.parts
    }
}

/// Reads a decrypted plaintext back segment by segment, to rebuild a codec-aware frame.
pub(crate) struct Segments<'p> {
    plain: &'p [u8],
    offset: usize,
}

impl<'p> Segments<'p> {
    pub(crate) fn new(plain: &'p [u8]) -> Self {
        Self { plain, offset: 0 }
    }

    /// The next `len` bytes.
    pub(crate) fn take(&mut self, len: usize) -> Result<&'p [u8], E2eeError> {
        let end = self
            .offset
            .checked_add(len)
            .ok_or(E2eeError::MalformedFrame)?;
        let seg = self
            .plain
            .get(self.offset..end)
            .ok_or(E2eeError::MalformedFrame)?;
        self.offset = end;
        Ok(seg)
    }

    /// Every byte was taken.
    pub(crate) fn finish(self) -> Result<(), E2eeError> {
        if self.offset == self.plain.len() {
            Ok(())
        } else {
            Err(E2eeError::MalformedFrame)
        }
    }
}

/// Encrypts frames with one sender key (one epoch).
pub struct FrameSender {
    key: EncryptionKey,
    epoch: u64,
    next_counter: u64,
}

impl FrameSender {
    /// A sender for `base` at `epoch`; its counter starts at 0.
    pub fn new(base: &SenderKey, epoch: u64) -> Result<Self, E2eeError> {
        let key = EncryptionKey::derive_from(CIPHER_SUITE, kid_for_epoch(epoch), base.as_bytes())
            .map_err(|_| E2eeError::Internal)?;
        Ok(Self {
            key,
            epoch,
            next_counter: 0,
        })
    }

    /// The epoch of this sender's key.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The counter the next frame will use.
    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }

    /// Test hook: jump the counter (to measure header growth). Counters only move forward.
    #[cfg(feature = "testing")]
    pub fn skip_to_counter(&mut self, counter: u64) {
        self.next_counter = self.next_counter.max(counter);
    }

    /// Encrypts one encoded frame.
    pub fn encrypt(&mut self, codec: Codec, frame: &[u8]) -> Result<Vec<u8>, E2eeError> {
        if frame.len() > MAX_FRAME_LEN {
            return Err(E2eeError::FrameTooLarge);
        }
        let out = if codec == Codec::H264 {
            match h264::protect(frame, |meta, payload| self.seal(meta, payload))? {
                Some(out) => out,
                None => self.seal(&[], frame)?,
            }
        } else if codec == Codec::Av1 {
            match av1::protect(frame, |meta, payload| self.seal(meta, payload))? {
                Some(out) => out,
                None => self.seal(&[], frame)?,
            }
        } else {
            let n = codec.clear_prefix_len(frame).unwrap_or(0);
            let (clear, payload) = frame.split_at(n);
            self.seal(clear, payload)?
        };
        if out.len() > MAX_FRAME_LEN {
            return Err(E2eeError::FrameTooLarge);
        }
        Ok(out)
    }

    /// SFrame-encrypts `payload` with `meta` as metadata; returns `meta || header || ct || tag`.
    fn seal(&mut self, meta: &[u8], payload: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let ctr = self.next_counter;
        if ctr > MAX_COUNTER {
            return Err(E2eeError::CounterExhausted);
        }
        let mut counter = SingleUseCounter::new(ctr);
        let view = MediaFrameView::try_with_meta_data(&mut counter, payload, meta)
            .map_err(|_| E2eeError::Internal)?;
        let mut buffer = Vec::new();
        view.encrypt_into(&self.key, &mut buffer)
            .map_err(|_| E2eeError::Internal)?;
        self.next_counter = ctr + 1;
        Ok(buffer)
    }
}

impl core::fmt::Debug for FrameSender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameSender")
            .field("epoch", &self.epoch)
            .field("next_counter", &self.next_counter)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A counter already accepted and fewer than this many counters below the highest accepted one
/// was sent moments ago (32 counters: ~400 ms of one sender's audio and video in a two-party
/// call, ~55 ms in an eight-party one). An *authentic* copy of such a frame is counted as a
/// duplicate delivery ([`E2eeError::DuplicateFrame`]), not a replay: Firefox delivers some
/// frames several times in a row on loopback. Older copies, and copies that do not
/// authenticate, stay replays and authentication failures. Either way the copy is dropped.
pub const DUPLICATE_SPAN: u64 = 32;

/// Decrypts frames of one sender key (one epoch), with its own replay window.
pub struct FrameReceiver {
    key: DecryptionKey,
    epoch: u64,
    replay: ReplayWindow,
}

impl FrameReceiver {
    /// A receiver for `base` at `epoch`.
    pub fn new(base: &SenderKey, epoch: u64) -> Result<Self, E2eeError> {
        let key = DecryptionKey::derive_from(CIPHER_SUITE, kid_for_epoch(epoch), base.as_bytes())
            .map_err(|_| E2eeError::Internal)?;
        Ok(Self {
            key,
            epoch,
            replay: ReplayWindow::new(),
        })
    }

    /// The epoch of this receiver's key.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Decrypts one protected frame with this key only.
    pub fn decrypt(&mut self, codec: Codec, frame: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let kid = kid_for_epoch(self.epoch);
        decrypt_with(codec, frame, |header, meta, sframe| {
            if header.key_id() == kid {
                self.open(header, meta, sframe)
            } else {
                Err(E2eeError::UnknownKey)
            }
        })
    }

    /// Checks replay, authenticates and decrypts `header || ct || tag` with `meta` as metadata.
    pub(crate) fn open(
        &mut self,
        header: &SframeHeader,
        meta: &[u8],
        sframe: &[u8],
    ) -> Result<Vec<u8>, E2eeError> {
        let ctr = header.counter();
        match self.replay.check(ctr) {
            Ok(()) => {}
            Err(ReplayVerdict::Duplicate)
                if self.replay.age(ctr).is_some_and(|age| age < DUPLICATE_SPAN) =>
            {
                // A copy of a frame accepted moments ago: a duplicate only if it is authentic
                // (its plaintext is wiped at once; the window does not move).
                drop(zeroize::Zeroizing::new(self.authenticate(meta, sframe)?));
                return Err(E2eeError::DuplicateFrame);
            }
            Err(ReplayVerdict::Duplicate | ReplayVerdict::TooOld) => {
                return Err(E2eeError::ReplayedFrame)
            }
        }
        let plain = self.authenticate(meta, sframe)?;
        self.replay.record(ctr);
        Ok(plain)
    }

    /// Authenticates and decrypts, without looking at or moving the replay window.
    fn authenticate(&self, meta: &[u8], sframe: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let view = EncryptedFrameView::try_with_meta_data(sframe, meta)
            .map_err(|_| E2eeError::MalformedFrame)?;
        let mut buffer = zeroize::Zeroizing::new(Vec::new());
        let plain = view
            .decrypt_into(&self.key, &mut *buffer)
            .map_err(|e| match e {
                sframe::error::SframeError::MissingDecryptionKey { .. } => E2eeError::UnknownKey,
                sframe::error::SframeError::InvalidBuffer(_) => E2eeError::MalformedFrame,
                _ => E2eeError::AuthenticationFailed,
            })?
            .payload()
            .to_vec();
        Ok(plain)
    }
}

impl core::fmt::Debug for FrameReceiver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameReceiver")
            .field("epoch", &self.epoch)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// One way to read a received frame: where the metadata and the SFrame ciphertext are, and how
/// to put the plaintext back.
enum Layout<'a> {
    /// `clear || sframe`; output `clear || plaintext`.
    Prefix { clear: &'a [u8], sframe: &'a [u8] },
    /// NAL-aware H.264.
    H264(h264::Received<'a>),
    /// OBU-aware AV1.
    Av1(av1::Received<'a>),
}

impl Layout<'_> {
    fn meta(&self) -> &[u8] {
        match self {
            Layout::Prefix { clear, .. } => clear,
            Layout::H264(r) => &r.parts.meta,
            Layout::Av1(r) => &r.parts.meta,
        }
    }

    fn sframe(&self) -> &[u8] {
        match self {
            Layout::Prefix { sframe, .. } => sframe,
            Layout::H264(r) => &r.parts.sframe,
            Layout::Av1(r) => &r.parts.sframe,
        }
    }

    fn rebuild(&self, plain: &[u8]) -> Result<Vec<u8>, E2eeError> {
        match self {
            Layout::Prefix { clear, .. } => {
                let mut out = Vec::with_capacity(clear.len() + plain.len());
                out.extend_from_slice(clear);
                out.extend_from_slice(plain);
                Ok(out)
            }
            Layout::H264(r) => r.rebuild(plain),
            Layout::Av1(r) => r.rebuild(plain),
        }
    }
}

/// The layouts to try for a received frame, best first: the codec's own, then whole-frame.
fn layouts(codec: Codec, frame: &[u8]) -> Vec<Layout<'_>> {
    let mut out = Vec::with_capacity(2);
    match codec {
        Codec::H264 => {
            if let Some(r) = h264::Received::parse(frame) {
                out.push(Layout::H264(r));
            }
        }
        Codec::Av1 => {
            if let Some(r) = av1::Received::parse(frame) {
                out.push(Layout::Av1(r));
            }
        }
        _ => {
            if let Some(n) = codec.clear_prefix_len(frame) {
                if n > 0 && frame.len() >= n + 1 + TAG_LEN {
                    let (clear, sframe) = frame.split_at(n);
                    out.push(Layout::Prefix { clear, sframe });
                }
            }
        }
    }
    out.push(Layout::Prefix {
        clear: &[],
        sframe: frame,
    });
    out
}

/// Decrypts a protected frame; `open(header, metadata, sframe)` picks the receive key by the
/// header's KID and calls [`FrameReceiver::open`].
///
/// Tries the codec's layout, then the whole-frame layout (see [`crate::codec`]); returns the
/// first success, or the most telling error (the codec layout's unless it did not even parse).
pub(crate) fn decrypt_with(
    codec: Codec,
    frame: &[u8],
    mut open: impl FnMut(&SframeHeader, &[u8], &[u8]) -> Result<Vec<u8>, E2eeError>,
) -> Result<Vec<u8>, E2eeError> {
    if frame.len() > MAX_FRAME_LEN {
        return Err(E2eeError::FrameTooLarge);
    }
    let mut first_err: Option<E2eeError> = None;
    for layout in layouts(codec, frame) {
        let attempt = parse_header(layout.sframe()).and_then(|header| {
            let plain = zeroize::Zeroizing::new(open(&header, layout.meta(), layout.sframe())?);
            layout.rebuild(&plain)
        });
        match attempt {
            Ok(out) => return Ok(out),
            Err(e) => match &first_err {
                None => first_err = Some(e),
                Some(E2eeError::MalformedFrame) => first_err = Some(e),
                Some(_) => {}
            },
        }
    }
    Err(first_err.unwrap_or(E2eeError::MalformedFrame))
}

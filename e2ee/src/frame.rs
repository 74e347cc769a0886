//! Media frame protection with SFrame (RFC 9605, [`crate::sframe`]): one sender key, two
//! SFrame contexts, one per media kind.
//!
//! Output layout for Opus, VP8 and the whole-frame codecs:
//!
//! ```text
//!  +----------------------+--------------+----------------------------+-----------+
//!  | clear prefix         | SFrame header| ciphertext                 | tag       |
//!  | (codec bytes, kept   | config byte  | AEAD(payload after         | 4 bytes   |
//!  |  as they were; AAD)  | [+ CTR bytes]|  the prefix)               | audio, 16 |
//!  |                      |              |                            | video     |
//!  +----------------------+--------------+----------------------------+-----------+
//!  |<---- metadata ------>|<----------------- SFrame ciphertext ------------------>|
//!
//!  SFrame header (RFC 9605 §4.3), config byte  X KKK Y CCC:
//!     X = 0, KKK = KID = sender epoch mod 8;
//!     CTR < 8: Y = 0, CCC = CTR            -> header 1 byte
//!     else:    Y = 1, CCC = CLEN - 1, CTR  -> header 1 + CLEN bytes (minimal big-endian)
//! ```
//! RFC 9605 §4.4.3: "the AAD is the concatenation of the SFrame header and the metadata", so the
//! clear prefix cannot be changed without failing the tag.
//!
//! **Two contexts per sender key.** Audio and video each have their own SFrame base key, cipher
//! suite and counter:
//!
//! ```text
//! frame base key(kind) = HKDF-Expand(HKDF-Extract("", sender key),
//!                                    "sotto/v2 audio frames" | "sotto/v2 video frames", 16)
//! ```
//! and RFC 9605's key schedule from there, with the KID and the suite the sender announced in
//! its key message ([`FrameSuites`]: audio `AES_128_CTR_HMAC_SHA256_64` and video
//! `AES_128_GCM_SHA256_128` by default; video is always AES-GCM, and no receiver accepts the
//! 32-bit tag). Separate base keys make the two nonce sequences independent whatever the suites
//! (the same suite on both kinds would otherwise derive the same key for both counters).
//! Per-frame overhead = header + tag. The KID (epoch mod 8) always fits the config byte, so the
//! header is 1 byte plus the counter's minimal big-endian bytes once it reaches 8: audio
//! (8-byte tag, 50 frames/s) is 9 bytes for the first 8 frames, 10 up to frame 255 (5 s),
//! 11 up to 65,535 (21.8 min), 12 up to 2^24 (93 h); video (16-byte tag) 17-20 bytes for the
//! first 2^24 frames (see `KEY-SCHEDULE.md` §5).
//!
//! H.264 uses a NAL-aware layout, see [`crate::h264`], and AV1 an OBU-aware one, see
//! [`crate::av1`]. Frames too short for their clear prefix are encrypted whole (see
//! [`crate::codec`]).
//!
//! The counter of each context starts at 0 and strictly increases; the receiver drops
//! duplicated or too old counters ([`crate::replay`]). Frames (plain or protected) longer than
//! [`MAX_FRAME_LEN`] are refused. A receive context with a short tag (below 16 bytes) accepts at
//! most [`MAX_SHORT_TAG_FAILURES`] failed authentications; after that it refuses every frame
//! (forgery budget, see `KEY-SCHEDULE.md` §5).
//!
//! **Providers.** The AEAD is a provider ([`crate::aead`]): [`FrameSender::encrypt_into`] and
//! the receive side run [`SoftAead`] (RustCrypto) in place. For the platform's AES-GCM
//! (WebCrypto in the browser, asynchronous), [`FrameSender::begin_seal`] and
//! [`FrameReceiver::begin_open`] / [`FrameReceiver::end_open`] do everything but the AEAD:
//! counter, header, nonce, AAD, replay check and record, and the key is handed out once per key
//! ([`FrameKey::take_platform_key`]) to be imported as a non-extractable key.

use std::sync::atomic::{AtomicU32, Ordering};

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::aead::{FrameAead, SoftAead};
use crate::codec::{Codec, MediaKind};
use crate::replay::{ReplayVerdict, ReplayWindow};
use crate::sender_key::SenderKey;
use crate::sframe::{self, Header, Suite, AES_KEY_LEN, MAX_HEADER_LEN, NONCE_LEN};
use crate::{av1, h264, E2eeError};

/// Largest frame accepted, before encryption and after (1 MiB).
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// Largest SFrame counter used with one key. A new epoch (key) starts at 0 again.
pub const MAX_COUNTER: u64 = (1 << 48) - 1;
/// Number of distinct KIDs: the KID is the sender epoch mod 8 and fits the config byte.
pub const KID_SPACE: u64 = 8;
/// Longest tag of any suite.
pub const MAX_TAG_LEN: usize = 16;
/// Shortest tag of any suite a receiver accepts (`AES_128_CTR_HMAC_SHA256_64`).
pub const MIN_TAG_LEN: usize = 8;
/// Failed authentications a short-tag receive context takes before it refuses everything:
/// with the 64-bit tag (HMAC-SHA256 truncated; each guess passes with probability 2^-64) an
/// attacker's chance to have one forged frame accepted stays below `2^16 / 2^64 = 2^-48` per
/// key and media kind, whatever it sends; the 80-bit tag gives 2^-64.
pub const MAX_SHORT_TAG_FAILURES: u32 = 1 << 16;
/// Longest metadata a clear-prefix codec has (VP8 key frames).
const MAX_PREFIX_LEN: usize = 10;
/// Room for `header || prefix`, the AAD of a clear-prefix frame.
pub const MAX_PREFIX_AAD_LEN: usize = MAX_HEADER_LEN + MAX_PREFIX_LEN;

/// The KID of a sender epoch.
pub fn kid_for_epoch(epoch: u64) -> u64 {
    epoch % KID_SPACE
}

/// The cipher suites a sender uses for its frames, announced in its key messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameSuites {
    /// Suite of audio frames.
    pub audio: Suite,
    /// Suite of video frames.
    pub video: Suite,
}

impl FrameSuites {
    /// What Sotto sends: audio with a 64-bit tag, video with AES-GCM's 128-bit tag.
    pub const DEFAULT: FrameSuites = FrameSuites {
        audio: Suite::AesCtr128HmacSha256_64,
        video: Suite::AesGcm128Sha256,
    };

    /// The suite of `kind`.
    pub fn for_kind(&self, kind: MediaKind) -> Suite {
        match kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
        }
    }

    /// What a receiver accepts: for audio any suite with a tag of at least 64 bits
    /// (`AES_128_CTR_HMAC_SHA256_32`'s 32-bit tag is refused: a few billion guesses forge a
    /// frame), for video only AES-GCM (a full tag).
    pub fn is_acceptable(&self) -> bool {
        self.video.is_gcm() && self.audio.tag_len() >= MIN_TAG_LEN
    }
}

impl Default for FrameSuites {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Parses the SFrame header at the start of `sframe` strictly: canonical (minimal) encoding, KID
/// below [`KID_SPACE`], room for a `tag_len`-byte tag after it. Returns it and its length.
pub fn parse_header(sframe: &[u8], tag_len: usize) -> Result<(Header, usize), E2eeError> {
    let (header, len) = Header::parse(sframe)?;
    if header.kid >= KID_SPACE || sframe.len() < len + tag_len {
        return Err(E2eeError::MalformedFrame);
    }
    Ok((header, len))
}

/// What a codec layout's `seal(meta, payload)` returns: `meta || hdr || ct || tag`, and where
/// the parts are.
pub(crate) struct Sealed {
    pub(crate) bytes: Vec<u8>,
    pub(crate) hdr_len: usize,
    pub(crate) tag_len: usize,
}

/// A layout's sealed output, split after its `meta_len` bytes of metadata.
pub(crate) struct SealedParts<'a> {
    pub(crate) hdr: &'a [u8],
    pub(crate) ct: &'a [u8],
    pub(crate) tag: &'a [u8],
}

/// Splits a layout's sealed output after its `meta_len` bytes of metadata.
pub(crate) fn split_sealed(sealed: &Sealed, meta_len: usize) -> Result<SealedParts<'_>, E2eeError> {
    let sf = sealed.bytes.get(meta_len..).ok_or(E2eeError::Internal)?;
    let (hdr, rest) = sf
        .split_at_checked(sealed.hdr_len)
        .ok_or(E2eeError::Internal)?;
    let ct_len = rest
        .len()
        .checked_sub(sealed.tag_len)
        .ok_or(E2eeError::Internal)?;
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
    tag_len: usize,
    parts: ReceivedParts,
}

impl<'c> PartsReader<'c> {
    /// Starts at the carrier; `None` if it does not begin with a valid SFrame header followed
    /// by room for a `tag_len`-byte tag.
    pub(crate) fn new(carrier: &'c [u8], capacity: usize, tag_len: usize) -> Option<Self> {
        let hdr_len = parse_header(carrier, tag_len).ok()?.1;
        let mut sframe = Vec::with_capacity(capacity);
        sframe.extend_from_slice(&carrier[..hdr_len]);
        Some(Self {
            carrier,
            hdr_len,
            tag_len,
            parts: ReceivedParts {
                meta: Vec::new(),
                sframe,
            },
        })
    }

    /// The carrier's own ciphertext segment, between its header and its tag.
    pub(crate) fn carrier_ciphertext(&self) -> &'c [u8] {
        // parse_header checked that a tag fits after the header
        let end = self
            .carrier
            .len()
            .saturating_sub(self.tag_len)
            .max(self.hdr_len);
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
        let tag_at = self.carrier.len().saturating_sub(self.tag_len);
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

static NEXT_HANDLE: AtomicU32 = AtomicU32::new(1);

/// The key of one SFrame context (one sender key, one media kind): suite, KID, salt, the
/// RustCrypto cipher built once, and a handle by which the platform provider names it.
pub struct FrameKey {
    suite: Suite,
    kid: u64,
    salt: [u8; NONCE_LEN],
    soft: SoftAead,
    handle: u32,
    /// The AES-GCM key for the platform provider, until it is taken (at most once).
    platform: Option<Zeroizing<[u8; AES_KEY_LEN]>>,
}

impl FrameKey {
    /// The key of `kind` under `sender` at `epoch`.
    pub fn new(sender: &SenderKey, epoch: u64, kind: MediaKind) -> Result<Self, E2eeError> {
        let suite = sender.suites().for_kind(kind);
        let label: &[u8] = match kind {
            MediaKind::Audio => b"sotto/v2 audio frames",
            MediaKind::Video => b"sotto/v2 video frames",
        };
        let mut base = Zeroizing::new([0u8; 16]);
        Hkdf::<Sha256>::new(Some(&[]), sender.as_bytes())
            .expand(label, &mut base[..])
            .map_err(|_| E2eeError::Internal)?;
        Self::from_base(suite, kid_for_epoch(epoch), &base[..])
    }

    /// The key of RFC 9605's schedule for `suite`, `kid` and SFrame base key `base`.
    pub fn from_base(suite: Suite, kid: u64, base: &[u8]) -> Result<Self, E2eeError> {
        let derived = sframe::derive(suite, kid, base)?;
        let platform = suite.is_gcm().then(|| {
            let mut k = Zeroizing::new([0u8; AES_KEY_LEN]);
            k.copy_from_slice(&derived.key[..AES_KEY_LEN]);
            k
        });
        Ok(Self {
            suite,
            kid,
            salt: derived.salt,
            soft: SoftAead::new(suite, &derived.key)?,
            handle: NEXT_HANDLE.fetch_add(1, Ordering::Relaxed),
            platform,
        })
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The KID.
    pub fn kid(&self) -> u64 {
        self.kid
    }

    /// The handle naming this key to the platform provider (unique in this process).
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// The raw AES-GCM key, for the platform provider to import as a non-extractable key:
    /// handed out once (later calls, and any non-GCM key, give `None`).
    pub fn take_platform_key(&mut self) -> Option<Zeroizing<[u8; AES_KEY_LEN]>> {
        self.platform.take()
    }

    /// The nonce of counter `ctr`.
    pub fn nonce(&self, ctr: u64) -> [u8; NONCE_LEN] {
        sframe::nonce(&self.salt, ctr)
    }

    /// The RustCrypto provider, keyed.
    pub fn soft(&self) -> &SoftAead {
        &self.soft
    }
}

impl core::fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameKey")
            .field("suite", &self.suite)
            .field("kid", &self.kid)
            .field("handle", &self.handle)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// RFC 9605's SFrame encryption with `key` (any KID): `header || ct || tag` for counter `ctr`,
/// plaintext `pt` and metadata `metadata`. The codec-aware layouts use it; `tests/vectors.rs`
/// checks it against the RFC's vectors and another implementation.
pub fn sframe_encrypt(
    key: &FrameKey,
    ctr: u64,
    metadata: &[u8],
    pt: &[u8],
) -> Result<Vec<u8>, E2eeError> {
    let header = Header { kid: key.kid, ctr };
    let mut h = [0u8; MAX_HEADER_LEN];
    let hdr_len = header.encode(&mut h);
    let aad = [&h[..hdr_len], metadata].concat();
    let tag_len = key.suite.tag_len();
    let mut out = Vec::with_capacity(hdr_len + pt.len() + tag_len);
    out.extend_from_slice(&h[..hdr_len]);
    out.extend_from_slice(pt);
    out.resize(hdr_len + pt.len() + tag_len, 0);
    let (ct, tag) = out[hdr_len..].split_at_mut(pt.len());
    key.soft.seal(&key.nonce(ctr), &aad, ct, tag)?;
    Ok(out)
}

/// RFC 9605's SFrame decryption with `key`: the header and plaintext of `sframe` (`header ||
/// ct || tag`) with metadata `metadata`. Checks the KID, not the replay window (that is the
/// receive contexts' job).
pub fn sframe_decrypt(
    key: &FrameKey,
    metadata: &[u8],
    sframe: &[u8],
) -> Result<(Header, Zeroizing<Vec<u8>>), E2eeError> {
    let (header, hdr_len) = Header::parse(sframe)?;
    if header.kid != key.kid {
        return Err(E2eeError::UnknownKey);
    }
    let tag_len = key.suite.tag_len();
    let body = &sframe[hdr_len..];
    let ct_len = body
        .len()
        .checked_sub(tag_len)
        .ok_or(E2eeError::MalformedFrame)?;
    let (ct, tag) = body.split_at(ct_len);
    let aad = [&sframe[..hdr_len], metadata].concat();
    let mut plain = Zeroizing::new(ct.to_vec());
    key.soft
        .open(&key.nonce(header.ctr), &aad, &mut plain, tag)?;
    Ok((header, plain))
}

/// `header || prefix`, the AAD of a clear-prefix frame, on the stack.
#[derive(Clone, Copy)]
pub struct PrefixAad {
    bytes: [u8; MAX_PREFIX_AAD_LEN],
    len: usize,
    header_len: usize,
}

impl PrefixAad {
    fn new(header: &Header, prefix: &[u8]) -> Result<Self, E2eeError> {
        let mut h = [0u8; MAX_HEADER_LEN];
        let header_len = header.encode(&mut h);
        let len = header_len + prefix.len();
        let mut bytes = [0u8; MAX_PREFIX_AAD_LEN];
        bytes
            .get_mut(..header_len)
            .ok_or(E2eeError::Internal)?
            .copy_from_slice(&h[..header_len]);
        bytes
            .get_mut(header_len..len)
            .ok_or(E2eeError::Internal)?
            .copy_from_slice(prefix);
        Ok(Self {
            bytes,
            len,
            header_len,
        })
    }

    /// `header || prefix`.
    pub fn aad(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The encoded SFrame header.
    pub fn header(&self) -> &[u8] {
        &self.bytes[..self.header_len]
    }
}

/// One frame to seal on the platform's AES-GCM: the caller computes
/// `ct || tag = AES-GCM(key(handle), nonce, aad, frame[prefix_len..])` and sends
/// `frame[..prefix_len] || header || ct || tag`.
#[derive(Clone, Copy)]
pub struct SealJob {
    /// The key ([`FrameKey::handle`]).
    pub handle: u32,
    /// The nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Length of the clear prefix.
    pub prefix_len: usize,
    /// AAD and header.
    pub aad: PrefixAad,
}

/// One received frame to open on the platform's AES-GCM: the caller checks and decrypts
/// `frame[body_start..]` (`ct || tag`) with `AES-GCM(key(handle), nonce, aad)`, reports the
/// outcome with [`FrameReceiver::end_open`] (or `GroupKeys::end_open`) and, if it was
/// accepted, plays `frame[..prefix_len] || plaintext`.
#[derive(Clone, Copy)]
pub struct OpenJob {
    /// The key ([`FrameKey::handle`]).
    pub handle: u32,
    /// The frame's counter.
    pub ctr: u64,
    /// The nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Length of the clear prefix.
    pub prefix_len: usize,
    /// Where the ciphertext starts (after prefix and header).
    pub body_start: usize,
    /// AAD and header.
    pub aad: PrefixAad,
}

/// The send side of one context.
struct SendContext {
    key: FrameKey,
    next_counter: u64,
}

impl SendContext {
    /// The header of the next frame; the counter is used up even if sealing then fails.
    fn next_header(&mut self) -> Result<Header, E2eeError> {
        let ctr = self.next_counter;
        if ctr > MAX_COUNTER {
            return Err(E2eeError::CounterExhausted);
        }
        self.next_counter = ctr + 1;
        Ok(Header {
            kid: self.key.kid,
            ctr,
        })
    }

    /// `frame[..n] || header || AEAD(frame[n..])` into `out`.
    fn seal_prefix(&mut self, frame: &[u8], n: usize, out: &mut Vec<u8>) -> Result<(), E2eeError> {
        let header = self.next_header()?;
        let (clear, payload) = frame.split_at_checked(n).ok_or(E2eeError::Internal)?;
        let aad = PrefixAad::new(&header, clear)?;
        let tag_len = self.key.suite.tag_len();
        out.clear();
        out.reserve(frame.len() + aad.header_len + tag_len);
        out.extend_from_slice(clear);
        out.extend_from_slice(aad.header());
        let body = out.len();
        out.extend_from_slice(payload);
        out.resize(body + payload.len() + tag_len, 0);
        let (ct, tag) = out[body..].split_at_mut(payload.len());
        self.key
            .soft
            .seal(&self.key.nonce(header.ctr), aad.aad(), ct, tag)
    }

    /// `meta || header || AEAD(payload) || tag`, for the codec-aware layouts.
    fn seal_parts(&mut self, meta: &[u8], payload: &[u8]) -> Result<Sealed, E2eeError> {
        let header = self.next_header()?;
        let sframe = sframe_encrypt(&self.key, header.ctr, meta, payload)?;
        let mut h = [0u8; MAX_HEADER_LEN];
        let hdr_len = header.encode(&mut h);
        Ok(Sealed {
            bytes: [meta, &sframe].concat(),
            hdr_len,
            tag_len: self.key.suite.tag_len(),
        })
    }
}

/// Encrypts frames with one sender key (one epoch): an audio and a video context.
pub struct FrameSender {
    epoch: u64,
    audio: SendContext,
    video: SendContext,
}

impl FrameSender {
    /// A sender for `base` at `epoch`; both counters start at 0.
    pub fn new(base: &SenderKey, epoch: u64) -> Result<Self, E2eeError> {
        let context = |kind| {
            Ok::<_, E2eeError>(SendContext {
                key: FrameKey::new(base, epoch, kind)?,
                next_counter: 0,
            })
        };
        Ok(Self {
            epoch,
            audio: context(MediaKind::Audio)?,
            video: context(MediaKind::Video)?,
        })
    }

    fn context(&mut self, kind: MediaKind) -> &mut SendContext {
        match kind {
            MediaKind::Audio => &mut self.audio,
            MediaKind::Video => &mut self.video,
        }
    }

    /// The epoch of this sender's key.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The counter the next frame of `kind` will use.
    pub fn next_counter(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Audio => self.audio.next_counter,
            MediaKind::Video => self.video.next_counter,
        }
    }

    /// The two frame keys (audio, video).
    pub fn keys_mut(&mut self) -> [&mut FrameKey; 2] {
        [&mut self.audio.key, &mut self.video.key]
    }

    /// Test hook: jump both counters (to measure header growth). Counters only move forward.
    #[cfg(feature = "testing")]
    pub fn skip_to_counter(&mut self, counter: u64) {
        for c in [&mut self.audio, &mut self.video] {
            c.next_counter = c.next_counter.max(counter);
        }
    }

    /// Encrypts one encoded frame.
    pub fn encrypt(&mut self, codec: Codec, frame: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let mut out = Vec::new();
        self.encrypt_into(codec, frame, &mut out)?;
        Ok(out)
    }

    /// Encrypts one encoded frame into `out` (cleared first; reused, so that a caller that
    /// keeps it allocates nothing per frame for the clear-prefix codecs).
    pub fn encrypt_into(
        &mut self,
        codec: Codec,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), E2eeError> {
        if frame.len() > MAX_FRAME_LEN {
            return Err(E2eeError::FrameTooLarge);
        }
        let ctx = self.context(codec.kind());
        let layout = match codec {
            Codec::H264 => h264::protect(frame, |meta, payload| ctx.seal_parts(meta, payload))?,
            Codec::Av1 => av1::protect(frame, |meta, payload| ctx.seal_parts(meta, payload))?,
            _ => None,
        };
        match layout {
            Some(protected) => *out = protected,
            None => {
                let n = codec.clear_prefix_len(frame).unwrap_or(0);
                ctx.seal_prefix(frame, n, out)?;
            }
        }
        if out.len() > MAX_FRAME_LEN {
            out.clear();
            return Err(E2eeError::FrameTooLarge);
        }
        Ok(())
    }

    /// Starts sealing a frame of `len` bytes on the platform's AES-GCM, from its first bytes
    /// `head` (at least [`MAX_PREFIX_LEN`] of them, or the whole frame): counter, header, nonce,
    /// AAD. `None` when this frame is not for the platform (its kind's suite is not AES-GCM, or
    /// its codec has its own layout): seal it whole with [`FrameSender::encrypt_into`].
    pub fn begin_seal(
        &mut self,
        codec: Codec,
        head: &[u8],
        len: usize,
    ) -> Result<Option<SealJob>, E2eeError> {
        let ctx = self.context(codec.kind());
        if !ctx.key.suite.is_gcm() || matches!(codec, Codec::H264 | Codec::Av1) {
            return Ok(None);
        }
        if len.saturating_add(MAX_HEADER_LEN + MAX_TAG_LEN) > MAX_FRAME_LEN {
            return Err(E2eeError::FrameTooLarge);
        }
        let n = codec.prefix_len(head.first().copied(), len).unwrap_or(0);
        let prefix = head.get(..n).ok_or(E2eeError::Internal)?;
        let header = ctx.next_header()?;
        Ok(Some(SealJob {
            handle: ctx.key.handle,
            nonce: ctx.key.nonce(header.ctr),
            prefix_len: n,
            aad: PrefixAad::new(&header, prefix)?,
        }))
    }
}

impl core::fmt::Debug for FrameSender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameSender")
            .field("epoch", &self.epoch)
            .field("next_audio_counter", &self.audio.next_counter)
            .field("next_video_counter", &self.video.next_counter)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A counter already accepted and fewer than this many counters below the highest accepted one
/// in the same context was sent moments ago (12 counters: 240 ms of 20 ms audio frames, 0.4 s
/// of 30 frames/s video; audio and video now count apart, so the old span of 32 shared counters
/// shrinks). An *authentic* copy of such a frame is counted as a duplicate delivery
/// ([`E2eeError::DuplicateFrame`]), not a replay: Firefox delivers some frames several times
/// within ~20 ms on loopback (a copy's age is then a counter or two). Older copies (the test
/// builds' attacker re-sends video 16-29 frames old), and copies that do not authenticate, stay
/// replays and authentication failures. Either way the copy is dropped (its plaintext wiped)
/// and the window does not move.
pub const DUPLICATE_SPAN: u64 = 12;

/// The receive side of one context: key, replay window, failed authentications.
pub struct ReceiveContext {
    key: FrameKey,
    replay: ReplayWindow,
    failures: u32,
}

impl ReceiveContext {
    fn new(key: FrameKey) -> Self {
        Self {
            key,
            replay: ReplayWindow::new(),
            failures: 0,
        }
    }

    /// The key.
    pub fn key_mut(&mut self) -> &mut FrameKey {
        &mut self.key
    }

    /// Refuses a counter already seen or too old, and everything once a short tag's forgery
    /// budget is spent; lets through a copy of a frame accepted moments ago (fewer than
    /// [`DUPLICATE_SPAN`] counters below the highest), which [`ReceiveContext::settle`] then
    /// reports as [`E2eeError::DuplicateFrame`] if it is authentic. `Ok(true)`: such a copy.
    fn check(&self, ctr: u64) -> Result<bool, E2eeError> {
        if self.key.suite.tag_len() < MAX_TAG_LEN && self.failures >= MAX_SHORT_TAG_FAILURES {
            return Err(E2eeError::AuthenticationFailed);
        }
        match self.replay.check(ctr) {
            Ok(()) => Ok(false),
            Err(ReplayVerdict::Duplicate)
                if self.replay.age(ctr).is_some_and(|age| age < DUPLICATE_SPAN) =>
            {
                Ok(true)
            }
            Err(ReplayVerdict::Duplicate | ReplayVerdict::TooOld) => Err(E2eeError::ReplayedFrame),
        }
    }

    /// [`ReceiveContext::check`], before authenticating.
    fn admit(&self, ctr: u64) -> Result<(), E2eeError> {
        self.check(ctr).map(|_| ())
    }

    /// Records the outcome of an authentication: a failure if it did not pass; if it passed,
    /// the counter (checked again, for a copy that passed concurrently), or
    /// [`E2eeError::DuplicateFrame`] for an authentic copy of a recent frame (the window does
    /// not move; the caller wipes the plaintext).
    fn settle(&mut self, ctr: u64, authentic: bool) -> Result<(), E2eeError> {
        if !authentic {
            self.failures = self.failures.saturating_add(1);
            return Err(E2eeError::AuthenticationFailed);
        }
        if self.check(ctr)? {
            return Err(E2eeError::DuplicateFrame);
        }
        self.replay.record(ctr);
        Ok(())
    }

    /// Opens `clear || header || ct || tag` (a clear-prefix layout) into `out` as
    /// `clear || plaintext`.
    fn open_prefix(
        &mut self,
        header: &Header,
        clear: &[u8],
        sframe: &[u8],
        hdr_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), E2eeError> {
        self.admit(header.ctr)?;
        let aad = PrefixAad::new(header, clear)?;
        let tag_len = self.key.suite.tag_len();
        let body = sframe.get(hdr_len..).ok_or(E2eeError::MalformedFrame)?;
        let (ct, tag) = body
            .split_at_checked(body.len().saturating_sub(tag_len))
            .ok_or(E2eeError::MalformedFrame)?;
        out.clear();
        out.reserve(clear.len() + ct.len());
        out.extend_from_slice(clear);
        out.extend_from_slice(ct);
        let result = self.key.soft.open(
            &self.key.nonce(header.ctr),
            aad.aad(),
            &mut out[clear.len()..],
            tag,
        );
        let result = self.settle(header.ctr, result.is_ok());
        if result.is_err() {
            zeroize::Zeroize::zeroize(out);
        }
        result
    }

    /// Opens `hdr || ct || tag` with `hdr || meta` as AAD (the codec-aware layouts).
    fn open_parts(
        &mut self,
        header: &Header,
        meta: &[u8],
        sframe: &[u8],
        hdr_len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, E2eeError> {
        self.admit(header.ctr)?;
        let tag_len = self.key.suite.tag_len();
        let (hdr, body) = sframe
            .split_at_checked(hdr_len)
            .ok_or(E2eeError::MalformedFrame)?;
        let (ct, tag) = body
            .split_at_checked(body.len().saturating_sub(tag_len))
            .ok_or(E2eeError::MalformedFrame)?;
        let aad = [hdr, meta].concat();
        let mut plain = Zeroizing::new(ct.to_vec());
        let result = self
            .key
            .soft
            .open(&self.key.nonce(header.ctr), &aad, &mut plain, tag);
        self.settle(header.ctr, result.is_ok())?;
        Ok(plain)
    }
}

/// Where a receiver finds the context for a frame's KID: one [`FrameReceiver`], or a sender's
/// ring of keys (`GroupKeys`).
pub(crate) trait KeyRing {
    /// The context of `kind` for `kid`, if a key is held for it.
    fn context(&mut self, kid: u64, kind: MediaKind) -> Option<&mut ReceiveContext>;
    /// The context whose key has `handle`, if it is still held.
    fn by_handle(&mut self, handle: u32) -> Option<&mut ReceiveContext>;
}

/// Decrypts frames of one sender key (one epoch): an audio and a video context, each with its
/// own replay window.
pub struct FrameReceiver {
    epoch: u64,
    audio: ReceiveContext,
    video: ReceiveContext,
}

impl FrameReceiver {
    /// A receiver for `base` at `epoch`.
    pub fn new(base: &SenderKey, epoch: u64) -> Result<Self, E2eeError> {
        Ok(Self {
            epoch,
            audio: ReceiveContext::new(FrameKey::new(base, epoch, MediaKind::Audio)?),
            video: ReceiveContext::new(FrameKey::new(base, epoch, MediaKind::Video)?),
        })
    }

    /// The epoch of this receiver's key.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The context of `kind`.
    pub fn context_mut(&mut self, kind: MediaKind) -> &mut ReceiveContext {
        match kind {
            MediaKind::Audio => &mut self.audio,
            MediaKind::Video => &mut self.video,
        }
    }

    /// Both contexts (audio, video).
    pub fn contexts_mut(&mut self) -> [&mut ReceiveContext; 2] {
        [&mut self.audio, &mut self.video]
    }

    /// The context whose key has `handle`.
    pub fn by_handle(&mut self, handle: u32) -> Option<&mut ReceiveContext> {
        [&mut self.audio, &mut self.video]
            .into_iter()
            .find(|c| c.key.handle == handle)
    }

    /// Decrypts one protected frame with this key only.
    pub fn decrypt(&mut self, codec: Codec, frame: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let mut out = Vec::new();
        decrypt_into(codec, frame, &mut out, self)?;
        Ok(out)
    }

    /// Starts opening a frame of `len` bytes on the platform's AES-GCM, from its first bytes
    /// `head` (at least [`MAX_PREFIX_AAD_LEN`] of them, or the whole frame). See
    /// [`begin_open`].
    pub fn begin_open(
        &mut self,
        codec: Codec,
        head: &[u8],
        len: usize,
    ) -> Result<Option<OpenJob>, E2eeError> {
        begin_open(codec, head, len, self)
    }

    /// Settles a frame [`FrameReceiver::begin_open`] started.
    pub fn end_open(&mut self, job: &OpenJob, authentic: bool) -> Result<(), E2eeError> {
        end_open(job.handle, job.ctr, authentic, self)
    }
}

impl KeyRing for FrameReceiver {
    fn context(&mut self, kid: u64, kind: MediaKind) -> Option<&mut ReceiveContext> {
        (kid == kid_for_epoch(self.epoch)).then(|| self.context_mut(kind))
    }

    fn by_handle(&mut self, handle: u32) -> Option<&mut ReceiveContext> {
        FrameReceiver::by_handle(self, handle)
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

/// Tag lengths of the suites `ring` holds keys of `kind` under (usually one).
fn tag_lens(ring: &mut impl KeyRing, kind: MediaKind) -> impl Iterator<Item = usize> {
    let mut held = [false; Suite::ALL.len()];
    for kid in 0..KID_SPACE {
        if let Some(c) = ring.context(kid, kind) {
            if let Some(i) = Suite::ALL.iter().position(|s| *s == c.key.suite) {
                held[i] = true;
            }
        }
    }
    Suite::ALL
        .into_iter()
        .zip(held)
        .filter_map(|(s, h)| h.then_some(s.tag_len()))
}

/// Keeps the most telling error of several layout attempts: the first, unless it is only
/// "malformed" (the layout did not even parse).
fn keep_error(first: &mut Option<E2eeError>, e: E2eeError) {
    if matches!(first, None | Some(E2eeError::MalformedFrame)) {
        *first = Some(e);
    }
}

/// Opens `clear || sframe` (a clear-prefix layout; `clear` may be empty) into `out`.
fn open_prefix_layout(
    clear: &[u8],
    sframe: &[u8],
    kind: MediaKind,
    ring: &mut impl KeyRing,
    out: &mut Vec<u8>,
) -> Result<(), E2eeError> {
    let (header, hdr_len) = Header::parse(sframe)?;
    if header.kid >= KID_SPACE {
        return Err(E2eeError::MalformedFrame);
    }
    let ctx = ring
        .context(header.kid, kind)
        .ok_or(E2eeError::UnknownKey)?;
    if sframe.len() < hdr_len + ctx.key.suite.tag_len() {
        return Err(E2eeError::MalformedFrame);
    }
    ctx.open_prefix(&header, clear, sframe, hdr_len, out)
}

/// Decrypts a protected frame into `out`, with the keys of `ring`.
///
/// Tries the codec's layout, then the whole-frame layout (see [`crate::codec`]); returns the
/// first success, or the most telling error (the codec layout's unless it did not even parse).
/// The clear-prefix codecs allocate nothing here when `out` has room.
pub(crate) fn decrypt_into(
    codec: Codec,
    frame: &[u8],
    out: &mut Vec<u8>,
    ring: &mut impl KeyRing,
) -> Result<(), E2eeError> {
    if frame.len() > MAX_FRAME_LEN {
        return Err(E2eeError::FrameTooLarge);
    }
    let kind = codec.kind();
    let mut first_err: Option<E2eeError> = None;
    match codec {
        Codec::H264 | Codec::Av1 => {
            let lens: Vec<usize> = tag_lens(ring, kind).collect();
            for tag_len in lens {
                let attempt = if codec == Codec::H264 {
                    h264::Received::parse(frame, tag_len).map(|r| {
                        open_parts(&r.parts, tag_len, kind, ring).and_then(|p| r.rebuild(&p))
                    })
                } else {
                    av1::Received::parse(frame, tag_len).map(|r| {
                        open_parts(&r.parts, tag_len, kind, ring).and_then(|p| r.rebuild(&p))
                    })
                };
                match attempt {
                    Some(Ok(plain)) => {
                        *out = plain;
                        return Ok(());
                    }
                    Some(Err(e)) => keep_error(&mut first_err, e),
                    None => {}
                }
            }
        }
        _ => {
            if let Some(n) = codec.clear_prefix_len(frame) {
                if n > 0 && frame.len() > n + MIN_TAG_LEN {
                    let (clear, sframe) = frame.split_at(n);
                    match open_prefix_layout(clear, sframe, kind, ring, out) {
                        Ok(()) => return Ok(()),
                        Err(e) => keep_error(&mut first_err, e),
                    }
                }
            }
        }
    }
    match open_prefix_layout(&[], frame, kind, ring, out) {
        Ok(()) => Ok(()),
        Err(e) => {
            keep_error(&mut first_err, e);
            Err(first_err.unwrap_or(E2eeError::MalformedFrame))
        }
    }
}

fn open_parts(
    parts: &ReceivedParts,
    tag_len: usize,
    kind: MediaKind,
    ring: &mut impl KeyRing,
) -> Result<Zeroizing<Vec<u8>>, E2eeError> {
    let (header, hdr_len) = parse_header(&parts.sframe, tag_len)?;
    let ctx = ring
        .context(header.kid, kind)
        .filter(|c| c.key.suite.tag_len() == tag_len)
        .ok_or(E2eeError::UnknownKey)?;
    ctx.open_parts(&header, &parts.meta, &parts.sframe, hdr_len)
}

/// Starts opening a received frame of `len` bytes on the platform's AES-GCM, from its first
/// bytes `head` (at least [`MAX_PREFIX_AAD_LEN`], or the whole frame): layout, header, key,
/// replay check, nonce and AAD. `None` when this frame is not for the platform (its codec has
/// its own layout, or its key's suite is not AES-GCM): open it whole instead.
///
/// Only the codec's own layout is tried: the whole-frame layout is for frames shorter than
/// their clear prefix, and the platform only gets frames far longer than that.
pub(crate) fn begin_open(
    codec: Codec,
    head: &[u8],
    len: usize,
    ring: &mut impl KeyRing,
) -> Result<Option<OpenJob>, E2eeError> {
    if len > MAX_FRAME_LEN {
        return Err(E2eeError::FrameTooLarge);
    }
    if matches!(codec, Codec::H264 | Codec::Av1) {
        return Ok(None);
    }
    let kind = codec.kind();
    let n = match codec.prefix_len(head.first().copied(), len) {
        Some(n) if n > 0 && len >= n + 1 + MAX_TAG_LEN => n,
        _ => 0,
    };
    let (clear, sframe) = head.split_at_checked(n).ok_or(E2eeError::Internal)?;
    let (header, hdr_len) = Header::parse(sframe)?;
    if header.kid >= KID_SPACE {
        return Err(E2eeError::MalformedFrame);
    }
    let ctx = ring
        .context(header.kid, kind)
        .ok_or(E2eeError::UnknownKey)?;
    if !ctx.key.suite.is_gcm() {
        return Ok(None);
    }
    let body_start = n + hdr_len;
    if len < body_start + ctx.key.suite.tag_len() {
        return Err(E2eeError::MalformedFrame);
    }
    ctx.admit(header.ctr)?;
    Ok(Some(OpenJob {
        handle: ctx.key.handle,
        ctr: header.ctr,
        nonce: ctx.key.nonce(header.ctr),
        prefix_len: n,
        body_start,
        aad: PrefixAad::new(&header, clear)?,
    }))
}

/// Settles a frame [`begin_open`] started: records its counter if the platform authenticated
/// it (unless a duplicate got there first), counts a failure if not. A key erased meanwhile
/// refuses it as [`E2eeError::UnknownKey`].
pub(crate) fn end_open(
    handle: u32,
    ctr: u64,
    authentic: bool,
    ring: &mut impl KeyRing,
) -> Result<(), E2eeError> {
    ring.by_handle(handle)
        .ok_or(E2eeError::UnknownKey)?
        .settle(ctr, authentic)
}

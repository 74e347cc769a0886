//! The per-frame path of the crypto Worker: what the frame transforms call for every encoded
//! frame, built so that a frame costs as little plumbing as possible.
//!
//! - **No copy that is not needed, no allocation per frame.** JavaScript writes a frame (or only
//!   its first bytes, for the platform path) straight into [`FrameIo`]'s input buffer in wasm
//!   memory (`inputBuffer(len)` gives its address), and reads a result straight out of the
//!   output buffer; both buffers are kept and grow to the largest frame seen. No argument is a
//!   string or an object: codecs and peers are small numbers (`codecOf`, `peerSlot`, asked once
//!   per transform), results are an `i32` status and a few `u32` registers JavaScript reads in
//!   place (`frameRegisters()`).
//! - **The platform's AES-GCM for large frames.** Frames of at least [`PLATFORM_MIN_LEN`]
//!   bytes whose suite is AES-GCM (video) go to WebCrypto: the wasm does everything else
//!   (counter, header, nonce, AAD, layout, replay window; `sealBegin`, `openBegin`, `openEnd`)
//!   and hands out each frame key once (`platformKey`) for the Worker's JavaScript to import as a
//!   non-extractable `CryptoKey`. The frame itself never enters wasm memory on that path: only
//!   its first [`HEAD_LEN`] bytes. Smaller frames, and audio (AES-CTR + HMAC, short tag), are
//!   sealed and opened here with RustCrypto, with ciphers built once per key.
//!
//! Registers (`u32`, see [`Reg`]) and the job area (bytes: nonce, AAD, a key being imported)
//! live in boxes whose addresses never change; JavaScript re-creates its views when the wasm
//! memory grows.

use sotto_e2ee::frame::{OpenJob, SealJob, MAX_PREFIX_AAD_LEN};
use sotto_e2ee::sframe::{AES_KEY_LEN, NONCE_LEN};
use sotto_e2ee::{Codec, E2eeError, GroupKeys};
use wasm_bindgen::prelude::*;

use crate::{ms, CallCrypto};

/// Smallest frame sent to the platform's AES-GCM: below it a wasm call beats WebCrypto's
/// promise round trip (measured: `make bench`, BENCHMARKS.md section 1, the crossover).
pub const PLATFORM_MIN_LEN: usize = 1024;
/// How many first bytes of a frame the platform path needs (clear prefix and header).
pub const HEAD_LEN: usize = 32;
const _: () = assert!(HEAD_LEN >= MAX_PREFIX_AAD_LEN && PLATFORM_MIN_LEN >= HEAD_LEN);

/// The registers JavaScript reads after a call (indices into a `Uint32Array`).
#[derive(Clone, Copy)]
#[repr(usize)]
pub enum Reg {
    /// Address of the output (a sealed or opened frame).
    OutPtr = 0,
    /// Its length.
    OutLen,
    /// Address of the job area: nonce (12 bytes) at 0, AAD at 16, a key being imported at 48.
    JobPtr,
    /// The job's frame key ([`sotto_e2ee::frame::FrameKey::handle`]).
    Handle,
    /// Length of the clear prefix.
    PrefixLen,
    /// Length of the AAD (`header || prefix`).
    AadLen,
    /// Length of the SFrame header (its bytes are the AAD's first).
    HeaderLen,
    /// Where the ciphertext starts in a received frame.
    BodyStart,
    /// A received frame's counter, high 32 bits.
    CtrHigh,
    /// Its low 32 bits.
    CtrLow,
    /// Number of registers.
    Count,
}

const JOB_NONCE: usize = 0;
const JOB_AAD: usize = 16;
const JOB_KEY: usize = 48;
const JOB_LEN: usize = 64;
const _: () = assert!(JOB_AAD >= JOB_NONCE + NONCE_LEN && JOB_KEY >= JOB_AAD + MAX_PREFIX_AAD_LEN);
const _: () = assert!(JOB_LEN >= JOB_KEY + AES_KEY_LEN);

/// The error codes a frame call returns, as `-(index + 1)`.
const CODES: [&str; 9] = [
    "internal",
    "bad-argument",
    "unknown-key",
    "replayed-frame",
    "authentication-failed",
    "duplicate-frame",
    "malformed-frame",
    "frame-too-large",
    "rotation-incomplete",
];

/// A status for JavaScript: `-(index + 1)` of the error's code in [`CODES`] (`internal` for
/// any other).
fn status(e: &E2eeError) -> i32 {
    let i = CODES.iter().position(|c| *c == e.code()).unwrap_or(0);
    -(i32::try_from(i).unwrap_or(0) + 1)
}

const BAD_ARGUMENT: i32 = -2;

fn addr<T>(p: *const T) -> u32 {
    // wasm32 addresses are 32 bits; natively (tests) only the value's presence matters
    u32::try_from(p as usize).unwrap_or(0)
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Buffers, registers and peer slots of the frame path.
pub(crate) struct FrameIo {
    input: Vec<u8>,
    output: Vec<u8>,
    regs: Box<[u32; Reg::Count as usize]>,
    job: Box<[u8; JOB_LEN]>,
    peers: Vec<String>,
}

impl FrameIo {
    pub(crate) fn new() -> Self {
        Self {
            input: Vec::new(),
            output: Vec::new(),
            regs: Box::new([0; Reg::Count as usize]),
            job: Box::new([0; JOB_LEN]),
            peers: Vec::new(),
        }
    }

    /// The kept output buffer (the `encryptFrame`/`decryptFrame` calls seal into it too).
    pub(crate) fn output_mut(&mut self) -> &mut Vec<u8> {
        &mut self.output
    }

    fn set(&mut self, reg: Reg, value: u32) {
        self.regs[reg as usize] = value;
    }

    fn head(&self, len: u32) -> Option<&[u8]> {
        let len = usize::try_from(len).ok()?;
        self.input.get(..len.min(HEAD_LEN))
    }

    fn peer(&self, slot: u32) -> Option<&str> {
        self.peers
            .get(usize::try_from(slot).ok()?)
            .map(String::as_str)
    }

    fn publish_output(&mut self) {
        let (ptr, len) = (addr(self.output.as_ptr()), len32(self.output.len()));
        self.set(Reg::OutPtr, ptr);
        self.set(Reg::OutLen, len);
    }

    pub(crate) fn publish_job(
        &mut self,
        handle: u32,
        nonce: &[u8; NONCE_LEN],
        prefix: usize,
        aad: &[u8],
        header: usize,
    ) {
        self.job[JOB_NONCE..JOB_NONCE + NONCE_LEN].copy_from_slice(nonce);
        self.job[JOB_AAD..JOB_AAD + aad.len()].copy_from_slice(aad);
        let job = addr(self.job.as_ptr());
        self.set(Reg::JobPtr, job);
        self.set(Reg::Handle, handle);
        self.set(Reg::PrefixLen, len32(prefix));
        self.set(Reg::AadLen, len32(aad.len()));
        self.set(Reg::HeaderLen, len32(header));
    }

    fn publish_seal(&mut self, job: &SealJob) {
        self.publish_job(
            job.handle,
            &job.nonce,
            job.prefix_len,
            job.aad.aad(),
            job.aad.header().len(),
        );
    }

    fn publish_open(&mut self, job: &OpenJob) {
        self.publish_job(
            job.handle,
            &job.nonce,
            job.prefix_len,
            job.aad.aad(),
            job.aad.header().len(),
        );
        self.set(Reg::BodyStart, len32(job.body_start));
        self.set(Reg::CtrHigh, u32::try_from(job.ctr >> 32).unwrap_or(0));
        self.set(
            Reg::CtrLow,
            u32::try_from(job.ctr & 0xffff_ffff).unwrap_or(0),
        );
    }
}

/// The frame-path calls, on plain Rust types (what the `CallCrypto` exports wrap; tested
/// natively below).
pub(crate) fn encrypt(keys: &mut GroupKeys, io: &mut FrameIo, codec: u32, len: u32) -> i32 {
    let Some(codec) = Codec::from_index(codec) else {
        return BAD_ARGUMENT;
    };
    let FrameIo { input, output, .. } = io;
    let Some(frame) = usize::try_from(len).ok().and_then(|l| input.get(..l)) else {
        return BAD_ARGUMENT;
    };
    match keys.encrypt_frame_into(codec, frame, output) {
        Ok(()) => {
            io.publish_output();
            0
        }
        Err(e) => status(&e),
    }
}

pub(crate) fn decrypt(
    keys: &mut GroupKeys,
    io: &mut FrameIo,
    slot: u32,
    codec: u32,
    len: u32,
    now_ms: u64,
) -> i32 {
    let FrameIo {
        input,
        output,
        peers,
        ..
    } = io;
    let from = usize::try_from(slot).ok().and_then(|s| peers.get(s));
    let frame = usize::try_from(len).ok().and_then(|l| input.get(..l));
    let (Some(codec), Some(from), Some(frame)) = (Codec::from_index(codec), from, frame) else {
        return BAD_ARGUMENT;
    };
    match keys.decrypt_frame_into(from, codec, frame, now_ms, output) {
        Ok(()) => {
            io.publish_output();
            0
        }
        Err(e) => status(&e),
    }
}

pub(crate) fn seal_begin(keys: &mut GroupKeys, io: &mut FrameIo, codec: u32, len: u32) -> i32 {
    let (Some(codec), Some(head)) = (Codec::from_index(codec), io.head(len)) else {
        return BAD_ARGUMENT;
    };
    let Ok(len) = usize::try_from(len) else {
        return BAD_ARGUMENT;
    };
    match keys.begin_seal(codec, head, len) {
        Ok(Some(job)) => {
            io.publish_seal(&job);
            0
        }
        Ok(None) => 1,
        Err(e) => status(&e),
    }
}

pub(crate) fn open_begin(
    keys: &mut GroupKeys,
    io: &mut FrameIo,
    slot: u32,
    codec: u32,
    len: u32,
    now_ms: u64,
) -> i32 {
    let (Some(codec), Some(from), Some(head)) =
        (Codec::from_index(codec), io.peer(slot), io.head(len))
    else {
        return BAD_ARGUMENT;
    };
    let Ok(len) = usize::try_from(len) else {
        return BAD_ARGUMENT;
    };
    match keys.begin_open(from, codec, head, len, now_ms) {
        Ok(Some(job)) => {
            io.publish_open(&job);
            0
        }
        Ok(None) => 1,
        Err(e) => status(&e),
    }
}

pub(crate) fn open_end(
    keys: &mut GroupKeys,
    io: &FrameIo,
    slot: u32,
    handle: u32,
    ctr_high: u32,
    ctr_low: u32,
    authentic: bool,
) -> i32 {
    let Some(from) = io.peer(slot) else {
        return BAD_ARGUMENT;
    };
    let ctr = (u64::from(ctr_high) << 32) | u64::from(ctr_low);
    match keys.end_open(from, handle, ctr, authentic) {
        Ok(()) => 0,
        Err(e) => status(&e),
    }
}

#[wasm_bindgen]
impl CallCrypto {
    /// The address of the frame registers (`Uint32Array` of [`Reg::Count`] entries).
    #[wasm_bindgen(js_name = frameRegisters)]
    pub fn frame_registers(&self) -> u32 {
        addr(self.frames.regs.as_ptr())
    }

    /// The address of an input buffer of at least `len` bytes, for the next frame call to read
    /// (kept and reused; it only grows).
    #[wasm_bindgen(js_name = inputBuffer)]
    pub fn input_buffer(&mut self, len: u32) -> u32 {
        let len = usize::try_from(len)
            .unwrap_or(0)
            .min(sotto_e2ee::frame::MAX_FRAME_LEN + 1);
        if self.frames.input.len() < len {
            self.frames.input.resize(len, 0);
        }
        addr(self.frames.input.as_ptr())
    }

    /// The codec number of a MIME type (`audio/opus`, `video/VP8`, ...), for the frame calls.
    #[wasm_bindgen(js_name = codecOf)]
    pub fn codec_of(&self, mime: &str) -> u32 {
        Codec::from_mime(mime).index()
    }

    /// The slot number of a peer id, for the decrypt calls (the same slot for the same id).
    #[wasm_bindgen(js_name = peerSlot)]
    pub fn peer_slot(&mut self, peer: &str) -> u32 {
        let peers = &mut self.frames.peers;
        let slot = peers.iter().position(|p| p == peer).unwrap_or_else(|| {
            peers.push(peer.to_owned());
            peers.len() - 1
        });
        len32(slot)
    }

    /// Encrypts the frame of `len` bytes in the input buffer: 0 (output in the registers) or
    /// a negative status ([`CallCrypto::frame_error_code`]).
    #[wasm_bindgen(js_name = encryptFrameIn)]
    pub fn encrypt_frame_in(&mut self, codec: u32, len: u32) -> i32 {
        encrypt(&mut self.keys, &mut self.frames, codec, len)
    }

    /// Decrypts the frame of `len` bytes in the input buffer, from the peer in `slot`.
    #[wasm_bindgen(js_name = decryptFrameIn)]
    pub fn decrypt_frame_in(&mut self, slot: u32, codec: u32, len: u32, now_ms: f64) -> i32 {
        decrypt(
            &mut self.keys,
            &mut self.frames,
            slot,
            codec,
            len,
            ms(now_ms),
        )
    }

    /// Starts sealing a frame of `len` bytes on WebCrypto, from its first bytes in the input
    /// buffer: 0 (the job is in the registers), 1 (not for the platform: put the whole frame in
    /// the input buffer and call `encryptFrameIn`), or a negative status.
    #[wasm_bindgen(js_name = sealBegin)]
    pub fn seal_begin(&mut self, codec: u32, len: u32) -> i32 {
        seal_begin(&mut self.keys, &mut self.frames, codec, len)
    }

    /// Starts opening a frame of `len` bytes from the peer in `slot` on WebCrypto, from its
    /// first bytes in the input buffer: as `sealBegin`.
    #[wasm_bindgen(js_name = openBegin)]
    pub fn open_begin(&mut self, slot: u32, codec: u32, len: u32, now_ms: f64) -> i32 {
        open_begin(
            &mut self.keys,
            &mut self.frames,
            slot,
            codec,
            len,
            ms(now_ms),
        )
    }

    /// Settles a frame `openBegin` started: `authentic` is WebCrypto's verdict. 0 if the frame
    /// is accepted, else a negative status (replayed meanwhile, key erased, tag refused).
    #[wasm_bindgen(js_name = openEnd)]
    pub fn open_end(
        &mut self,
        slot: u32,
        handle: u32,
        ctr_high: u32,
        ctr_low: u32,
        authentic: bool,
    ) -> i32 {
        open_end(
            &mut self.keys,
            &self.frames,
            slot,
            handle,
            ctr_high,
            ctr_low,
            authentic,
        )
    }

    /// Puts the AES-GCM key of frame key `handle` in the job area (16 bytes at offset 48) for
    /// `importKey` as a non-extractable key, once per key: 0, or -1 if there is none (not
    /// AES-GCM, erased, or already handed out). Call `clearPlatformKey` right after importing.
    #[wasm_bindgen(js_name = platformKey)]
    pub fn platform_key(&mut self, handle: u32) -> i32 {
        #[cfg(feature = "testing")]
        let key = self.keys.take_platform_key(handle).or_else(|| {
            self.test_keys
                .iter_mut()
                .find(|k| k.handle() == handle)
                .and_then(sotto_e2ee::frame::FrameKey::take_platform_key)
        });
        #[cfg(not(feature = "testing"))]
        let key = self.keys.take_platform_key(handle);
        match key {
            Some(key) => {
                self.frames.job[JOB_KEY..JOB_KEY + AES_KEY_LEN].copy_from_slice(&key[..]);
                let job = addr(self.frames.job.as_ptr());
                self.frames.set(Reg::JobPtr, job);
                0
            }
            None => -1,
        }
    }

    /// Wipes the key `platformKey` put in the job area.
    #[wasm_bindgen(js_name = clearPlatformKey)]
    pub fn clear_platform_key(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.frames.job[JOB_KEY..JOB_KEY + AES_KEY_LEN]);
    }

    /// The handles of the frame keys still held that WebCrypto runs: the Worker forgets the
    /// `CryptoKey` of any other.
    #[wasm_bindgen(js_name = platformKeyHandles)]
    pub fn platform_key_handles(&mut self) -> Vec<u32> {
        self.keys.platform_key_handles()
    }

    /// The code of a negative frame status.
    #[wasm_bindgen(js_name = frameErrorCode)]
    pub fn frame_error_code(&self, status: i32) -> String {
        let i = usize::try_from(status.saturating_neg().saturating_sub(1)).unwrap_or(0);
        CODES.get(i).copied().unwrap_or("internal").to_owned()
    }

    /// Frames from this size on go to WebCrypto (when their suite is AES-GCM).
    #[wasm_bindgen(js_name = platformMinLen)]
    pub fn platform_min_len(&self) -> u32 {
        len32(PLATFORM_MIN_LEN)
    }
}

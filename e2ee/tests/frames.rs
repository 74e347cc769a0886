//! Frame protection: round trips per codec, clear prefix, tampering, replay, overhead, limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]
mod common;

use common::*;
use sotto_e2ee::frame::{FrameReceiver, FrameSender, MAX_FRAME_LEN, MAX_SHORT_TAG_FAILURES};
use sotto_e2ee::{Codec, E2eeError, FrameSuites, MediaKind, SenderKey, Suite};

fn pair(epoch: u64) -> (FrameSender, FrameReceiver) {
    let key = SenderKey::from_bytes([9u8; 16]);
    (
        FrameSender::new(&key, epoch).unwrap(),
        FrameReceiver::new(&key, epoch).unwrap(),
    )
}

/// A small but realistic Annex B access unit: AUD, SPS, PPS, SEI, IDR slice, and a second
/// slice, with payload bytes that contain zero runs (so escaping is exercised).
fn h264_frame() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0, 0, 0, 1, 0x09, 0xf0]); // AUD
    f.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0x8c, 0x8d, 0x40]); // SPS
    f.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]); // PPS
    f.extend_from_slice(&[
        0, 0, 1, 0x06, 0x05, 0x10, 0xaa, 0x00, 0x00, 0x03, 0x01, 0x80,
    ]); // SEI
    f.extend_from_slice(&[0, 0, 1, 0x65, 0x88, 0x84]); // IDR slice
    f.extend((0..700u32).map(|i| {
        if i % 50 < 6 {
            0
        } else {
            (i * 37 % 251) as u8 + 1
        }
    }));
    f.extend_from_slice(&[0, 0, 1, 0x41, 0x9a, 0x02]); // non-IDR slice
    f.extend((0..300u32).map(|i| (i * 11 % 256) as u8 | 1));
    f
}

fn nal_bodies(frame: &[u8]) -> Vec<&[u8]> {
    // split on 00 00 01 for inspection
    let mut starts = vec![];
    let mut i = 0;
    while i + 3 <= frame.len() {
        if frame[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(j, &s)| {
            let end = starts.get(j + 1).map_or(frame.len(), |&n| n - 3);
            let mut e = end;
            while e > s && frame[e - 1] == 0 {
                e -= 1;
            }
            &frame[s..e]
        })
        .collect()
}

#[test]
fn round_trip_every_codec_and_size() {
    for codec in Codec::ALL {
        let (mut tx, mut rx) = pair(3);
        for len in [0usize, 1, 2, 3, 9, 10, 11, 100, 1000, 10_000] {
            for frame in [vp8_key_frame(len), vp8_delta_frame(len)] {
                let enc = tx.encrypt(codec, &frame).unwrap();
                assert_eq!(
                    rx.decrypt(codec, &enc).unwrap(),
                    decrypted_form(codec, &frame),
                    "{codec:?} {len}"
                );
            }
        }
        let h = h264_frame();
        let enc = tx.encrypt(codec, &h).unwrap();
        assert_eq!(
            rx.decrypt(codec, &enc).unwrap(),
            decrypted_form(codec, &h),
            "{codec:?} h264 sample"
        );
    }
}

#[test]
fn clear_prefix_is_byte_identical() {
    let (mut tx, _) = pair(0);
    let key = vp8_key_frame(500);
    let delta = vp8_delta_frame(500);
    let opus = vec![0x78u8; 80];
    for (codec, frame, n) in [
        (Codec::Vp8, &key, 10),
        (Codec::Vp8, &delta, 3),
        (Codec::Opus, &opus, 1),
    ] {
        let enc = tx.encrypt(codec, frame).unwrap();
        assert_eq!(enc[..n], frame[..n], "{codec:?}");
        // the byte after the prefix is the SFrame config byte, not the frame's
        assert_eq!(enc[n] >> 4 & 0x7, 0, "KID 0 in config byte");
        // and nothing after the prefix is left as plaintext
        assert_ne!(enc[n + 1..n + 17], frame[n..n + 16]);
    }
    // VP9/AV1: no clear prefix at all
    let enc = tx.encrypt(Codec::Vp9, &key).unwrap();
    assert_ne!(enc[..10], key[..10]);
}

#[test]
fn h264_keeps_nal_headers_clear_and_has_no_start_code_emulation() {
    let (mut tx, mut rx) = pair(5);
    let frame = h264_frame();
    for _ in 0..50 {
        let enc = tx.encrypt(Codec::H264, &frame).unwrap();
        let plain_nals = nal_bodies(&frame);
        let enc_nals = nal_bodies(&enc);
        // same number of NAL units: no start code was emulated, none lost
        assert_eq!(plain_nals.len(), enc_nals.len());
        for (p, e) in plain_nals.iter().zip(&enc_nals) {
            assert_eq!(p[0], e[0], "NAL header kept");
            match p[0] & 0x1f {
                7..=13 | 15 => assert_eq!(p, e, "parameter sets/AUD stay clear"),
                1 | 5 => assert_eq!(p[..3], e[..3], "slice header start kept"),
                _ => {}
            }
        }
        // no 00 00 0x (x <= 2) inside any NAL body
        for e in &enc_nals {
            assert!(!e.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
        }
        // the slice payloads are not in the clear
        let idr = plain_nals.iter().position(|n| n[0] & 0x1f == 5).unwrap();
        assert_ne!(enc_nals[idr][3..40], plain_nals[idr][3..40]);
        assert_eq!(rx.decrypt(Codec::H264, &enc).unwrap(), frame);
    }
}

#[test]
fn h264_start_codes_may_be_rewritten_by_the_transport() {
    // A depacketizer rebuilds Annex B with 4-byte start codes: still decrypts.
    let (mut tx, mut rx) = pair(1);
    let frame = h264_frame();
    let enc = tx.encrypt(Codec::H264, &frame).unwrap();
    let mut rewritten = Vec::new();
    for body in nal_bodies(&enc) {
        rewritten.extend_from_slice(&[0, 0, 0, 1]);
        rewritten.extend_from_slice(body);
    }
    let mut expected = Vec::new();
    for body in nal_bodies(&frame) {
        expected.extend_from_slice(&[0, 0, 0, 1]);
        expected.extend_from_slice(body);
    }
    assert_eq!(rx.decrypt(Codec::H264, &rewritten).unwrap(), expected);
}

/// One OBU with a size field (minimal leb128, or padded to `size_bytes` like some writers).
fn av1_obu(obu_type: u8, extension: Option<u8>, payload: &[u8], size_bytes: usize) -> Vec<u8> {
    let mut out = vec![(obu_type << 3) | 0x02];
    if let Some(x) = extension {
        out[0] |= 0x04;
        out.push(x);
    }
    let mut n = payload.len();
    for i in 0..size_bytes {
        let more = i + 1 < size_bytes;
        out.push((n & 0x7f) as u8 | if more { 0x80 } else { 0 });
        n >>= 7;
    }
    assert_eq!(n, 0, "size fits");
    out.extend_from_slice(payload);
    out
}

/// A temporal unit as libaom emits it: temporal delimiter, sequence header, a frame OBU with
/// an extension byte, and a last OBU without a size field.
fn av1_frame() -> Vec<u8> {
    let mut f = av1_obu(2, None, &[], 1); // temporal delimiter
    f.extend(av1_obu(1, None, &[0x00, 0x00, 0x00, 0x0a, 0x0b, 0x2c], 1)); // sequence header
    f.extend(av1_obu(
        6,
        Some(0x10),
        &(0..400u32).map(|i| (i * 7 % 256) as u8).collect::<Vec<_>>(),
        2,
    )); // frame
    f.push(4 << 3); // tile group without a size field: runs to the end
    f.extend((0..120u32).map(|i| (i * 13 % 256) as u8));
    f
}

/// The OBUs of a frame: (header byte, extension, payload), every OBU with a size field.
fn av1_obus(frame: &[u8]) -> Vec<(u8, Option<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < frame.len() {
        let h = frame[i];
        i += 1;
        let x = (h & 0x04 != 0).then(|| {
            i += 1;
            frame[i - 1]
        });
        assert!(h & 0x02 != 0, "every OBU has a size field");
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let b = frame[i];
            i += 1;
            size |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        out.push((h, x, frame[i..i + size].to_vec()));
        i += size;
    }
    out
}

#[test]
fn av1_keeps_obu_headers_and_sequence_header_clear() {
    let (mut tx, mut rx) = pair(4);
    let frame = av1_frame();
    let enc = tx.encrypt(Codec::Av1, &frame).unwrap();
    let obus = av1_obus(&enc);
    // the temporal delimiter is gone (the packetizer drops it); three OBUs remain, in order
    let types: Vec<u8> = obus.iter().map(|(h, _, _)| h >> 3 & 0x0f).collect();
    assert_eq!(types, vec![1, 6, 4]);
    assert_eq!(
        obus[0].2,
        [0x00, 0x00, 0x00, 0x0a, 0x0b, 0x2c],
        "sequence header in the clear"
    );
    assert_eq!(obus[1].1, Some(0x10), "extension byte kept");
    let plain_frame: Vec<u8> = (0..400u32).map(|i| (i * 7 % 256) as u8).collect();
    assert_eq!(obus[1].2.len(), plain_frame.len(), "frame OBU: same length");
    assert_ne!(obus[1].2[..32], plain_frame[..32], "frame OBU encrypted");
    // the last OBU carries the SFrame header and the tag
    assert!(obus[2].2.len() >= 120 + 1 + 16);
    let expected = sotto_e2ee::av1::canonical_form(&frame).unwrap();
    assert_eq!(rx.decrypt(Codec::Av1, &enc).unwrap(), expected);
    assert_eq!(av1_obus(&expected).len(), 3);
}

#[test]
fn av1_size_fields_may_be_rewritten_by_the_transport() {
    // A depacketizer writes the size fields again, here with 2-byte leb128: still decrypts.
    let (mut tx, mut rx) = pair(6);
    let frame = av1_frame();
    let enc = tx.encrypt(Codec::Av1, &frame).unwrap();
    let mut rewritten = Vec::new();
    for (h, x, payload) in av1_obus(&enc) {
        rewritten.extend(av1_obu(h >> 3 & 0x0f, x, &payload, 3));
    }
    assert_ne!(rewritten, enc);
    let expected = sotto_e2ee::av1::canonical_form(&frame).unwrap();
    assert_eq!(rx.decrypt(Codec::Av1, &rewritten).unwrap(), expected);
    // but dropping, reordering or changing an OBU's type is caught
    let obus = av1_obus(&enc);
    let mut swapped = Vec::new();
    for (h, x, payload) in [&obus[1], &obus[0], &obus[2]] {
        swapped.extend(av1_obu(h >> 3 & 0x0f, *x, payload, 3));
    }
    assert!(rx.decrypt(Codec::Av1, &swapped).is_err());
    let mut retyped = Vec::new();
    for (i, (h, x, payload)) in obus.iter().enumerate() {
        let t = if i == 1 { 3 } else { h >> 3 & 0x0f };
        retyped.extend(av1_obu(t, *x, payload, 3));
    }
    assert!(rx.decrypt(Codec::Av1, &retyped).is_err());
}

#[test]
fn tampering_any_single_byte_fails() {
    for (codec, frame) in [
        (Codec::Opus, vec![0x78u8; 60]),
        (Codec::Vp8, vp8_key_frame(64)),
        (Codec::Vp8, vp8_delta_frame(64)),
        (Codec::H264, h264_frame()),
        (Codec::Av1, vp8_key_frame(40)),
        (Codec::Av1, av1_frame()),
        (Codec::Vp8, vp8_key_frame(5)), // short: whole-frame layout
    ] {
        let (mut tx, mut rx) = pair(2);
        let enc = tx.encrypt(codec, &frame).unwrap();
        for i in 0..enc.len() {
            for flip in [0x01u8, 0x80] {
                let mut bad = enc.clone();
                bad[i] ^= flip;
                assert!(
                    rx.decrypt(codec, &bad).is_err(),
                    "{codec:?} byte {i} flip {flip:#x}"
                );
            }
        }
        // truncation and extension too
        assert!(rx.decrypt(codec, &enc[..enc.len() - 1]).is_err());
        let mut longer = enc.clone();
        longer.push(7);
        assert!(rx.decrypt(codec, &longer).is_err());
        // the genuine one still decrypts afterwards (failures did not move the window)
        assert_eq!(
            rx.decrypt(codec, &enc).unwrap(),
            decrypted_form(codec, &frame)
        );
    }
}

#[test]
fn replayed_and_too_old_frames_are_dropped_and_counted() {
    let mut rng = TestRng::new(11);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    let frames: Vec<Vec<u8>> = (0..1_200u32)
        .map(|i| a.encrypt_frame(Codec::Opus, &i.to_be_bytes()).unwrap())
        .collect();
    // out of order inside the window is fine
    assert!(b.decrypt_frame("a", Codec::Opus, &frames[5], 0).is_ok());
    assert!(b.decrypt_frame("a", Codec::Opus, &frames[3], 0).is_ok());
    // a copy of the newest frame right away: a duplicate delivery, not a replay
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &frames[5], 0),
        Err(E2eeError::DuplicateFrame)
    );
    assert!(b.decrypt_frame("a", Codec::Opus, &frames[1_199], 0).is_ok());
    // counter 4 is now more than 1,024 behind 1,199
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &frames[4], 0),
        Err(E2eeError::ReplayedFrame)
    );
    assert!(b.decrypt_frame("a", Codec::Opus, &frames[200], 0).is_ok());
    // a copy of an accepted frame 999 counters below the newest: a replay
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &frames[200], 0),
        Err(E2eeError::ReplayedFrame)
    );
    let s = b.stats();
    assert_eq!(
        (s.decrypted, s.dropped_replay, s.dropped_duplicate),
        (4, 2, 1)
    );
    // tampered: counted as auth failure; unknown sender: unknown key; junk: malformed
    let mut bad = frames[1_150].clone();
    bad[3] ^= 1;
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &bad, 0),
        Err(E2eeError::AuthenticationFailed)
    );
    assert_eq!(
        b.decrypt_frame("nobody", Codec::Opus, &frames[1_150], 0),
        Err(E2eeError::UnknownKey)
    );
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &[], 0),
        Err(E2eeError::MalformedFrame)
    );
    let s = b.stats();
    assert_eq!(
        (s.dropped_auth, s.dropped_unknown_key, s.dropped_malformed),
        (1, 1, 1)
    );
}

/// The overheads: audio (RFC 9605's AES_128_CTR_HMAC_SHA256_64: 8-byte tag) is 8 bytes plus
/// the header, video (AES_128_GCM_SHA256_128) 16 plus the header; the header is the config byte
/// (KID inside) plus the counter's minimal bytes; each kind counts on its own. Audio stays at
/// most 10 bytes for the first 256 frames of a key, 11 for the first 65,536 (21.8 minutes at
/// 50 frames/s), 12 for the first 2^24; video at most 20 for the first 2^24.
#[test]
fn overhead_audio_8_plus_header_and_video_16_plus_header() {
    let (mut tx, mut rx) = pair(7);
    let opus = vec![0x78u8; 120];
    let vp8 = vp8_delta_frame(1200);
    let mut measured = Vec::new();
    for ctr in [
        0u64,
        7,
        8,
        255,
        256,
        65_535,
        65_536,
        (1 << 24) - 1,
        1 << 24,
        (1 << 32) - 1,
        1 << 32,
        (1 << 40) - 1,
    ] {
        tx.skip_to_counter(ctr);
        let a = tx.encrypt(Codec::Opus, &opus).unwrap();
        assert_eq!(rx.decrypt(Codec::Opus, &a).unwrap(), opus);
        let v = tx.encrypt(Codec::Vp8, &vp8).unwrap();
        assert_eq!(rx.decrypt(Codec::Vp8, &v).unwrap(), vp8);
        measured.push((ctr, a.len() - opus.len(), v.len() - vp8.len()));
    }
    println!("overhead by counter (counter, audio, video): {measured:?}");
    let audio: Vec<usize> = measured.iter().map(|m| m.1).collect();
    let video: Vec<usize> = measured.iter().map(|m| m.2).collect();
    assert_eq!(audio, vec![9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14]);
    assert_eq!(video, vec![17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22, 22]);
    assert!(measured
        .iter()
        .filter(|(c, _, _)| *c < 1 << 24)
        .all(|(_, a, v)| *a <= 12 && *v <= 20));
}

/// Audio and video have their own keys and counters: a frame of one kind does not open as the
/// other, and sending one kind does not move the other's counter.
#[test]
fn audio_and_video_are_separate_contexts() {
    let (mut tx, mut rx) = pair(1);
    let opus = vec![0x55u8; 90];
    for _ in 0..5 {
        tx.encrypt(Codec::Opus, &opus).unwrap();
    }
    assert_eq!(tx.next_counter(MediaKind::Audio), 5);
    assert_eq!(tx.next_counter(MediaKind::Video), 0);
    let a = tx.encrypt(Codec::Opus, &opus).unwrap();
    // the same bytes read as a video frame: another key (and another tag length)
    assert!(rx.decrypt(Codec::Other, &a).is_err());
    assert!(rx.decrypt(Codec::Vp9, &a).is_err());
    assert_eq!(rx.decrypt(Codec::Opus, &a).unwrap(), opus);
    // any audio type shares the audio context: OtherAudio opens what Opus would (whole frame)
    let pcm = vec![0x11u8; 160];
    let p = tx.encrypt(Codec::OtherAudio, &pcm).unwrap();
    assert_eq!(p.len() - pcm.len(), 9);
    assert_eq!(rx.decrypt(Codec::OtherAudio, &p).unwrap(), pcm);
    let v = tx.encrypt(Codec::Vp9, &pcm).unwrap();
    assert_eq!(v.len() - pcm.len(), 17);
    assert!(rx.decrypt(Codec::OtherAudio, &v).is_err());
    assert_eq!(rx.decrypt(Codec::Vp9, &v).unwrap(), pcm);
}

/// The suites travel with the key: a sender that uses AES-GCM for audio too is opened with it.
#[test]
fn suites_come_with_the_sender_key() {
    for (audio, overhead) in [
        (Suite::AesGcm128Sha256, 17),
        (Suite::AesCtr128HmacSha256_80, 11),
        (Suite::AesCtr128HmacSha256_64, 9),
    ] {
        let key = SenderKey::with_suites(
            [3u8; 16],
            FrameSuites {
                audio,
                video: Suite::AesGcm128Sha256,
            },
        );
        let mut tx = FrameSender::new(&key, 2).unwrap();
        let mut rx = FrameReceiver::new(&key, 2).unwrap();
        let opus = vec![0x42u8; 60];
        let a = tx.encrypt(Codec::Opus, &opus).unwrap();
        assert_eq!(a.len() - opus.len(), overhead, "{audio:?}");
        assert_eq!(rx.decrypt(Codec::Opus, &a).unwrap(), opus);
        // the default receiver (64-bit tag) does not open it unless the suite is the same
        let mut default_rx = FrameReceiver::new(&SenderKey::from_bytes([3u8; 16]), 2).unwrap();
        assert_eq!(
            default_rx.decrypt(Codec::Opus, &a).is_ok(),
            audio == Suite::AesCtr128HmacSha256_64
        );
    }
}

/// The platform provider's path (what the crypto Worker runs on WebCrypto) gives the same bytes
/// as the RustCrypto path, and settles replay the same way. The platform is played here by
/// `aes-gcm` keyed with the key handed out for import.
#[test]
fn platform_path_matches_the_software_path() {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let key = SenderKey::from_bytes([6u8; 16]);
    let mut platform = FrameSender::new(&key, 3).unwrap();
    let mut software = FrameSender::new(&key, 3).unwrap();
    let mut rx = FrameReceiver::new(&key, 3).unwrap();
    let mut rx_soft = FrameReceiver::new(&key, 3).unwrap();

    // the raw key goes out once per key, and only for AES-GCM (video)
    let [audio_key, video_key] = platform.keys_mut();
    assert!(audio_key.take_platform_key().is_none());
    let raw = video_key.take_platform_key().unwrap();
    assert!(video_key.take_platform_key().is_none());
    let gcm = aes_gcm::Aes128Gcm::new_from_slice(&raw[..]).unwrap();
    let rx_keys = rx.contexts_mut();
    let rx_raw = rx_keys[1].key_mut().take_platform_key().unwrap();
    assert_eq!(raw[..], rx_raw[..]);

    for frame in [
        vp8_key_frame(3000),
        vp8_delta_frame(700),
        vp8_delta_frame(40),
    ] {
        let job = platform
            .begin_seal(Codec::Vp8, &frame[..32.min(frame.len())], frame.len())
            .unwrap()
            .unwrap();
        let n = job.prefix_len;
        let ct = gcm
            .encrypt(
                &job.nonce.into(),
                Payload {
                    msg: &frame[n..],
                    aad: job.aad.aad(),
                },
            )
            .unwrap();
        let sent = [&frame[..n], job.aad.header(), &ct].concat();
        assert_eq!(sent, software.encrypt(Codec::Vp8, &frame).unwrap());

        // receive on the platform: begin, decrypt, end
        let job = rx
            .begin_open(Codec::Vp8, &sent[..32], sent.len())
            .unwrap()
            .unwrap();
        let plain = gcm
            .decrypt(
                &job.nonce.into(),
                Payload {
                    msg: &sent[job.body_start..],
                    aad: job.aad.aad(),
                },
            )
            .unwrap();
        // a second copy of the same frame, begun before the first settled, is refused when it
        // settles (the window records the first): an authentic copy of a recent frame is a
        // duplicate, as on the software path
        let twin = rx
            .begin_open(Codec::Vp8, &sent[..32], sent.len())
            .unwrap()
            .unwrap();
        rx.end_open(&job, true).unwrap();
        assert_eq!(rx.end_open(&twin, true), Err(E2eeError::DuplicateFrame));
        assert_eq!([&sent[..job.prefix_len], &plain].concat(), frame);
        // and a copy that arrives later is still authenticated first, then refused the same
        // way on both paths; one whose tag fails is an authentication failure
        let copy = rx
            .begin_open(Codec::Vp8, &sent[..32], sent.len())
            .unwrap()
            .unwrap();
        assert_eq!(rx.end_open(&copy, true), Err(E2eeError::DuplicateFrame));
        assert_eq!(
            rx.end_open(&copy, false),
            Err(E2eeError::AuthenticationFailed)
        );
        assert_eq!(rx_soft.decrypt(Codec::Vp8, &sent).unwrap(), frame);
        assert_eq!(
            rx_soft.decrypt(Codec::Vp8, &sent),
            Err(E2eeError::DuplicateFrame)
        );
    }
    // a tag the platform refused is a failure, and does not record the counter
    let frame = vp8_delta_frame(500);
    let sent = software.encrypt(Codec::Vp8, &frame).unwrap();
    let job = rx
        .begin_open(Codec::Vp8, &sent[..32], sent.len())
        .unwrap()
        .unwrap();
    assert_eq!(
        rx.end_open(&job, false),
        Err(E2eeError::AuthenticationFailed)
    );
    let job = rx
        .begin_open(Codec::Vp8, &sent[..32], sent.len())
        .unwrap()
        .unwrap();
    rx.end_open(&job, true).unwrap();
    // audio, H.264 and AV1 stay on the software path
    assert!(platform
        .begin_seal(Codec::Opus, &[1; 32], 500)
        .unwrap()
        .is_none());
    assert!(platform
        .begin_seal(Codec::H264, &[0; 32], 500)
        .unwrap()
        .is_none());
    assert!(platform
        .begin_seal(Codec::Av1, &[0; 32], 500)
        .unwrap()
        .is_none());
    let a = software.encrypt(Codec::Opus, &[9u8; 400]).unwrap();
    assert!(rx
        .begin_open(Codec::Opus, &a[..32], a.len())
        .unwrap()
        .is_none());
}

/// A short-tag context takes at most MAX_SHORT_TAG_FAILURES failed authentications; then it
/// refuses every frame, authentic or not (the forgery budget). A full tag has no such budget.
#[test]
fn short_tags_have_a_forgery_budget() {
    let (mut tx, mut rx) = pair(0);
    let opus = vec![0x31u8; 40];
    let good = tx.encrypt(Codec::Opus, &opus).unwrap();
    let mut forged = tx.encrypt(Codec::Opus, &opus).unwrap();
    *forged.last_mut().unwrap() ^= 1;
    for _ in 0..MAX_SHORT_TAG_FAILURES {
        assert_eq!(
            rx.decrypt(Codec::Opus, &forged),
            Err(E2eeError::AuthenticationFailed)
        );
    }
    assert_eq!(
        rx.decrypt(Codec::Opus, &good),
        Err(E2eeError::AuthenticationFailed)
    );
    // video (128-bit tag) is unaffected
    let v = tx.encrypt(Codec::Vp8, &vp8_delta_frame(100)).unwrap();
    let mut bad = v.clone();
    *bad.last_mut().unwrap() ^= 1;
    for _ in 0..1000 {
        assert!(rx.decrypt(Codec::Vp8, &bad).is_err());
    }
    assert!(rx.decrypt(Codec::Vp8, &v).is_ok());
}

#[test]
fn frames_over_one_mib_are_refused() {
    let (mut tx, mut rx) = pair(0);
    let big = vec![1u8; MAX_FRAME_LEN + 1];
    assert_eq!(tx.encrypt(Codec::Vp8, &big), Err(E2eeError::FrameTooLarge));
    assert_eq!(rx.decrypt(Codec::Vp8, &big), Err(E2eeError::FrameTooLarge));
    // exactly at the limit the protected frame would exceed it
    let edge = vec![1u8; MAX_FRAME_LEN];
    assert_eq!(tx.encrypt(Codec::Vp8, &edge), Err(E2eeError::FrameTooLarge));
    let ok = vec![1u8; MAX_FRAME_LEN - 64];
    let enc = tx.encrypt(Codec::Vp8, &ok).unwrap();
    assert_eq!(rx.decrypt(Codec::Vp8, &enc).unwrap(), ok);
}

#[test]
fn wrong_key_or_epoch_fails() {
    let (mut tx, _) = pair(4);
    let enc = tx.encrypt(Codec::Vp8, &vp8_key_frame(100)).unwrap();
    let mut other = FrameReceiver::new(&SenderKey::from_bytes([8u8; 16]), 4).unwrap();
    assert_eq!(
        other.decrypt(Codec::Vp8, &enc),
        Err(E2eeError::AuthenticationFailed)
    );
    let mut wrong_epoch = FrameReceiver::new(&SenderKey::from_bytes([9u8; 16]), 5).unwrap();
    assert_eq!(
        wrong_epoch.decrypt(Codec::Vp8, &enc),
        Err(E2eeError::UnknownKey)
    );
    // same KID (epoch 12 = 4 mod 8) but different epoch: key derivation is the same, so the
    // base key must differ per epoch (it does: every epoch draws a fresh key)
    let mut same_kid = FrameReceiver::new(&SenderKey::from_bytes([9u8; 16]), 12).unwrap();
    assert!(same_kid.decrypt(Codec::Vp8, &enc).is_ok());
}

/// Firefox delivers some frames several times in a row (measured on loopback: up to 11 copies
/// of one frame within 20 ms). An authentic copy of a frame whose counter is fewer than
/// DUPLICATE_SPAN below the newest accepted one is a duplicate, counted apart from replays;
/// older copies are replays, and a copy that does not authenticate is a forgery. None of them
/// is delivered or moves the window.
#[test]
fn authentic_copies_of_recent_frames_are_duplicates_older_ones_replays() {
    use sotto_e2ee::frame::DUPLICATE_SPAN;
    let mut rng = TestRng::new(12);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    let span = usize::try_from(DUPLICATE_SPAN).unwrap();
    // VP8 frames: the codec layout (clear payload header) is tried before the whole-frame one,
    // and the duplicate verdict must survive that fallback.
    let frames: Vec<Vec<u8>> = (0..span + 10)
        .map(|i| {
            let mut f = vp8_delta_frame(64);
            f[10] = i as u8;
            a.encrypt_frame(Codec::Vp8, &f).unwrap()
        })
        .collect();
    let newest = span + 8;
    for f in &frames[..=newest] {
        assert!(b.decrypt_frame("a", Codec::Vp8, f, 0).is_ok());
    }
    // the newest, again and again (as Firefox does): duplicates
    for _ in 0..3 {
        assert_eq!(
            b.decrypt_frame("a", Codec::Vp8, &frames[newest], 0),
            Err(E2eeError::DuplicateFrame)
        );
    }
    // DUPLICATE_SPAN - 1 counters below the newest: still a duplicate; DUPLICATE_SPAN: a replay
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &frames[newest - (span - 1)], 0),
        Err(E2eeError::DuplicateFrame)
    );
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &frames[newest - span], 0),
        Err(E2eeError::ReplayedFrame)
    );
    // a copy of the newest frame's counter that does not authenticate: a forgery
    let mut forged = frames[newest].clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &forged, 0),
        Err(E2eeError::AuthenticationFailed)
    );
    // nothing moved the window: the next frame decrypts, and the newest is still a duplicate
    assert!(b
        .decrypt_frame("a", Codec::Vp8, &frames[newest + 1], 0)
        .is_ok());
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &frames[newest], 0),
        Err(E2eeError::DuplicateFrame)
    );
    let s = b.stats();
    assert_eq!(
        (
            s.decrypted,
            s.dropped_duplicate,
            s.dropped_replay,
            s.dropped_auth
        ),
        (newest as u64 + 2, 5, 1, 1)
    );
    let p = s.peers["a"];
    assert_eq!(
        (p.dropped_duplicate, p.dropped_replay, p.dropped_auth),
        (5, 1, 1)
    );
}

/// Audio and video count apart, so the duplicate span is in counters of one kind: a video frame
/// re-sent 16 video frames later (the shortest delay of the test builds' replay attacker, which
/// keeps the last 16-29 video frames) is a replay even with audio flowing in between, and an
/// audio copy fewer than DUPLICATE_SPAN audio frames old is still a duplicate however much
/// video was sent meanwhile.
#[test]
fn the_duplicate_span_counts_frames_of_one_kind() {
    use sotto_e2ee::frame::DUPLICATE_SPAN;
    let mut rng = TestRng::new(13);
    let room = room(&mut rng);
    let mut a = member(&mut rng, &room, "a");
    let mut b = member(&mut rng, &room, "b");
    sync(&mut rng, &mut [&mut a, &mut b], 0);
    let opus = vec![0x33u8; 80];
    let mut video = Vec::new();
    let mut audio = Vec::new();
    for i in 0..40u8 {
        let mut f = vp8_delta_frame(200);
        f[10] = i;
        let v = a.encrypt_frame(Codec::Vp8, &f).unwrap();
        assert!(b.decrypt_frame("a", Codec::Vp8, &v, 0).is_ok());
        video.push(v);
        // two audio frames per video frame (50 vs 25 frames/s)
        for _ in 0..2 {
            let s = a.encrypt_frame(Codec::Opus, &opus).unwrap();
            assert!(b.decrypt_frame("a", Codec::Opus, &s, 0).is_ok());
            audio.push(s);
        }
    }
    for age in 16..=29 {
        assert_eq!(
            b.decrypt_frame("a", Codec::Vp8, &video[39 - age], 0),
            Err(E2eeError::ReplayedFrame),
            "video {age} frames old"
        );
    }
    let recent = audio.len() - usize::try_from(DUPLICATE_SPAN).unwrap();
    assert_eq!(
        b.decrypt_frame("a", Codec::Opus, &audio[recent + 1], 0),
        Err(E2eeError::DuplicateFrame)
    );
    assert_eq!(
        b.decrypt_frame("a", Codec::Vp8, &video[39], 0),
        Err(E2eeError::DuplicateFrame)
    );
}

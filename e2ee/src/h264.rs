//! NAL-aware protection of H.264 (Annex B) frames.
//!
//! Packetizers (RFC 6184) and WebRTC's receive path split an Annex B frame on start codes and
//! read every NAL unit header (and, for parameter sets and the start of a slice header, a few
//! bytes more), so those stay in the clear; everything else is encrypted with **one** SFrame
//! operation per frame (one counter, one tag), and the encrypted bytes are escaped so that no
//! start code can appear inside them.
//!
//! ```text
//! input  (Annex B):
//!   [00 00 00 01][H1| P1 .......][00 00 01][H2| P2 ....]  ...  [00 00 01][Hn| Pn ..........]
//!   start code    clear | plain   start code                                clear | plain
//!
//!   clear_i = NAL header (1 byte), and
//!             - SPS/PPS/AUD/end of seq/stream/filler/SPS ext/subset SPS (7-13, 15): whole NAL
//!             - coded slices (1, 5): + 2 bytes (first_mb_in_slice, slice_type, pps_id start)
//!             - SVC/MVC prefix and extension (14, 20): + 3 bytes (the NAL header extension)
//!   plain_i = the rest of the NAL
//!
//!   metadata (AAD) = for each NAL: u32 len(clear_i) || clear_i || u32 len(plain_i)
//!   SFrame(plain_1 || ... || plain_n)  =  hdr || ct_1 || ... || ct_n || tag   (|ct_i| = |plain_i|)
//!
//! output:
//!   [start code][clear_1| E(ct_1 || 80)] ... [start code][clear_k| E(hdr || ct_k || tag || 80)] ...
//!
//!   k    = the carrier: the last NAL that is not a whole-clear type and is at least as long as
//!          its clear part; it carries the SFrame header and the tag
//!   80   = a stop byte (like rbsp_stop_one_bit), so a protected part never ends in 00 (trailing
//!          zeros belong to the next start code in Annex B)
//!   E(x) = emulation prevention (H.264 §7.4.1): after two 00 bytes (counting the clear bytes
//!          just before) a byte <= 03 gets 03 inserted before it, so 00 00 0x (x <= 2) never
//!          appears; the receiver removes those 03 bytes, refusing non-canonical escapes.
//!   NALs with an empty plain part are passed as they are (their clear bytes are in the AAD).
//! ```
//! Start codes (3 or 4 bytes, and trailing zero bytes) are transport framing: copied as they are,
//! not authenticated (a depacketizer rewrites them). Frames that are not Annex B or have no
//! carrier fall back to whole-frame encryption (see [`crate::codec`]).

use core::ops::Range;

use crate::frame::{
    put_u32, split_sealed, PartsReader, ReceivedParts, Sealed, SealedParts, Segments,
};
use crate::E2eeError;

/// Stop byte that ends every protected part.
const STOP: u8 = 0x80;

/// Bytes kept clear for a NAL of `nal_type`; `None` = the whole NAL stays clear.
fn clear_rule(nal_type: u8) -> Option<usize> {
    match nal_type {
        7..=13 | 15 => None,
        1 | 5 => Some(3),
        14 | 20 => Some(4),
        _ => Some(1),
    }
}

/// One NAL unit in a frame: the start code region before it, and its body.
#[derive(Clone)]
struct Nal {
    sc: Range<usize>,
    body: Range<usize>,
}

/// Splits an Annex B frame. `None` unless it starts with (zeros and) a start code and every NAL
/// body is non-empty. Trailing zero bytes of a NAL belong to the next start code (or the tail).
fn split(data: &[u8]) -> Option<(Vec<Nal>, Range<usize>)> {
    let mut starts = Vec::new(); // index of each 00 00 01
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i);
            i += 3;
        } else {
            i += 1;
        }
    }
    let first = *starts.first()?;
    if data[..first].iter().any(|&b| b != 0) {
        return None;
    }
    let mut nals = Vec::with_capacity(starts.len());
    let mut sc_start = 0;
    for (j, &s) in starts.iter().enumerate() {
        let body_start = s + 3;
        let raw_end = starts.get(j + 1).copied().unwrap_or(data.len());
        let mut body_end = raw_end;
        while body_end > body_start && data[body_end - 1] == 0 {
            body_end -= 1;
        }
        if body_end == body_start {
            return None;
        }
        nals.push(Nal {
            sc: sc_start..body_start,
            body: body_start..body_end,
        });
        sc_start = body_end;
    }
    Some((nals, sc_start..data.len()))
}

fn trailing_zeros(bytes: &[u8]) -> usize {
    bytes.iter().rev().take(2).take_while(|&&b| b == 0).count()
}

/// Emulation prevention: appends `bytes` escaped, given `zeros` zero bytes just before.
fn escape_into(out: &mut Vec<u8>, bytes: &[u8], mut zeros: usize) {
    for &b in bytes {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
}

/// Removes emulation prevention bytes; refuses `00 00 0x` (x <= 2) and non-canonical escapes.
fn unescape(bytes: &[u8], mut zeros: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut after_epb = false;
    for &b in bytes {
        if after_epb && b > 3 {
            return None;
        }
        after_epb = false;
        if zeros >= 2 {
            if b == 3 {
                zeros = 0;
                after_epb = true;
                continue;
            }
            if b <= 2 {
                return None;
            }
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    if after_epb {
        return None;
    }
    Some(out)
}

fn clear_len(data: &[u8], nal: &Nal) -> usize {
    let body = &data[nal.body.clone()];
    match clear_rule(body[0] & 0x1f) {
        None => body.len(),
        Some(n) => n.min(body.len()),
    }
}

/// Protects an H.264 frame. `seal(meta, payload)` must return `meta || hdr || ct || tag`.
/// `Ok(None)` if the frame has no H.264 layout (the caller encrypts it whole).
pub(crate) fn protect(
    frame: &[u8],
    seal: impl FnOnce(&[u8], &[u8]) -> Result<Sealed, E2eeError>,
) -> Result<Option<Vec<u8>>, E2eeError> {
    let Some((nals, tail)) = split(frame) else {
        return Ok(None);
    };
    let clears: Vec<usize> = nals.iter().map(|n| clear_len(frame, n)).collect();
    let Some(k) = nals.iter().rposition(|n| {
        let body = &frame[n.body.clone()];
        clear_rule(body[0] & 0x1f).is_some_and(|rule| body.len() >= rule)
    }) else {
        return Ok(None);
    };

    let mut meta = Vec::new();
    let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(frame.len()));
    for (nal, &c) in nals.iter().zip(&clears) {
        let body = &frame[nal.body.clone()];
        put_u32(&mut meta, c);
        meta.extend_from_slice(&body[..c]);
        put_u32(&mut meta, body.len() - c);
        plain.extend_from_slice(&body[c..]);
    }

    let sealed = seal(&meta, &plain)?;
    let SealedParts { hdr, ct, tag } = split_sealed(&sealed, meta.len())?;

    let mut out = Vec::with_capacity(frame.len() + frame.len() / 64 + nals.len() + 32);
    let mut offset = 0;
    let mut part = Vec::new();
    for (i, (nal, &c)) in nals.iter().zip(&clears).enumerate() {
        let body = &frame[nal.body.clone()];
        let seg = &ct[offset..offset + body.len() - c];
        offset += seg.len();
        out.extend_from_slice(&frame[nal.sc.clone()]);
        out.extend_from_slice(&body[..c]);
        part.clear();
        if i == k {
            part.extend_from_slice(hdr);
            part.extend_from_slice(seg);
            part.extend_from_slice(tag);
        } else {
            part.extend_from_slice(seg);
        }
        if !part.is_empty() {
            part.push(STOP);
            escape_into(&mut out, &part, trailing_zeros(&body[..c]));
        }
    }
    out.extend_from_slice(&frame[tail]);
    Ok(Some(out))
}

/// A received H.264 frame parsed into metadata, SFrame ciphertext and a plan to rebuild it.
pub(crate) struct Received<'a> {
    data: &'a [u8],
    /// per NAL: start code range, clear range, length of its plaintext segment
    plan: Vec<(Range<usize>, Range<usize>, usize)>,
    tail: Range<usize>,
    pub(crate) parts: ReceivedParts,
}

impl<'a> Received<'a> {
    /// Parses a protected H.264 frame; `None` if it does not have the NAL-aware layout.
    pub(crate) fn parse(data: &'a [u8], tag_len: usize) -> Option<Self> {
        let (nals, tail) = split(data)?;
        let clears: Vec<usize> = nals.iter().map(|n| clear_len(data, n)).collect();
        let k = nals.iter().zip(&clears).rposition(|(n, &c)| {
            let body = &data[n.body.clone()];
            clear_rule(body[0] & 0x1f).is_some() && body.len() > c
        })?;
        let mut protected = Vec::with_capacity(nals.len());
        for (nal, &c) in nals.iter().zip(&clears) {
            let body = &data[nal.body.clone()];
            let rest = &body[c..];
            if rest.is_empty() {
                protected.push(Vec::new());
                continue;
            }
            let mut p = unescape(rest, trailing_zeros(&body[..c]))?;
            if p.pop() != Some(STOP) {
                return None;
            }
            protected.push(p);
        }
        let mut reader = PartsReader::new(protected.get(k)?, data.len(), tag_len)?;
        let mut plan = Vec::with_capacity(nals.len());
        for (i, ((nal, &c), p)) in nals.iter().zip(&clears).zip(&protected).enumerate() {
            let seg: &[u8] = if i == k {
                reader.carrier_ciphertext()
            } else {
                p
            };
            let clear = nal.body.start..nal.body.start + c;
            reader.part(&data[clear.clone()], seg);
            plan.push((nal.sc.clone(), clear, seg.len()));
        }
        Some(Self {
            data,
            plan,
            tail,
            parts: reader.finish(),
        })
    }

    /// The decrypted frame: start codes and clear bytes as received, plaintext segments between.
    pub(crate) fn rebuild(&self, plain: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let mut out = Vec::with_capacity(self.data.len());
        let mut segments = Segments::new(plain);
        for (sc, clear, seg_len) in &self.plan {
            let seg = segments.take(*seg_len)?;
            out.extend_from_slice(&self.data[sc.clone()]);
            out.extend_from_slice(&self.data[clear.clone()]);
            out.extend_from_slice(seg);
        }
        segments.finish()?;
        out.extend_from_slice(&self.data[self.tail.clone()]);
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_and_leaves_no_start_code() {
        let cases: [&[u8]; 5] = [
            &[0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0],
            &[0, 0],
            &[3, 3, 0, 0, 0],
            &[],
            &[0, 0, 1],
        ];
        for case in cases {
            for zeros in 0..3 {
                let mut out = Vec::new();
                escape_into(&mut out, case, zeros);
                let mut all = vec![0u8; zeros];
                all.extend_from_slice(&out);
                assert!(
                    !all.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2),
                    "{case:?}"
                );
                assert_eq!(unescape(&out, zeros).as_deref(), Some(case));
            }
        }
        assert_eq!(unescape(&[0, 0, 1], 0), None);
        assert_eq!(unescape(&[0, 0, 3, 9], 0), None);
        assert_eq!(unescape(&[0, 0, 3], 0), None);
    }

    #[test]
    fn split_finds_nals_and_framing() {
        let data = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x65, 9, 0, 0];
        let (nals, tail) = split(&data).unwrap();
        assert_eq!(nals.len(), 2);
        assert_eq!(&data[nals[0].body.clone()], &[0x67, 1, 2]);
        assert_eq!(&data[nals[1].sc.clone()], &[0, 0, 0, 1]);
        assert_eq!(&data[nals[1].body.clone()], &[0x65, 9]);
        assert_eq!(tail, 13..15);
        assert!(split(&[1, 0, 0, 1, 5]).is_none());
        assert!(split(&[0, 0, 1, 0, 0, 1, 5]).is_none());
        assert!(split(&[]).is_none());
    }
}

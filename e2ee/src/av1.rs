//! OBU-aware protection of AV1 frames (low-overhead bitstream format).
//!
//! WebRTC's AV1 packetizer splits a frame into OBUs by reading every OBU header and size
//! field; it drops temporal delimiters, tile lists and padding, and the receiving side writes
//! the size fields anew. A whole-frame ciphertext has no OBU structure, so such frames never
//! arrive (seen in Chromium: packets flow, zero frames assemble). So the OBU headers stay in
//! the clear, sequence headers stay whole in the clear (they are the SPS of AV1: profile,
//! resolution), and everything else is encrypted with **one** SFrame operation per frame.
//!
//! ```text
//! input:   [H1 (X1) size1 | P1] [H2 (X2) size2 | P2] ... [Hn (Xn) sizen | Pn]
//!           H = OBU header byte, X = extension byte (if H says so), size = leb128 (if H says so)
//!
//!   kept OBUs  = all but temporal delimiters (type 2), tile lists (8) and padding (15), which
//!                the packetizer would drop anyway
//!   clear_i    = H_i with obu_has_size_field cleared, X_i; plus P_i for sequence headers (1)
//!   plain_i    = P_i, or nothing for sequence headers
//!   metadata (AAD) = for each kept OBU: u32 len(clear_i) || clear_i || u32 len(plain_i)
//!   SFrame(plain_1 || ... || plain_n)  =  hdr || ct_1 || ... || ct_n || tag   (|ct_i| = |plain_i|)
//!
//! output:  for each kept OBU: H_i with obu_has_size_field set, X_i, leb128(|part_i|), part_i
//!   part_i = P_i for sequence headers; ct_i otherwise; and for the carrier k (the last OBU
//!            with a non-empty plain part) hdr || ct_k || tag
//! ```
//! The size fields are transport framing (a depacketizer rewrites them): not authenticated,
//! but every length is, through the metadata. A protected frame decrypts to the frame's
//! [`canonical_form`], which is what the depacketizer would deliver anyway. Frames that are
//! not a sequence of OBUs, or have nothing to encrypt, fall back to whole-frame encryption
//! (see [`crate::codec`]) and come back byte for byte.

use core::ops::Range;

use crate::frame::{
    put_u32, split_sealed, PartsReader, ReceivedParts, Sealed, SealedParts, Segments,
};
use crate::E2eeError;

const OBU_HAS_SIZE_FIELD: u8 = 0x02;
const OBU_EXTENSION_FLAG: u8 = 0x04;
const OBU_FORBIDDEN_BIT: u8 = 0x80;
const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_TILE_LIST: u8 = 8;
const OBU_PADDING: u8 = 15;
/// leb128 values in AV1 have at most 8 bytes.
const MAX_LEB128_BYTES: usize = 8;

fn obu_type(header: u8) -> u8 {
    (header >> 3) & 0x0f
}

/// OBUs the RTP packetizer drops: never sent, so never protected.
fn dropped_by_packetizer(header: u8) -> bool {
    matches!(
        obu_type(header),
        OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST | OBU_PADDING
    )
}

fn whole_clear(header: u8) -> bool {
    obu_type(header) == OBU_SEQUENCE_HEADER
}

/// One OBU: its header bytes (1 or 2) and its payload.
struct Obu {
    header: Range<usize>,
    payload: Range<usize>,
}

/// Reads a leb128 value; `(value, bytes read)`. `None` if it is cut short, longer than 8
/// bytes, or does not fit in a `usize`.
fn read_leb128(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().take(MAX_LEB128_BYTES).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((usize::try_from(value).ok()?, i + 1));
        }
    }
    None
}

fn write_leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        // The mask leaves 7 bits, which always fit.
        let byte = u8::try_from(value & 0x7f).unwrap_or(0x7f);
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Splits a frame into OBUs. `None` unless the whole frame is a sequence of well-formed OBUs
/// (forbidden bit clear, sizes within the frame); an OBU without a size field runs to the end.
fn split(data: &[u8]) -> Option<Vec<Obu>> {
    let mut obus = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let h = data[i];
        if h & OBU_FORBIDDEN_BIT != 0 {
            return None;
        }
        let header_len = if h & OBU_EXTENSION_FLAG != 0 { 2 } else { 1 };
        let mut j = i.checked_add(header_len)?;
        if j > data.len() {
            return None;
        }
        let size = if h & OBU_HAS_SIZE_FIELD != 0 {
            let (size, n) = read_leb128(&data[j..])?;
            j += n;
            size
        } else {
            data.len() - j
        };
        let end = j.checked_add(size)?;
        if end > data.len() {
            return None;
        }
        obus.push(Obu {
            header: i..i + header_len,
            payload: j..end,
        });
        i = end;
    }
    (!obus.is_empty()).then_some(obus)
}

/// The OBU header as authenticated: with `obu_has_size_field` cleared (transport framing).
/// The OBUs of a frame that travel (all but those the packetizer drops), and the index among
/// them of the carrier: the last OBU with an encrypted part. `None` if the frame is not a
/// sequence of OBUs or has nothing to encrypt.
fn kept_and_carrier(data: &[u8]) -> Option<(Vec<Obu>, usize)> {
    let kept: Vec<Obu> = split(data)?
        .into_iter()
        .filter(|o| !dropped_by_packetizer(data[o.header.start]))
        .collect();
    let carrier = kept
        .iter()
        .rposition(|o| !whole_clear(data[o.header.start]) && !o.payload.is_empty())?;
    Some((kept, carrier))
}

fn push_normalized_header(out: &mut Vec<u8>, header: &[u8]) {
    if let Some((&first, rest)) = header.split_first() {
        out.push(first & !OBU_HAS_SIZE_FIELD);
        out.extend_from_slice(rest);
    }
}

/// Writes one OBU with a size field.
fn push_obu(out: &mut Vec<u8>, header: &[u8], payload: &[&[u8]]) {
    if let Some((&first, rest)) = header.split_first() {
        out.push(first | OBU_HAS_SIZE_FIELD);
        out.extend_from_slice(rest);
    }
    write_leb128(out, payload.iter().map(|p| p.len()).sum());
    for p in payload {
        out.extend_from_slice(p);
    }
}

/// What a protected AV1 frame decrypts to, as WebRTC's depacketizer would deliver it:
/// temporal delimiters, tile lists and padding removed, every OBU with a (minimal) size field.
/// `None` when the frame does not take the OBU-aware layout; it is then encrypted whole and
/// comes back byte for byte.
pub fn canonical_form(frame: &[u8]) -> Option<Vec<u8>> {
    let (kept, _) = kept_and_carrier(frame)?;
    let mut out = Vec::with_capacity(frame.len());
    for o in &kept {
        push_obu(
            &mut out,
            &frame[o.header.clone()],
            &[&frame[o.payload.clone()]],
        );
    }
    Some(out)
}

/// Protects an AV1 frame. `seal(meta, payload)` must return `meta || hdr || ct || tag`.
/// `Ok(None)` if the frame has no AV1 layout (the caller encrypts it whole).
pub(crate) fn protect(
    frame: &[u8],
    seal: impl FnOnce(&[u8], &[u8]) -> Result<Sealed, E2eeError>,
) -> Result<Option<Vec<u8>>, E2eeError> {
    let Some((kept, k)) = kept_and_carrier(frame) else {
        return Ok(None);
    };

    let mut meta = Vec::new();
    let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(frame.len()));
    for o in &kept {
        let header = &frame[o.header.clone()];
        let payload = &frame[o.payload.clone()];
        let mut clear = Vec::with_capacity(header.len());
        push_normalized_header(&mut clear, header);
        if whole_clear(header[0]) {
            clear.extend_from_slice(payload);
            put_u32(&mut meta, clear.len());
            meta.extend_from_slice(&clear);
            put_u32(&mut meta, 0);
        } else {
            put_u32(&mut meta, clear.len());
            meta.extend_from_slice(&clear);
            put_u32(&mut meta, payload.len());
            plain.extend_from_slice(payload);
        }
    }

    let sealed = seal(&meta, &plain)?;
    let SealedParts { hdr, ct, tag } = split_sealed(&sealed, meta.len())?;

    let mut out = Vec::with_capacity(sealed.bytes.len() + kept.len() * 4);
    let mut offset = 0;
    for (i, o) in kept.iter().enumerate() {
        let header = &frame[o.header.clone()];
        let payload = &frame[o.payload.clone()];
        if whole_clear(header[0]) {
            push_obu(&mut out, header, &[payload]);
            continue;
        }
        let seg = ct
            .get(offset..offset + payload.len())
            .ok_or(E2eeError::Internal)?;
        offset += seg.len();
        if i == k {
            push_obu(&mut out, header, &[hdr, seg, tag]);
        } else {
            push_obu(&mut out, header, &[seg]);
        }
    }
    Ok(Some(out))
}

/// One received OBU: header bytes, and either its clear payload or the length of its
/// plaintext segment.
struct Part {
    header: Range<usize>,
    clear_payload: Option<Range<usize>>,
    plain_len: usize,
}

/// A received AV1 frame parsed into metadata, SFrame ciphertext and a plan to rebuild it.
pub(crate) struct Received<'a> {
    data: &'a [u8],
    plan: Vec<Part>,
    pub(crate) parts: ReceivedParts,
}

impl<'a> Received<'a> {
    /// Parses a protected AV1 frame; `None` if it does not have the OBU-aware layout.
    pub(crate) fn parse(data: &'a [u8], tag_len: usize) -> Option<Self> {
        let (kept, k) = kept_and_carrier(data)?;
        let mut reader = PartsReader::new(&data[kept[k].payload.clone()], data.len(), tag_len)?;
        let mut plan = Vec::with_capacity(kept.len());
        for (i, o) in kept.iter().enumerate() {
            let header = &data[o.header.clone()];
            let mut clear = Vec::with_capacity(header.len());
            push_normalized_header(&mut clear, header);
            if whole_clear(header[0]) {
                clear.extend_from_slice(&data[o.payload.clone()]);
                reader.part(&clear, &[]);
                plan.push(Part {
                    header: o.header.clone(),
                    clear_payload: Some(o.payload.clone()),
                    plain_len: 0,
                });
                continue;
            }
            let seg: &[u8] = if i == k {
                reader.carrier_ciphertext()
            } else {
                &data[o.payload.clone()]
            };
            reader.part(&clear, seg);
            plan.push(Part {
                header: o.header.clone(),
                clear_payload: None,
                plain_len: seg.len(),
            });
        }
        Some(Self {
            data,
            plan,
            parts: reader.finish(),
        })
    }

    /// The decrypted frame: every OBU with its header, a size field and its plaintext.
    pub(crate) fn rebuild(&self, plain: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let mut out = Vec::with_capacity(plain.len() + self.plan.len() * 6);
        let mut segments = Segments::new(plain);
        for part in &self.plan {
            let header = &self.data[part.header.clone()];
            if let Some(clear) = &part.clear_payload {
                push_obu(&mut out, header, &[&self.data[clear.clone()]]);
                continue;
            }
            push_obu(&mut out, header, &[segments.take(part.plain_len)?]);
        }
        segments.finish()?;
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn obu(obu_type: u8, extension: Option<u8>, payload: &[u8]) -> Vec<u8> {
        let mut header = vec![(obu_type << 3) | OBU_HAS_SIZE_FIELD];
        if let Some(x) = extension {
            header[0] |= OBU_EXTENSION_FLAG;
            header.push(x);
        }
        let mut out = header;
        write_leb128(&mut out, payload.len());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn leb128_round_trips_and_refuses_overlong() {
        for v in [
            0usize,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            1 << 20,
            u32::MAX as usize,
        ] {
            let mut buf = Vec::new();
            write_leb128(&mut buf, v);
            assert_eq!(read_leb128(&buf), Some((v, buf.len())), "{v}");
        }
        // Non-minimal encodings (as a depacketizer might write) are read.
        assert_eq!(read_leb128(&[0x85, 0x80, 0x00]), Some((5, 3)));
        // Cut short, or more than 8 bytes.
        assert_eq!(read_leb128(&[0x80]), None);
        assert_eq!(read_leb128(&[0xff; 9]), None);
    }

    #[test]
    fn split_reads_obus_and_refuses_malformed() {
        let mut frame = obu(OBU_TEMPORAL_DELIMITER, None, &[]);
        frame.extend(obu(OBU_SEQUENCE_HEADER, None, &[1, 2, 3]));
        frame.extend(obu(6, Some(0x28), &[9; 200]));
        let obus = split(&frame).unwrap();
        assert_eq!(obus.len(), 3);
        assert_eq!(obus[2].header.len(), 2);
        assert_eq!(obus[2].payload.len(), 200);
        // An OBU without a size field runs to the end of the frame.
        let tail = [6 << 3, 7, 7, 7];
        assert_eq!(split(&tail).unwrap()[0].payload.len(), 3);
        // Forbidden bit, a size past the end, a cut extension: refused.
        assert!(split(&[0x80 | (6 << 3) | 2, 0]).is_none());
        assert!(split(&[(6 << 3) | 2, 5, 1]).is_none());
        assert!(split(&[(6 << 3) | OBU_EXTENSION_FLAG]).is_none());
        assert!(split(&[]).is_none());
    }
}

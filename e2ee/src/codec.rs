//! Codecs and their clear prefix: the bytes a packetizer or a middlebox needs to read, kept
//! unencrypted but authenticated as SFrame metadata (RFC 9605 §4.4.3 AAD = header || metadata).
//!
//! | codec       | clear prefix                                                          |
//! |-------------|-----------------------------------------------------------------------|
//! | Opus        | 1 byte (the TOC byte)                                                 |
//! | VP8         | 10 bytes for a key frame, 3 for a delta frame; decided by the P bit   |
//! |             | (bit 0 of byte 0, 0 = key frame), so the receiver reads the same bit   |
//! |             | from the clear bytes                                                  |
//! | H.264       | NAL-aware, see [`crate::h264`]                                        |
//! | AV1         | OBU-aware, see [`crate::av1`] (the packetizer reads OBU headers)      |
//! | VP9, other  | none: the whole frame is encrypted (the VP9 RTP payload descriptor     |
//! |             | does not need to read the frame)                                      |
//!
//! The codec also gives the media kind ([`MediaKind`]): Opus and any other `audio/*` type are
//! audio, everything else video. Each kind has its own key, counter and cipher suite (see
//! [`crate::frame`]).
//!
//! **Short frames.** A frame shorter than its codec's clear prefix (or, for H.264, one that is
//! not an Annex B stream with a slice) is not a valid frame of that codec. It is still never sent
//! in the clear: it is encrypted *whole* (no clear prefix). The receiver first tries the codec's
//! layout and, if that does not authenticate, the whole-frame layout; only an authentic frame is
//! ever accepted, so the second try costs time only for junk.

/// The media codec of a frame (chooses the clear prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus audio.
    Opus,
    /// VP8 video.
    Vp8,
    /// H.264 video in Annex B byte-stream format.
    H264,
    /// VP9 video (whole frame encrypted).
    Vp9,
    /// AV1 video (OBU-aware layout).
    Av1,
    /// Any other video type (whole frame encrypted).
    Other,
    /// Any other audio type (`audio/*` but not Opus: whole frame encrypted).
    OtherAudio,
}

/// The kind of media a frame carries: each has its own frame key, counter and cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Audio.
    Audio,
    /// Video.
    Video,
}

impl Codec {
    /// Every codec, for tests and fuzzing that must cover each layout.
    pub const ALL: [Codec; 7] = [
        Codec::Opus,
        Codec::Vp8,
        Codec::H264,
        Codec::Vp9,
        Codec::Av1,
        Codec::Other,
        Codec::OtherAudio,
    ];

    /// From a MIME type as WebRTC reports it (`audio/opus`, `video/VP8`, `video/H264`, ...),
    /// case-insensitive. Unknown `audio/*` types map to [`Codec::OtherAudio`], anything else
    /// unknown to [`Codec::Other`].
    pub fn from_mime(mime: &str) -> Self {
        let mime = mime.trim();
        let (top, sub) = mime.split_once('/').unwrap_or(("", mime));
        let is = |name: &str| sub.trim().eq_ignore_ascii_case(name);
        if is("opus") {
            Codec::Opus
        } else if is("vp8") {
            Codec::Vp8
        } else if is("h264") {
            Codec::H264
        } else if is("vp9") {
            Codec::Vp9
        } else if is("av1") {
            Codec::Av1
        } else if top.trim().eq_ignore_ascii_case("audio") {
            Codec::OtherAudio
        } else {
            Codec::Other
        }
    }

    /// The media kind of this codec's frames.
    pub fn kind(self) -> MediaKind {
        match self {
            Codec::Opus | Codec::OtherAudio => MediaKind::Audio,
            _ => MediaKind::Video,
        }
    }

    /// A small number for the browser bridge (`Codec::from_index` reads it back).
    pub fn index(self) -> u32 {
        match self {
            Codec::Opus => 0,
            Codec::Vp8 => 1,
            Codec::H264 => 2,
            Codec::Vp9 => 3,
            Codec::Av1 => 4,
            Codec::Other => 5,
            Codec::OtherAudio => 6,
        }
    }

    /// The codec of [`Codec::index`].
    pub fn from_index(index: u32) -> Option<Self> {
        Codec::ALL.into_iter().find(|c| c.index() == index)
    }

    /// Length of the clear prefix for a simple-prefix codec, read from the frame's own first
    /// byte. `None` for H.264 and AV1 (their own layouts) and for frames too short for their
    /// prefix. Codecs without a prefix return `Some(0)`.
    pub fn clear_prefix_len(self, frame: &[u8]) -> Option<usize> {
        self.prefix_len(frame.first().copied(), frame.len())
    }

    /// [`Codec::clear_prefix_len`] of a frame of `len` bytes whose first byte is `first`.
    pub fn prefix_len(self, first: Option<u8>, len: usize) -> Option<usize> {
        let want = match self {
            Codec::Opus => 1,
            Codec::Vp8 => {
                if first? & 1 == 0 {
                    10
                } else {
                    3
                }
            }
            Codec::Vp9 | Codec::Other | Codec::OtherAudio => 0,
            Codec::H264 | Codec::Av1 => return None,
        };
        (len >= want).then_some(want)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::Codec;

    #[test]
    fn mime_mapping() {
        assert_eq!(Codec::from_mime("audio/opus"), Codec::Opus);
        assert_eq!(Codec::from_mime("video/VP8"), Codec::Vp8);
        assert_eq!(Codec::from_mime("video/h264"), Codec::H264);
        assert_eq!(Codec::from_mime("video/VP9"), Codec::Vp9);
        assert_eq!(Codec::from_mime("video/AV1"), Codec::Av1);
        assert_eq!(Codec::from_mime("video/rtx"), Codec::Other);
        assert_eq!(Codec::from_mime(""), Codec::Other);
        assert_eq!(Codec::from_mime("audio/PCMU"), Codec::OtherAudio);
        assert_eq!(Codec::from_mime("audio/red"), Codec::OtherAudio);
        assert_eq!(Codec::from_mime("AUDIO/OPUS"), Codec::Opus);
        assert_eq!(Codec::from_mime("opus"), Codec::Opus);
    }

    #[test]
    fn kinds_and_indices() {
        for c in Codec::ALL {
            assert_eq!(Codec::from_index(c.index()), Some(c));
            let audio = matches!(c, Codec::Opus | Codec::OtherAudio);
            assert_eq!(c.kind() == super::MediaKind::Audio, audio, "{c:?}");
        }
        assert_eq!(Codec::from_index(7), None);
    }

    #[test]
    fn vp8_prefix_follows_the_p_bit() {
        assert_eq!(Codec::Vp8.clear_prefix_len(&[0x10; 20]), Some(10));
        assert_eq!(Codec::Vp8.clear_prefix_len(&[0x11; 20]), Some(3));
        assert_eq!(Codec::Vp8.clear_prefix_len(&[0x10; 9]), None);
        assert_eq!(Codec::Vp8.clear_prefix_len(&[]), None);
        assert_eq!(Codec::Opus.clear_prefix_len(&[]), None);
        assert_eq!(Codec::Opus.clear_prefix_len(&[1]), Some(1));
        assert_eq!(Codec::Av1.clear_prefix_len(&[]), None);
    }
}

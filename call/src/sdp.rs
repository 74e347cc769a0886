//! Audio privacy in every session description, local and remote.
//!
//! - The `ssrc-audio-level` and `csrc-audio-level` RTP header extensions carry the speech
//!   level of every packet in the clear: their `a=extmap` lines are removed, so they are
//!   never negotiated.
//! - Opus in variable bitrate makes the size of each frame follow speech: with
//!   `constant_bitrate`, every Opus payload type gets `cbr=1` in its `a=fmtp` line (one is
//!   added after its `a=rtpmap` line if it has none).
//!
//! Lines are split on the description's own line ending (`\r\n` if it has one, else `\n`)
//! and joined again with it; nothing else changes.
//!
//! Relay-only privacy mode ([`crate::Privacy::Relay`]) also keeps ICE candidates to relayed
//! ones: [`is_relay_candidate`] for trickled candidates, [`keep_relay_candidates`] for the
//! `a=candidate` lines a description may carry.

/// The type of an ICE candidate line (`candidate:... typ <type> ...`, with or without the
/// `a=` prefix): `host`, `srflx`, `prflx`, `relay`, or whatever follows `typ`.
pub fn candidate_type(candidate: &str) -> Option<&str> {
    let mut words = candidate.split_ascii_whitespace();
    words.find(|w| *w == "typ")?;
    words.next()
}

/// Is this a relayed (TURN) candidate?
pub fn is_relay_candidate(candidate: &str) -> bool {
    candidate_type(candidate) == Some("relay")
}

/// The description without `a=candidate` lines other than relayed ones; and how many went.
pub fn keep_relay_candidates(sdp: &str) -> (String, usize) {
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let mut dropped = 0;
    let kept: Vec<&str> = sdp
        .split(eol)
        .filter(|l| {
            let drop = starts_with_ignore_case(l, "a=candidate:") && !is_relay_candidate(l);
            dropped += usize::from(drop);
            !drop
        })
        .collect();
    (kept.join(eol), dropped)
}

/// The description with the audio-level extensions removed and, if asked, `cbr=1` on Opus.
pub fn tune_audio_sdp(sdp: &str, constant_bitrate: bool) -> String {
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = sdp
        .split(eol)
        .filter(|l| !is_audio_level_extmap(l))
        .collect();
    if !constant_bitrate {
        return lines.join(eol);
    }
    // (a description has a handful of Opus payload types: plain lists)
    let opus: Vec<&str> = lines.iter().filter_map(|l| opus_rtpmap(l)).collect();
    let mut with_fmtp: Vec<&str> = Vec::new();
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + opus.len());
    for line in &lines {
        match fmtp(line) {
            Some((pt, params)) if opus.contains(&pt) => {
                with_fmtp.push(pt);
                let mut kept: Vec<&str> = params
                    .split(';')
                    .map(str::trim)
                    .filter(|p| !p.is_empty() && !starts_with_ignore_case(p, "cbr="))
                    .collect();
                kept.push("cbr=1");
                out.push(format!("a=fmtp:{pt} {}", kept.join(";")));
            }
            _ => out.push((*line).to_owned()),
        }
    }
    let mut done = Vec::with_capacity(out.len() + opus.len());
    for line in out {
        let missing = opus_rtpmap(&line).filter(|pt| !with_fmtp.contains(pt));
        let extra = missing.map(|pt| format!("a=fmtp:{pt} cbr=1"));
        done.push(line);
        done.extend(extra);
    }
    done.join(eol)
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// `a=extmap:<id> <uri...audio-level...>` (case-insensitive).
fn is_audio_level_extmap(line: &str) -> bool {
    const PREFIX: &str = "a=extmap:";
    if !starts_with_ignore_case(line, PREFIX) {
        return false;
    }
    let rest = &line[PREFIX.len()..];
    let Some(space) = rest.find(char::is_whitespace) else {
        return false;
    };
    if space == 0 || !rest[space..].starts_with(' ') {
        return false;
    }
    let uri = rest[space + 1..]
        .split(char::is_whitespace)
        .next()
        .unwrap_or("");
    uri.to_ascii_lowercase().contains("audio-level")
}

/// The payload type of an `a=rtpmap:<pt> opus/...` line (case-insensitive).
fn opus_rtpmap(line: &str) -> Option<&str> {
    const PREFIX: &str = "a=rtpmap:";
    if !starts_with_ignore_case(line, PREFIX) {
        return None;
    }
    let rest = &line[PREFIX.len()..];
    let (pt, codec) = rest.split_once(' ')?;
    (is_payload_type(pt) && starts_with_ignore_case(codec, "opus/")).then_some(pt)
}

/// `a=fmtp:<pt> <params>` split into its payload type and parameters.
fn fmtp(line: &str) -> Option<(&str, &str)> {
    let (pt, params) = line.strip_prefix("a=fmtp:")?.split_once(' ')?;
    is_payload_type(pt).then_some((pt, params))
}

fn is_payload_type(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_AUDIO: &str =
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
a=extmap:10/sendrecv http://www.webrtc.org/experiments/rtp-hdrext/CSRC-AUDIO-LEVEL\r\n\
a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\n";

    #[test]
    fn removes_both_audio_level_extensions_and_keeps_the_others() {
        let out = tune_audio_sdp(CHROME_AUDIO, false);
        assert!(!out.to_lowercase().contains("audio-level"), "{out}");
        assert!(out
            .contains("a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"));
        assert!(out.contains("a=fmtp:111 minptime=10;useinbandfec=1\r\n"));
        assert!(!out.contains("cbr"));
        assert!(out.ends_with("\r\n"));
    }

    #[test]
    fn sets_cbr_on_every_opus_payload_only() {
        let out = tune_audio_sdp(CHROME_AUDIO, true);
        assert!(
            out.contains("a=fmtp:111 minptime=10;useinbandfec=1;cbr=1\r\n"),
            "{out}"
        );
        assert!(
            out.contains("a=fmtp:63 111/111\r\n"),
            "red is not opus: {out}"
        );
        assert_eq!(out.matches("cbr=1").count(), 1);
        // idempotent: tuning a tuned description changes nothing
        assert_eq!(tune_audio_sdp(&out, true), out);
    }

    #[test]
    fn replaces_an_existing_cbr_and_adds_fmtp_where_missing() {
        let sdp = "m=audio 9 RTP/AVP 96 97\na=rtpmap:96 OPUS/48000/2\na=fmtp:96 cbr=0; stereo=1 ;\na=rtpmap:97 opus/48000/2\na=rtpmap:8 PCMA/8000";
        let out = tune_audio_sdp(sdp, true);
        assert_eq!(
            out,
            "m=audio 9 RTP/AVP 96 97\na=rtpmap:96 OPUS/48000/2\na=fmtp:96 stereo=1;cbr=1\na=rtpmap:97 opus/48000/2\na=fmtp:97 cbr=1\na=rtpmap:8 PCMA/8000"
        );
    }

    #[test]
    fn leaves_malformed_lines_and_other_descriptions_alone() {
        for sdp in [
            "",
            "a=extmap:",
            "a=extmap:1",
            "a=extmap: 1 ssrc-audio-level",
            "a=rtpmap:x opus/48000",
            "a=fmtp:1",
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n",
        ] {
            assert_eq!(tune_audio_sdp(sdp, true), sdp, "{sdp:?}");
        }
        // an extmap whose URI does not name audio-level stays, even if a later token does
        let sdp = "a=extmap:3 urn:x:toffset audio-level";
        assert_eq!(tune_audio_sdp(sdp, true), sdp);
        // non-ASCII never panics
        let odd = "a=extmap:é ssrc-audio-level\na=rtpmap:é opus/\na=fmtp:1 é;cbr=0";
        let _ = tune_audio_sdp(odd, true);
    }

    #[test]
    fn relay_mode_keeps_relayed_candidates_only() {
        let host = "candidate:1 1 udp 2122260223 192.168.1.2 5000 typ host generation 0";
        let srflx =
            "candidate:2 1 udp 1686052607 203.0.113.7 6000 typ srflx raddr 192.168.1.2 rport 5000";
        let relay =
            "candidate:3 1 udp 41885439 198.51.100.9 7000 typ relay raddr 203.0.113.7 rport 6000";
        let mdns = "candidate:4 1 udp 2122260223 3c9a.local 5000 typ host";
        assert_eq!(candidate_type(host), Some("host"));
        assert_eq!(candidate_type(srflx), Some("srflx"));
        assert!(is_relay_candidate(relay));
        for other in [host, srflx, mdns, "", "typ", "candidate:5 1 udp 1 x 1 typ"] {
            assert!(!is_relay_candidate(other), "{other}");
        }
        let sdp = format!("v=0\r\nm=audio 9 UDP\r\na={host}\r\na={relay}\r\nA=CANDIDATE:{}\r\na={srflx}\r\na=mid:0", &mdns[10..]);
        let (kept, dropped) = keep_relay_candidates(&sdp);
        assert_eq!(dropped, 3);
        assert_eq!(
            kept,
            format!("v=0\r\nm=audio 9 UDP\r\na={relay}\r\na=mid:0")
        );
    }
}

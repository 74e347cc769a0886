//! Live notifications on presence channels (contacts' ringing): a connection that announces a
//! channel may send a small opaque payload to the channel's current subscribers. Nothing is
//! stored; no subscriber, nothing delivered (the sender falls back to the mailbox).
//!
//! ```text
//! client -> worker  {"v":2,"type":"notify","channel":"<id>","payload":"<base64url>"}
//! worker -> each subscriber of <id> (not the sender)
//!                   {"type":"notify","v":2,"channel":"<id>","payload":"<base64url>"}
//! worker -> sender  {"type":"notified","v":2,"channel":"<id>","delivered":<n>}
//! ```
//! The request must be written exactly in this form (key order, no whitespace): the contacts
//! client writes it so, and anything else goes to the presence parser, which refuses an unknown
//! type (`unknown-type`). The channel is checked like every channel id (16-43 base64url); the
//! payload is 1 to [`MAX_NOTIFY_PAYLOAD_CHARS`] characters of base64url (a sealed ring message
//! is about 130). Only an announcer of the channel is delivered for (`delivered: 0` otherwise),
//! so a bystander who learned an id cannot push to its subscribers. Rate limits and frame size
//! are the presence socket's. These types live here, not in sotto-protocol, until the codec
//! rewrite takes them in.
use sotto_protocol::ChannelId;

/// Longest payload, in characters of base64url (1 KiB of sealed bytes).
pub const MAX_NOTIFY_PAYLOAD_CHARS: usize = 1366;

const PREFIX: &str = r#"{"v":2,"type":"notify","channel":""#;
const MIDDLE: &str = r#"","payload":""#;
const SUFFIX: &str = r#""}"#;

/// A notify request, borrowed from the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notify<'a> {
    pub channel: ChannelId,
    pub payload: &'a str,
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `Some` only for a notify in exactly the canonical form with a valid channel and payload.
pub(crate) fn parse(text: &str) -> Option<Notify<'_>> {
    let rest = text.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (channel, payload) = rest.split_once(MIDDLE)?;
    if payload.is_empty() || payload.len() > MAX_NOTIFY_PAYLOAD_CHARS || !is_b64url(payload) {
        return None;
    }
    let channel = ChannelId::parse(channel).ok()?;
    Some(Notify { channel, payload })
}

/// What each subscriber receives.
pub(crate) fn delivery(n: &Notify<'_>) -> String {
    format!(
        r#"{{"type":"notify","v":2,"channel":"{}","payload":"{}"}}"#,
        n.channel.as_str(),
        n.payload
    )
}

/// What the sender receives.
pub(crate) fn receipt(channel: &ChannelId, delivered: usize) -> String {
    format!(
        r#"{{"type":"notified","v":2,"channel":"{}","delivered":{delivered}}}"#,
        channel.as_str()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CH: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    fn req(channel: &str, payload: &str) -> String {
        format!(r#"{{"v":2,"type":"notify","channel":"{channel}","payload":"{payload}"}}"#)
    }

    #[test]
    fn the_canonical_form_parses() {
        let text = req(CH, "c2VhbGVk");
        let n = parse(&text).unwrap();
        assert_eq!(n.channel.as_str(), CH);
        assert_eq!(n.payload, "c2VhbGVk");
        let out = delivery(&n);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["type"], "notify");
        assert_eq!(v["payload"], "c2VhbGVk");
        let r: serde_json::Value = serde_json::from_str(&receipt(&n.channel, 3)).unwrap();
        assert_eq!(r["delivered"], 3);
    }

    #[test]
    fn anything_else_is_left_to_the_parser() {
        for bad in [
            req(CH, ""),
            req(CH, "has space"),
            req(CH, "quote\"inside"),
            req(CH, &"A".repeat(MAX_NOTIFY_PAYLOAD_CHARS + 1)),
            req("short", "AAAA"),
            req(&"A".repeat(44), "AAAA"),
            req(CH, "AAAA").replace(r#""v":2"#, r#""v":1"#),
            req(CH, "AAAA").replace(",", ", "),
            format!("{} ", req(CH, "AAAA")),
            req(CH, "AAAA").replace(r#""}"#, r#"","x":1}"#),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
        assert!(parse(&req(CH, &"A".repeat(MAX_NOTIFY_PAYLOAD_CHARS))).is_some());
    }

    proptest! {
        #[test]
        fn whatever_parses_is_valid_json_for_the_subscribers(s in ".{0,120}") {
            if let Some(n) = parse(&s) {
                prop_assert!(serde_json::from_str::<serde_json::Value>(&delivery(&n)).is_ok());
            }
        }

        #[test]
        fn payloads_round_trip(p in "[A-Za-z0-9_-]{1,200}") {
            let text = req(CH, &p);
            let n = parse(&text).unwrap();
            let v: serde_json::Value = serde_json::from_str(&delivery(&n)).unwrap();
            prop_assert_eq!(v["payload"].as_str().unwrap(), p.as_str());
        }
    }
}

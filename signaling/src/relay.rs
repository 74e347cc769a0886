//! The relay fast path: recognises a `signal` in the form clients send it and relays it without
//! the full typed parse and re-serialization.
//!
//! ```text
//!   {"v":2,"type":"signal","to":"<peer id>","payload":"<string>"}      keys in any order,
//!        │ scan(): one pass, no allocation                               JSON whitespace allowed
//!        ├── Some(Signal { to, payload literal }) ──> relayed(): {"type":"signal","v":2,
//!        │                                             "from":..,"to":..,"payload":<literal>}
//!        └── None ──> the full parser (`ClientMessage::parse`) decides, error codes and all
//! ```
//!
//! `scan` only says yes when the full parser would accept the text as exactly this `signal`, and
//! `relayed` writes exactly the bytes `ServerMessage::to_json` would: it copies the payload
//! literal as it came, so it takes only the escapes serde_json writes the same way (`\"`, `\\`,
//! `\b`, `\f`, `\n`, `\r`, `\t`). Anything else (other escapes, a key written with an escape,
//! another type, a duplicate or unknown key, a bad id, a payload over the limit, a version other
//! than [`PROTOCOL_VERSION`]) falls back to the full parser, which refuses or accepts it with its
//! own codes. The differential tests below hold the two paths to that.
use sotto_protocol::{PeerId, MAX_MESSAGE_BYTES, MAX_PAYLOAD_BYTES, PROTOCOL_VERSION};

/// A `signal` the fast path recognised, borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Signal<'a> {
    /// The target peer id (checked: 1 to 64 base64url characters).
    pub to: &'a str,
    /// The payload as a JSON string literal, quotes included, escapes as sent.
    pub payload: &'a str,
}

const V: u8 = 1;
const TYPE: u8 = 2;
const TO: u8 = 4;
const PAYLOAD: u8 = 8;

/// One pass over `text`; `Some` only for a `signal` the full parser accepts as such.
pub(crate) fn scan(text: &str) -> Option<Signal<'_>> {
    if text.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    let mut s = Scanner {
        b: text.as_bytes(),
        at: 0,
    };
    let mut seen = 0u8;
    let (mut to, mut payload) = ("", "");
    s.ws();
    s.eat(b'{')?;
    loop {
        s.ws();
        let key = s.plain_string()?;
        s.ws();
        s.eat(b':')?;
        s.ws();
        let bit = match key {
            "v" => {
                s.version()?;
                V
            }
            "type" => {
                (s.plain_string()? == "signal").then_some(())?;
                TYPE
            }
            "to" => {
                to = s.plain_string()?;
                is_peer_id(to).then_some(())?;
                TO
            }
            "payload" => {
                payload = s.payload()?;
                PAYLOAD
            }
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        s.ws();
        match s.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    s.ws();
    (s.at == s.b.len() && seen == V | TYPE | TO | PAYLOAD).then_some(Signal { to, payload })
}

/// What `PeerId::parse` accepts, without allocating.
fn is_peer_id(s: &str) -> bool {
    (PeerId::MIN_LEN..=PeerId::MAX_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The relayed message, byte for byte what `ServerMessage::Signal { from, to, payload }`
/// serializes to.
pub(crate) fn relayed(from: &str, signal: Signal<'_>) -> String {
    const HEAD: &str = r#"{"type":"signal","v":"#;
    let mut out = String::with_capacity(
        HEAD.len() + 40 + from.len() + signal.to.len() + signal.payload.len(),
    );
    out.push_str(HEAD);
    push_decimal(&mut out, PROTOCOL_VERSION);
    out.push_str(r#","from":""#);
    out.push_str(from);
    out.push_str(r#"","to":""#);
    out.push_str(signal.to);
    out.push_str(r#"","payload":"#);
    out.push_str(signal.payload);
    out.push('}');
    out
}

fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // n % 10 < 10: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let d = (n % 10) as u8;
        digits[i] = b'0' + d;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.b.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// JSON whitespace, as serde_json skips it.
    fn ws(&mut self) {
        while matches!(self.b.get(self.at), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string without escapes or control characters; its contents.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' | 0x00..=0x1f => return None,
                _ => {}
            }
        }
        // Both ends sit next to an ASCII quote, so this is a char boundary of valid UTF-8.
        std::str::from_utf8(&self.b[start..self.at - 1]).ok()
    }

    /// The version: an integer written plainly (no sign, fraction, exponent or leading zero)
    /// equal to PROTOCOL_VERSION.
    fn version(&mut self) -> Option<()> {
        let start = self.at;
        while matches!(self.b.get(self.at), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        let digits = &self.b[start..self.at];
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        let value = std::str::from_utf8(digits).ok()?.parse::<u64>().ok()?;
        (value == PROTOCOL_VERSION).then_some(())
    }

    /// The payload string literal (quotes included) if serde_json would decode it to at most
    /// MAX_PAYLOAD_BYTES and write it back identically.
    fn payload(&mut self) -> Option<&'a str> {
        let start = self.at;
        self.eat(b'"')?;
        let mut escapes = 0usize;
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => escapes += 1,
                    _ => return None,
                },
                0x00..=0x1f => return None,
                _ => {}
            }
        }
        let literal = &self.b[start..self.at];
        // Decoded length: every two-byte escape stands for one byte.
        if literal.len() - 2 - escapes > MAX_PAYLOAD_BYTES {
            return None;
        }
        std::str::from_utf8(literal).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sotto_protocol::room::{ClientMessage, ServerMessage};
    use sotto_protocol::Version;

    /// What the full path makes of `text` as a relay from `from`: the parsed signal's target
    /// and the serialized relay, or None if it is not a valid signal.
    fn full(text: &str, from: &str) -> Option<(String, String)> {
        match ClientMessage::parse(text) {
            Ok(ClientMessage::Signal { to, payload, .. }) => {
                let relayed = ServerMessage::Signal {
                    v: Version,
                    from: PeerId::parse(from).unwrap(),
                    to: to.clone(),
                    payload,
                }
                .to_json()
                .unwrap();
                Some((to.as_str().to_owned(), relayed))
            }
            _ => None,
        }
    }

    /// The property: whatever the fast path accepts, the full path accepts as the same signal
    /// and relays as the same bytes.
    fn agrees(text: &str) {
        if let Some(signal) = scan(text) {
            let (to, relayed_full) = full(text, "from-peer")
                .unwrap_or_else(|| panic!("fast path accepted what the parser refuses: {text:?}"));
            assert_eq!(signal.to, to, "{text:?}");
            assert_eq!(relayed("from-peer", signal), relayed_full, "{text:?}");
        }
    }

    /// A message as the browser client writes it (JSON.stringify, keys in this order).
    fn canonical(to: &str, payload: &str) -> String {
        format!(
            r#"{{"v":2,"type":"signal","to":"{to}","payload":{}}}"#,
            serde_json::to_string(payload).unwrap()
        )
    }

    #[test]
    fn the_client_form_takes_the_fast_path() {
        let sdp = r#"{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}"#;
        for payload in ["", "x", sdp, "ünïcödé ✓", "tab\there", "q\"uote\\slash/"] {
            let text = canonical("bob", payload);
            let signal = scan(&text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(signal.to, "bob");
            agrees(&text);
        }
        // Any key order and JSON whitespace.
        let text = " {\n\t\"payload\" : \"p\" , \"to\":\"b\",\"type\":\"signal\",\"v\":2 } \r\n";
        assert!(scan(text).is_some());
        agrees(text);
    }

    #[test]
    fn what_falls_back_to_the_full_parser() {
        let cases = [
            r#"{"v":2,"type":"signal","to":"bob","payload":"a\/b"}"#, // written back differently
            r#"{"v":2,"type":"signal","to":"bob","payload":"\u0041"}"#,
            r#"{"v":2,"type":"signal","to":"b\u006fb","payload":"x"}"#,
            r#"{"v":2,"type":"sig\u006eal","to":"bob","payload":"x"}"#,
            r#"{"v":2,"type":"ping"}"#,
            r#"{"v":2,"type":"join","peer":"a","identity":"b"}"#,
            r#"{"v":1,"type":"signal","to":"bob","payload":"x"}"#,
            r#"{"v":01,"type":"signal","to":"bob","payload":"x"}"#,
            r#"{"v":2.0,"type":"signal","to":"bob","payload":"x"}"#,
            r#"{"v":"1","type":"signal","to":"bob","payload":"x"}"#,
            r#"{"v":2,"v":2,"type":"signal","to":"bob","payload":"x"}"#,
            r#"{"v":2,"type":"signal","to":"bob","payload":"x","from":"eve"}"#,
            r#"{"v":2,"type":"signal","to":"bob"}"#,
            r#"{"v":2,"type":"signal","to":"not ok","payload":"x"}"#,
            r#"{"v":2,"type":"signal","to":"","payload":"x"}"#,
            r#"{"v":2,"type":"signal","to":"bob","payload":5}"#,
            r#"{"v":2,"type":"signal","to":"bob","payload":"x"} x"#,
            r#"{"v":2,"type":"signal","to":"bob","payload":"x",}"#,
            "{\"v\":2,\"type\":\"signal\",\"to\":\"bob\",\"payload\":\"a\u{1}b\"}",
            "\u{feff}{\"v\":2,\"type\":\"signal\",\"to\":\"bob\",\"payload\":\"x\"}",
            r#"{"v":2,"type":"signal","to":"bob","payload":"x""#,
        ];
        for text in cases {
            assert_eq!(scan(text), None, "{text}");
        }
    }

    #[test]
    fn payload_size_limit_matches_the_parser() {
        // 60,000 decoded bytes pass; 60,001 fall back (and the parser refuses them).
        for (len, fast) in [(MAX_PAYLOAD_BYTES, true), (MAX_PAYLOAD_BYTES + 1, false)] {
            let text = canonical("bob", &"x".repeat(len));
            assert_eq!(scan(&text).is_some(), fast);
            assert_eq!(full(&text, "a").is_some(), fast);
        }
        // Escapes count once: 30,000 `\n` are 60,000 bytes of literal but 30,000 decoded.
        let text = canonical("bob", &"\n".repeat(30_000));
        assert!(scan(&text).is_some());
        agrees(&text);
        let text = canonical("bob", &"\"".repeat(MAX_PAYLOAD_BYTES + 1));
        assert_eq!(scan(&text), None);
    }

    #[test]
    fn peer_ids_as_the_parser_checks_them() {
        for id in [
            "a",
            "Az09-_",
            &"a".repeat(64),
            "",
            &"a".repeat(65),
            "a b",
            "é",
            "a=",
            "a/b",
        ] {
            assert_eq!(is_peer_id(id), PeerId::parse(id).is_ok(), "{id:?}");
        }
    }

    #[test]
    fn decimal() {
        for n in [0, 1, 9, 10, 2, 12_345, u64::MAX] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    /// Payload text: printable ASCII (quotes and backslashes included), the escapable controls,
    /// other controls and non-ASCII.
    fn payload_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                6 => prop::char::range(' ', '~'),
                1 => prop::sample::select(vec!['"', '\\', '/', '\n', '\r', '\t', '\u{8}', '\u{c}', '\u{1}', '\u{1f}', '\u{7f}', 'é', '✓', '😀', '\u{2028}']),
            ],
            0..40,
        )
        .prop_map(|c| c.into_iter().collect())
    }

    fn peer_id() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[A-Za-z0-9_-]{1,64}",
            1 => "[A-Za-z0-9_ .=/-]{0,66}",
        ]
    }

    /// A message: the client form, or its fields reordered, spaced, duplicated, escaped,
    /// misspelt, extended or retyped.
    fn message() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            8 => Just(r#""v":2"#.to_owned()),
            1 => Just(r#""v":1"#.to_owned()),
            1 => Just(r#""v":2.0"#.to_owned()),
            1 => Just(r#""v":"1""#.to_owned()),
            8 => Just(r#""type":"signal""#.to_owned()),
            1 => Just(r#""type":"ping""#.to_owned()),
            1 => Just(r#""type":"sig\u006eal""#.to_owned()),
            8 => peer_id().prop_map(|p| format!(r#""to":"{p}""#)),
            8 => payload_text()
                .prop_map(|p| format!(r#""payload":{}"#, serde_json::to_string(&p).unwrap())),
            2 => Just(r#""payload":"a\/b""#.to_owned()),
            1 => Just(r#""payload":"\u00e9""#.to_owned()),
            1 => Just(r#""payload":null"#.to_owned()),
            1 => Just(r#""from":"eve""#.to_owned()),
            1 => Just(r#""p\u0061yload":"x""#.to_owned()),
        ];
        let separator = prop::sample::select(vec![",", " , ", ",\n\t", ",,", ":"]);
        (
            prop::collection::vec((field, separator), 0..7),
            prop::sample::select(vec!["", " ", "\r\n", "x"]),
        )
            .prop_map(|(fields, tail)| {
                let mut s = String::from("{");
                for (i, (f, sep)) in fields.iter().enumerate() {
                    if i > 0 {
                        s.push_str(sep);
                    }
                    s.push_str(f);
                }
                s.push('}');
                s.push_str(tail);
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        #[test]
        fn generated_messages_agree(text in message()) {
            agrees(&text);
        }

        #[test]
        fn client_messages_are_fast_and_agree(to in "[A-Za-z0-9_-]{1,64}", payload in payload_text()) {
            let text = canonical(&to, &payload);
            agrees(&text);
            // Everything the browser client sends takes the fast path unless its payload needs
            // an escape serde_json writes differently (`\/` never; `\u00XX` controls, rare).
            let needs_u_escape = payload.chars().any(|c| c < ' ' && !"\n\r\t\u{8}\u{c}".contains(c));
            prop_assert_eq!(scan(&text).is_some(), !needs_u_escape, "{}", text);
        }

        #[test]
        fn mutated_client_messages_agree(
            to in "[A-Za-z0-9_-]{1,64}",
            payload in payload_text(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..4),
        ) {
            let mut bytes = canonical(&to, &payload).into_bytes();
            for (at, op, byte) in edits {
                let i = at.index(bytes.len() + 1);
                // Mostly JSON-significant bytes, so that mutations reach deep into the grammar.
                const SET: &[u8] = b"{}[]\":,\\ 0129vtoyplsignaxu\n";
                let b = if byte < 128 { SET[usize::from(byte) % SET.len()] } else { byte };
                match op {
                    0 if i < bytes.len() => { bytes.remove(i); }
                    1 => bytes.insert(i, b),
                    2 if i < bytes.len() => bytes[i] = b,
                    _ => bytes.truncate(i),
                }
            }
            if let Ok(text) = String::from_utf8(bytes) {
                agrees(&text);
            }
        }
    }
}

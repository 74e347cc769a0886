//! The hand-written strict JSON codec for the messages a client reads and writes
//! ([`ServerMessage`] in, [`ClientMessage`] out, [`PeerPayload`] both ways).
//!
//! Why by hand: the serde derive of an internally tagged enum (`{"type": ..}`) buffers the
//! whole message in a generic `Content` tree before it reads the variant, and that machinery
//! plus `serde_json`'s deserializer was most of the page's wasm module (issue 12's size
//! budget). The serde derives stay the definition of the format (the signaling worker parses
//! with them); this module must agree with them exactly, which `tests/codec_differential.rs`
//! checks on arbitrary and mutated inputs: the same messages accepted with the same values,
//! the same ones refused with the same [`ProtocolError`].
//!
//! Two known differences, both stricter and neither written by any sender:
//! - serde also reads a struct from a JSON array of its fields (`"peer": ["a", "AAA"]`) and
//!   an internally tagged enum from an array whose first element is the tag; this codec only
//!   reads objects, the form every sender writes.
//! - a message that is a bare number out of `f64` range (`1e400`): serde says
//!   `malformed-json`, this codec `invalid-message` (both refuse it).
//!
//! Like `parse.rs`, reading is in two passes: a syntax pass over the whole text (iterative,
//! no depth limit, as serde_json's `RawValue` reader) that also splits the top-level object
//! into raw fields, then a typed read of each field that never needs more than two levels.

use crate::parse::{Field, Schema};
use crate::peer::{B64UrlBytes, PeerPayload};
use crate::room::{ClientMessage, PeerInfo, ServerMessage};
use crate::{
    Identity, Payload, PeerId, ProtocolError, Version, MAX_MESSAGE_BYTES, MAX_PAYLOAD_BYTES,
};

/// Why a read failed: a syntax error (`malformed-json`) or a well-formed value of the wrong
/// shape (`invalid-message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    Syntax,
    Shape,
}

pub(crate) type R<T> = Result<T, Bad>;

/// An object's fields: decoded names and raw JSON values, in order, duplicates kept.
type Fields<'a> = Vec<(String, &'a str)>;

/// A cursor over JSON text.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pub(crate) i: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            b: text.as_bytes(),
            i: 0,
        }
    }

    pub(crate) fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    pub(crate) fn next(&mut self) -> R<u8> {
        let c = *self.b.get(self.i).ok_or(Bad::Syntax)?;
        self.i += 1;
        Ok(c)
    }

    /// Expects `c` (after whitespace).
    pub(crate) fn eat(&mut self, c: u8) -> R<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(Bad::Syntax)
        }
    }

    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    fn hex4(&mut self) -> R<u16> {
        let mut n = 0u16;
        for _ in 0..4 {
            let d = match self.next()? {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                c @ b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(Bad::Syntax),
            };
            n = n << 4 | u16::from(d);
        }
        Ok(n)
    }

    /// Skips a string whose opening quote was read: escapes well formed, no control
    /// characters (surrogates are not paired here, as serde_json's skipping does not).
    fn skip_str(&mut self) -> R<()> {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        self.hex4()?;
                    }
                    _ => return Err(Bad::Syntax),
                },
                c if c < 0x20 => return Err(Bad::Syntax),
                _ => {}
            }
        }
    }

    /// Reads a string whose opening quote was read, decoding escapes; a surrogate escape
    /// must be half of a pair (serde_json's rule for strings).
    pub(crate) fn str_body(&mut self) -> R<String> {
        String::from_utf8(self.str_bytes(true)?).map_err(|_| Bad::Syntax)
    }

    /// The bytes of a string whose opening quote was read. With `validate` false, unpaired
    /// surrogate escapes are kept as WTF-8 (what serde_json gives a byte buffer).
    pub(crate) fn str_bytes(&mut self, validate: bool) -> R<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let start = self.i;
            while let Some(&c) = self.b.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.extend_from_slice(&self.b[start..self.i]);
            match self.next()? {
                b'"' => return Ok(out),
                b'\\' => {
                    let esc = self.next()?;
                    self.escape(esc, validate, &mut out)?;
                }
                _ => return Err(Bad::Syntax),
            }
        }
    }

    /// One escape (`esc` is the byte after the backslash), as serde_json decodes it.
    fn escape(&mut self, esc: u8, validate: bool, out: &mut Vec<u8>) -> R<()> {
        let simple = match esc {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => 0,
            _ => return Err(Bad::Syntax),
        };
        if esc != b'u' {
            out.push(simple);
            return Ok(());
        }
        let mut n = self.hex4()?;
        if validate && (0xDC00..=0xDFFF).contains(&n) {
            return Err(Bad::Syntax);
        }
        loop {
            if !(0xD800..=0xDBFF).contains(&n) {
                push_wtf8(out, u32::from(n));
                return Ok(());
            }
            let lead = n;
            if self.b.get(self.i) != Some(&b'\\') {
                if validate {
                    return Err(Bad::Syntax);
                }
                push_wtf8(out, u32::from(lead));
                return Ok(());
            }
            self.i += 1;
            if self.b.get(self.i) != Some(&b'u') {
                if validate {
                    return Err(Bad::Syntax);
                }
                push_wtf8(out, u32::from(lead));
                let esc = self.next()?;
                return self.escape(esc, validate, out);
            }
            self.i += 1;
            let low = self.hex4()?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                if validate {
                    return Err(Bad::Syntax);
                }
                push_wtf8(out, u32::from(lead));
                n = low;
                continue;
            }
            let code = 0x1_0000 + ((u32::from(lead) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
            push_wtf8(out, code);
            return Ok(());
        }
    }

    /// Skips a number whose first byte (`-` or a digit) is next.
    pub(crate) fn skip_number(&mut self) -> R<()> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.next()? {
            b'0' => {
                if self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
                    return Err(Bad::Syntax);
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return Err(Bad::Syntax),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> R<()> {
        if !self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            return Err(Bad::Syntax);
        }
        self.digits();
        Ok(())
    }

    pub(crate) fn ident(&mut self, rest: &[u8]) -> R<()> {
        if self.b.get(self.i..self.i + rest.len()) == Some(rest) {
            self.i += rest.len();
            Ok(())
        } else {
            Err(Bad::Syntax)
        }
    }

    /// Skips one value of any depth (iteratively, so deep nesting costs no stack).
    pub(crate) fn skip_value(&mut self) -> R<()> {
        let mut stack: Vec<u8> = Vec::new();
        loop {
            // a value
            match self.peek().ok_or(Bad::Syntax)? {
                b'n' => {
                    self.i += 1;
                    self.ident(b"ull")?;
                }
                b't' => {
                    self.i += 1;
                    self.ident(b"rue")?;
                }
                b'f' => {
                    self.i += 1;
                    self.ident(b"alse")?;
                }
                b'-' | b'0'..=b'9' => self.skip_number()?,
                b'"' => {
                    self.i += 1;
                    self.skip_str()?;
                }
                open @ (b'[' | b'{') => {
                    self.i += 1;
                    let close = if open == b'[' { b']' } else { b'}' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        stack.push(open);
                        if open == b'{' {
                            self.key_colon_skipped()?;
                        }
                        continue;
                    }
                }
                _ => return Err(Bad::Syntax),
            }
            // after a value: a comma or the end of enclosing containers
            loop {
                let Some(&open) = stack.last() else {
                    return Ok(());
                };
                let close = if open == b'[' { b']' } else { b'}' };
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if open == b'{' {
                            self.key_colon_skipped()?;
                        }
                        break;
                    }
                    Some(c) if c == close => {
                        self.i += 1;
                        stack.pop();
                    }
                    _ => return Err(Bad::Syntax),
                }
            }
        }
    }

    /// `"key":` with the key skipped.
    fn key_colon_skipped(&mut self) -> R<()> {
        self.eat(b'"')?;
        self.skip_str()?;
        self.eat(b':')
    }

    /// The top level's fields as raw spans (keys decoded), duplicates kept, after checking
    /// the whole text's syntax. A top-level value that is not an object is a `Shape` error
    /// if it is well formed (serde_json reads the scalar before refusing it).
    fn raw_object(&mut self) -> R<Fields<'a>> {
        let mut fields = Vec::new();
        match self.peek().ok_or(Bad::Syntax)? {
            b'{' => self.i += 1,
            b'[' => return Err(Bad::Shape),
            b'"' => {
                self.i += 1;
                self.str_body()?;
                return Err(Bad::Shape);
            }
            _ => {
                // null, true, false, a number: well formed or not
                self.skip_value()?;
                return Err(Bad::Shape);
            }
        }
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                self.eat(b'"')?;
                let key = self.str_body()?;
                self.eat(b':')?;
                self.peek();
                let start = self.i;
                self.skip_value()?;
                fields.push((key, self.raw(start)));
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Bad::Syntax),
                }
            }
        }
        if self.at_end() {
            Ok(fields)
        } else {
            Err(Bad::Syntax)
        }
    }

    pub(crate) fn raw(&self, start: usize) -> &'a str {
        // start and self.i are both at ASCII bytes (or the end) of valid UTF-8
        std::str::from_utf8(&self.b[start..self.i]).unwrap_or("")
    }
}

/// UTF-8 encoding of a code point, surrogates included (WTF-8).
#[allow(clippy::cast_possible_truncation)] // each byte is masked or shifted into range
fn push_wtf8(out: &mut Vec<u8>, c: u32) {
    match c {
        0..=0x7F => out.push(c as u8),
        0x80..=0x7FF => out.extend([0xC0 | (c >> 6) as u8, 0x80 | (c & 0x3F) as u8]),
        0x800..=0xFFFF => out.extend([
            0xE0 | (c >> 12) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]),
        _ => out.extend([
            0xF0 | (c >> 18) as u8,
            0x80 | ((c >> 12) & 0x3F) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]),
    }
}

// ---- typed reading of one raw field (already known to be well-formed JSON) ----

fn string(raw: &str) -> R<String> {
    let mut r = Reader::new(raw);
    if r.peek() != Some(b'"') {
        return Err(Bad::Shape);
    }
    r.i += 1;
    r.str_body().map_err(|_| Bad::Shape)
}

/// A whole non-negative integer literal up to `max` (serde_json reads `-0`, fractions and
/// exponents as floats, which no integer type accepts).
fn integer(raw: &str, max: u64) -> R<u64> {
    if raw.is_empty() || !raw.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Bad::Shape);
    }
    let mut n: u64 = 0;
    for c in raw.bytes() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(c - b'0')))
            .ok_or(Bad::Shape)?;
    }
    if n <= max {
        Ok(n)
    } else {
        Err(Bad::Shape)
    }
}

fn is_null(raw: &str) -> bool {
    raw == "null"
}

fn b64(raw: &str) -> R<B64UrlBytes> {
    crate::b64::decode(&string(raw)?)
        .map(B64UrlBytes)
        .ok_or(Bad::Shape)
}

fn peer_id(raw: &str) -> R<PeerId> {
    PeerId::parse(&string(raw)?).map_err(|_| Bad::Shape)
}

/// The fields of a nested object, each name at most once and one of `names`.
fn object_fields<'a>(raw: &'a str, names: &[&str]) -> R<Fields<'a>> {
    let fields = Reader::new(raw).raw_object().map_err(|_| Bad::Shape)?;
    for (i, (name, _)) in fields.iter().enumerate() {
        if !names.contains(&name.as_str()) || fields[..i].iter().any(|(n, _)| n == name) {
            return Err(Bad::Shape);
        }
    }
    Ok(fields)
}

fn get<'a>(fields: &[(String, &'a str)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

fn need<'a>(fields: &[(String, &'a str)], name: &str) -> R<&'a str> {
    get(fields, name).ok_or(Bad::Shape)
}

fn peer_info(raw: &str) -> R<PeerInfo> {
    let fields = object_fields(raw, &["peer", "identity"])?;
    Ok(PeerInfo {
        peer: peer_id(need(&fields, "peer")?)?,
        identity: Identity::parse(&string(need(&fields, "identity")?)?).map_err(|_| Bad::Shape)?,
    })
}

fn peer_infos(raw: &str) -> R<Vec<PeerInfo>> {
    let mut r = Reader::new(raw);
    r.eat(b'[').map_err(|_| Bad::Shape)?;
    let mut out = Vec::new();
    if r.peek() == Some(b']') {
        return Ok(out);
    }
    loop {
        r.peek();
        let start = r.i;
        r.skip_value()?;
        out.push(peer_info(r.raw(start))?);
        match r.peek() {
            Some(b',') => r.i += 1,
            Some(b']') => return Ok(out),
            _ => return Err(Bad::Syntax),
        }
    }
}

// ---- server messages ----

fn check_field(kind: Field, raw: &str) -> Result<(), ProtocolError> {
    let text = || string(raw).map_err(|_| ProtocolError::InvalidMessage);
    match kind {
        Field::PeerId => PeerId::parse(&text()?).map(drop),
        Field::Identity => Identity::parse(&text()?).map(drop),
        Field::Payload => Payload::new(text()?).map(drop),
        // no message read here has channels (presence messages keep the serde parser)
        Field::Channels(_) => Err(ProtocolError::InvalidMessage),
        Field::Other => Ok(()),
    }
}

/// The first pass of `parse.rs`, over the raw fields: one code per refusal.
fn checked_fields<'a>(
    text: &'a str,
    schemas: &[Schema],
) -> Result<(&'static str, Fields<'a>), ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::MessageTooLarge);
    }
    let fields = Reader::new(text).raw_object().map_err(|e| match e {
        Bad::Syntax => ProtocolError::MalformedJson,
        Bad::Shape => ProtocolError::InvalidMessage,
    })?;
    for (i, (name, _)) in fields.iter().enumerate() {
        if fields[..i].iter().any(|(n, _)| n == name) {
            return Err(ProtocolError::DuplicateField);
        }
    }
    match get(&fields, "v") {
        Some(v) if v == crate::PROTOCOL_VERSION_TEXT => {}
        _ => return Err(ProtocolError::UnsupportedVersion),
    }
    let ty = string(get(&fields, "type").ok_or(ProtocolError::InvalidMessage)?)
        .map_err(|_| ProtocolError::InvalidMessage)?;
    let named = fields.iter().map(|(name, raw)| (name.as_str(), *raw));
    let schema = crate::parse::check_schema(schemas, &ty, named, check_field)?;
    Ok((schema.ty, fields))
}

/// [`ServerMessage::parse`]: the same answers as the serde derive behind `parse.rs`.
pub(crate) fn server_message(text: &str) -> Result<ServerMessage, ProtocolError> {
    let (ty, f) = checked_fields(text, crate::room::SERVER_SCHEMAS)?;
    let v = Version;
    let message = match ty {
        "welcome" => ServerMessage::Welcome {
            v,
            you: peer_id(need(&f, "you")?)?,
            peers: peer_infos(need(&f, "peers")?)?,
            #[allow(clippy::cast_possible_truncation)] // at most u32::MAX
            max_peers: integer(need(&f, "max_peers")?, u64::from(u32::MAX))? as u32,
        },
        "peer-joined" => ServerMessage::PeerJoined {
            v,
            peer: peer_info(need(&f, "peer")?)?,
        },
        "peer-left" => ServerMessage::PeerLeft {
            v,
            peer: peer_id(need(&f, "peer")?)?,
        },
        "signal" => ServerMessage::Signal {
            v,
            from: peer_id(need(&f, "from")?)?,
            to: peer_id(need(&f, "to")?)?,
            payload: Payload::new(string(need(&f, "payload")?)?).map_err(|_| Bad::Shape)?,
        },
        "pong" => ServerMessage::Pong { v },
        "error" => ServerMessage::Error {
            v,
            code: string(need(&f, "code")?)?,
            message: string(need(&f, "message")?)?,
        },
        _ => return Err(ProtocolError::UnknownType),
    };
    Ok(message)
}

impl From<Bad> for ProtocolError {
    /// Past the first pass every refusal is `invalid-message`, as in `parse.rs`.
    fn from(_: Bad) -> Self {
        ProtocolError::InvalidMessage
    }
}

// ---- peer payloads ----

/// [`PeerPayload::parse`]: the same answers as its serde derive.
pub(crate) fn peer_payload(text: &str) -> Result<PeerPayload, ProtocolError> {
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(ProtocolError::PayloadTooLarge);
    }
    read_peer_payload(text).map_err(|_| ProtocolError::InvalidPeerPayload)
}

fn read_peer_payload(text: &str) -> R<PeerPayload> {
    let all = Reader::new(text).raw_object()?;
    let ty = string(need(&all, "type")?)?;
    let names: &[&str] = match ty.as_str() {
        "offer" | "answer" => &["type", "sdp"],
        "ice" => &["type", "candidate", "sdp_mid", "sdp_m_line_index"],
        "sender-key" => &["type", "key"],
        "key-ack" => &["type", "epoch"],
        "safety-commit" => &["type", "c"],
        "safety-reveal" => &["type", "n"],
        "display-name" => &["type", "name"],
        "end-of-candidates" | "hello" | "key-request" => &["type"],
        _ => return Err(Bad::Shape),
    };
    for (i, (name, _)) in all.iter().enumerate() {
        if !names.contains(&name.as_str()) || all[..i].iter().any(|(n, _)| n == name) {
            return Err(Bad::Shape);
        }
    }
    let f = &all;
    let optional = |name: &str| get(f, name).filter(|raw| !is_null(raw));
    Ok(match ty.as_str() {
        "offer" => PeerPayload::Offer {
            sdp: string(need(f, "sdp")?)?,
        },
        "answer" => PeerPayload::Answer {
            sdp: string(need(f, "sdp")?)?,
        },
        "ice" => PeerPayload::Ice {
            candidate: string(need(f, "candidate")?)?,
            sdp_mid: optional("sdp_mid").map(string).transpose()?,
            #[allow(clippy::cast_possible_truncation)] // at most u16::MAX
            sdp_m_line_index: optional("sdp_m_line_index")
                .map(|raw| integer(raw, u64::from(u16::MAX)).map(|n| n as u16))
                .transpose()?,
        },
        "end-of-candidates" => PeerPayload::EndOfCandidates {},
        "sender-key" => PeerPayload::SenderKey {
            key: b64(need(f, "key")?)?,
        },
        "key-ack" => PeerPayload::KeyAck {
            epoch: integer(need(f, "epoch")?, u64::MAX)?,
        },
        "hello" => PeerPayload::Hello {},
        "key-request" => PeerPayload::KeyRequest {},
        "safety-commit" => PeerPayload::SafetyCommit {
            c: b64(need(f, "c")?)?,
        },
        "safety-reveal" => PeerPayload::SafetyReveal {
            n: b64(need(f, "n")?)?,
        },
        _ => PeerPayload::DisplayName {
            name: string(need(f, "name")?)?,
        },
    })
}

// ---- writing ----

/// Appends `s` as a JSON string, escaped as serde_json escapes it.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.bytes().enumerate() {
        let esc: &str = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Writes `{"k":v,...}` from already written values.
fn object(fields: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(&mut out, k);
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

fn quoted(s: &str) -> String {
    let mut out = String::new();
    write_str(&mut out, s);
    out
}

/// [`ClientMessage::to_json`]: the bytes serde_json writes for it.
pub(crate) fn client_message(message: &ClientMessage) -> String {
    let v = crate::PROTOCOL_VERSION_TEXT;
    match message {
        ClientMessage::Join { peer, identity, .. } => object(&[
            ("type", "\"join\""),
            ("v", v),
            ("peer", &quoted(peer.as_str())),
            ("identity", &quoted(identity.as_str())),
        ]),
        ClientMessage::Signal { to, payload, .. } => object(&[
            ("type", "\"signal\""),
            ("v", v),
            ("to", &quoted(to.as_str())),
            ("payload", &quoted(payload.as_str())),
        ]),
        ClientMessage::Ping { .. } => object(&[("type", "\"ping\""), ("v", v)]),
        ClientMessage::Leave { .. } => object(&[("type", "\"leave\""), ("v", v)]),
    }
}

/// [`PeerPayload::to_json`]: the bytes serde_json writes for it.
pub(crate) fn write_peer_payload(payload: &PeerPayload) -> String {
    let b64 = |b: &B64UrlBytes| quoted(&crate::b64::encode(&b.0));
    let (ty, fields): (&str, Vec<(&str, String)>) = match payload {
        PeerPayload::Offer { sdp } => ("offer", vec![("sdp", quoted(sdp))]),
        PeerPayload::Answer { sdp } => ("answer", vec![("sdp", quoted(sdp))]),
        PeerPayload::Ice {
            candidate,
            sdp_mid,
            sdp_m_line_index,
        } => (
            "ice",
            vec![
                ("candidate", quoted(candidate)),
                (
                    "sdp_mid",
                    sdp_mid.as_deref().map_or_else(|| "null".to_owned(), quoted),
                ),
                (
                    "sdp_m_line_index",
                    sdp_m_line_index.map_or_else(|| "null".to_owned(), |n| n.to_string()),
                ),
            ],
        ),
        PeerPayload::EndOfCandidates {} => ("end-of-candidates", vec![]),
        PeerPayload::SenderKey { key } => ("sender-key", vec![("key", b64(key))]),
        PeerPayload::KeyAck { epoch } => ("key-ack", vec![("epoch", epoch.to_string())]),
        PeerPayload::Hello {} => ("hello", vec![]),
        PeerPayload::KeyRequest {} => ("key-request", vec![]),
        PeerPayload::SafetyCommit { c } => ("safety-commit", vec![("c", b64(c))]),
        PeerPayload::SafetyReveal { n } => ("safety-reveal", vec![("n", b64(n))]),
        PeerPayload::DisplayName { name } => ("display-name", vec![("name", quoted(name))]),
    };
    let ty = quoted(ty);
    let mut all: Vec<(&str, &str)> = vec![("type", &ty)];
    all.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
    object(&all)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn skipping_handles_depth_without_recursion() {
        let deep = "[".repeat(50_000) + &"]".repeat(50_000);
        let mut r = Reader::new(&deep);
        assert_eq!(r.skip_value(), Ok(()));
        assert!(r.at_end());
        let unclosed = "[".repeat(1000);
        assert_eq!(Reader::new(&unclosed).skip_value(), Err(Bad::Syntax));
    }

    #[test]
    fn strings_decode_escapes_and_pair_surrogates() {
        assert_eq!(string(r#""a\u00e9\n\ud83d\ude00\/""#), Ok("aé\n😀/".into()));
        for bad in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
            r#""\x""#,
            "\"\u{1}\"",
        ] {
            assert_eq!(string(bad), Err(Bad::Shape), "{bad}");
        }
    }

    #[test]
    fn integers_are_plain_digits_in_range() {
        assert_eq!(integer("0", 5), Ok(0));
        assert_eq!(integer("18446744073709551615", u64::MAX), Ok(u64::MAX));
        for bad in ["-0", "1.0", "1e2", "18446744073709551616", "", " 1"] {
            assert_eq!(integer(bad, u64::MAX), Err(Bad::Shape), "{bad}");
        }
        assert_eq!(integer("6", 5), Err(Bad::Shape));
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for s in [
            "",
            "plain",
            "q\"b\\",
            "\u{0}\u{1f}\u{7f}\n\r\t\u{8}\u{c}",
            "é😀</",
        ] {
            assert_eq!(quoted(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }
}

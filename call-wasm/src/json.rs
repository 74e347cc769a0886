//! The core with plain values in and JSON out: what the wasm exports do, as plain Rust
//! (tested natively).
//!
//! Inputs come in as typed calls (numbers, strings, bytes) rather than as JSON: reading the
//! `Input` enum from JSON would link serde's buffering of internally tagged enums, which
//! costs more code than the whole rest of an input's path. Crypto results, which are made by
//! the crypto Worker's Rust, come as the JSON it writes, and the options as JSON: both are read
//! by `sotto_protocol::json` (the same answers as serde_json, without its deserializer or
//! error messages in this module). Actions, events, participants and stats go out as JSON in
//! the shapes `sotto_call` documents, written by `sotto_protocol::json` too (the bytes
//! serde_json writes: the simulation in `call/tests` compares every one it sees).
use serde::de::DeserializeOwned;
use sotto_call::crypto::CryptoResult;
use sotto_call::{CallCore, Config, ConnId, Input, MediaKind, RequestId, SenderSample};
use sotto_protocol::{Identity, PeerId, RoomId};

/// Why the bridge refused something from JavaScript. Every variant has a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeError {
    /// An argument had the wrong shape (names the argument; the parser's reason, which
    /// never quotes the input).
    BadArgument(&'static str, String),
}

impl BridgeError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadArgument(..) => "bad-argument",
        }
    }
}

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadArgument(what, why) => write!(f, "`{what}` has the wrong shape: {why}"),
        }
    }
}

fn bad(what: &'static str) -> impl Fn(String) -> BridgeError {
    move |why| BridgeError::BadArgument(what, why)
}

/// A word of a closed set (`"connected"`, `"offer"`, `"set-remote-description"`, `"video"`)
/// as the enum `sotto_call` reads it from JSON.
pub fn word<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T, BridgeError> {
    sotto_protocol::json::word(text)
        .map_err(|_| BridgeError::BadArgument(what, "not one of the known words".to_owned()))
}

/// Sender samples packed as numbers, four per sender: connection, kind (0 audio, 1 video),
/// sent, seen.
pub fn samples(packed: &[f64]) -> Result<Vec<SenderSample>, BridgeError> {
    let whole = |v: f64| {
        (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_992.0).then(|| {
            // checked above: a whole number in range
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = v as u64;
            n
        })
    };
    if packed.len() % 4 != 0 {
        return Err(BridgeError::BadArgument(
            "samples",
            "not in fours".to_owned(),
        ));
    }
    packed
        .chunks_exact(4)
        .map(|q| {
            let kind = match whole(q[1]) {
                Some(0) => MediaKind::Audio,
                Some(1) => MediaKind::Video,
                _ => return None,
            };
            Some(SenderSample {
                conn: ConnId(whole(q[0])?),
                kind,
                sent: whole(q[2])?,
                seen: whole(q[3])?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| BridgeError::BadArgument("samples", "not whole numbers".to_owned()))
}

/// A [`CallCore`] that takes plain values and gives JSON.
pub struct Core {
    core: CallCore,
}

impl Core {
    /// See `CallCore::new`. Refuses options of the wrong type (e.g. a negative or
    /// fractional `keepaliveMs`), and ids that are not what the wire protocol allows.
    pub fn new(
        config: &str,
        peer_id: &str,
        identity: &str,
        room_id: &str,
        seed: u64,
        now_ms: u64,
    ) -> Result<Self, BridgeError> {
        let config: Config = sotto_protocol::json::from_str(config)
            .map_err(|_| bad("options")("not the JSON of the options".to_owned()))?;
        let me = PeerId::parse(peer_id).map_err(|e| bad("peerId")(e.to_string()))?;
        let identity = Identity::parse(identity).map_err(|e| bad("identity")(e.to_string()))?;
        let room = RoomId::parse(room_id).map_err(|e| bad("roomId")(e.to_string()))?;
        Ok(Self {
            core: CallCore::new(config, me, identity, &room, seed, now_ms),
        })
    }

    pub fn handle(&mut self, input: Input, now_ms: u64) {
        self.core.handle(input, now_ms);
    }

    /// `Input::Crypto` with the crypto Worker's JSON result.
    pub fn crypto(&mut self, request: u64, result: &str, now_ms: u64) -> Result<(), BridgeError> {
        let result: CryptoResult = sotto_protocol::json::from_str(result)
            .map_err(|_| bad("result")("not the JSON of a crypto result".to_owned()))?;
        self.core.handle(
            Input::Crypto {
                request: RequestId(request),
                result,
            },
            now_ms,
        );
        Ok(())
    }

    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.core.handle_timeout(now_ms);
    }

    /// The next action as JSON. (An action that cannot be written as JSON cannot exist:
    /// every field is a string, a number, a bool or bytes; the fallback is there so that
    /// nothing panics.)
    pub fn poll_action(&mut self) -> Option<String> {
        let action = self.core.poll_action()?;
        Some(sotto_protocol::json::to_string(&action).unwrap_or_else(|_| {
            r#"{"type":"emit","event":{"type":"error","code":"internal","message":"an action could not be written"}}"#
                .to_owned()
        }))
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        self.core.poll_timeout()
    }

    pub fn participants(&self) -> String {
        sotto_protocol::json::to_string(&self.core.participants())
            .unwrap_or_else(|_| "[]".to_owned())
    }

    pub fn stats(&self) -> String {
        sotto_protocol::json::to_string(&self.core.stats()).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn epoch(&self) -> Option<u64> {
        self.core.epoch()
    }

    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::Value;
    use sotto_call::input::{PcState, PeerOp, SdpKind};
    use sotto_call::SocketId;

    const ID: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const ROOM: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    fn core() -> Core {
        Core::new(r#"{"keepaliveMs":5000}"#, "me", ID, ROOM, 7, 0).unwrap()
    }

    fn actions(c: &mut Core) -> Vec<Value> {
        std::iter::from_fn(|| c.poll_action())
            .map(|a| serde_json::from_str(&a).unwrap())
            .collect()
    }

    #[test]
    fn a_core_opens_its_socket_joins_and_keeps_time() {
        let mut c = core();
        let first = actions(&mut c);
        assert_eq!(
            first,
            vec![
                serde_json::json!({"type":"open-socket","socket":1,"path":format!("/ws/room/{ROOM}")})
            ]
        );
        c.handle(
            Input::SocketOpened {
                socket: SocketId(1),
            },
            10,
        );
        let sent = actions(&mut c);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["type"], "send-server");
        let join: Value = serde_json::from_str(sent[0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(
            (join["type"].as_str(), join["peer"].as_str()),
            (Some("join"), Some("me"))
        );
        assert!(
            c.poll_timeout().is_some_and(|t| t > 10),
            "a join timeout is armed"
        );
        c.handle(Input::Close, 20);
        let last = actions(&mut c);
        assert_eq!(last.last().unwrap()["event"]["type"], "closed");
        assert!(c.is_closed());
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn bad_options_and_ids_are_refused_with_a_code() {
        for config in [
            r#"{"keepaliveMs":-1}"#,
            r#"{"keepaliveMs":1.5}"#,
            "null",
            "{",
        ] {
            let e = Core::new(config, "me", ID, ROOM, 0, 0).err().unwrap();
            assert!(
                matches!(&e, BridgeError::BadArgument("options", _)),
                "{config}"
            );
            assert_eq!(e.code(), "bad-argument");
        }
        assert!(Core::new("{}", "", ID, ROOM, 0, 0).is_err());
        assert!(Core::new("{}", "me", "not base64url", ROOM, 0, 0).is_err());
        assert!(Core::new("{}", "me", ID, "bad room!", 0, 0).is_err());
        assert!(Core::new("{}", "me", ID, ROOM, 0, 0).is_ok());
    }

    #[test]
    fn crypto_results_are_read_from_the_workers_json_and_bad_ones_refused() {
        let mut c = core();
        actions(&mut c);
        // a result nobody asked for is counted, not acted on
        c.crypto(99, r#"{"committed":{"epoch":3}}"#, 1).unwrap();
        let stats: Value = serde_json::from_str(&c.stats()).unwrap();
        assert_eq!(stats["unexpected_crypto_results"], 1);
        for bad in [
            "",
            "{",
            r#"{"nope":{}}"#,
            r#"{"committed":{}}"#,
            r#"{"op":"committed","epoch":3}"#,
            "[]",
        ] {
            let e = c.crypto(1, bad, 2).unwrap_err();
            assert_eq!(e.code(), "bad-argument", "{bad}");
        }
        assert!(actions(&mut c).is_empty());
    }

    #[test]
    fn refusals_do_not_echo_the_input() {
        let mut c = core();
        let e = c
            .crypto(1, r#"{"chat-opened":{"text":12345678}}"#, 1)
            .unwrap_err();
        assert!(!e.to_string().contains("12345678"), "{e}");
    }

    #[test]
    fn words_read_as_the_json_names() {
        assert_eq!(
            word::<PcState>("state", "disconnected").unwrap(),
            PcState::Disconnected
        );
        assert_eq!(
            word::<PeerOp>("op", "set-remote-description").unwrap(),
            PeerOp::SetRemoteDescription
        );
        assert_eq!(word::<SdpKind>("kind", "answer").unwrap(), SdpKind::Answer);
        assert_eq!(
            word::<MediaKind>("kind", "video").unwrap(),
            MediaKind::Video
        );
        for bad in ["", "Connected", "rollback ", "pranswer"] {
            assert!(word::<PcState>("state", bad).is_err(), "{bad}");
            assert!(word::<SdpKind>("kind", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn samples_come_in_fours_of_whole_numbers() {
        let s = samples(&[2.0, 1.0, 10.0, 9.0, 3.0, 0.0, 0.0, 0.0]).unwrap();
        assert_eq!(
            s,
            vec![
                SenderSample {
                    conn: ConnId(2),
                    kind: MediaKind::Video,
                    sent: 10,
                    seen: 9
                },
                SenderSample {
                    conn: ConnId(3),
                    kind: MediaKind::Audio,
                    sent: 0,
                    seen: 0
                },
            ]
        );
        assert_eq!(samples(&[]).unwrap(), vec![]);
        for bad in [
            vec![1.0, 1.0, 1.0],
            vec![1.0, 2.0, 1.0, 1.0],
            vec![1.0, 1.0, -1.0, 1.0],
            vec![1.0, 1.0, 1.5, 1.0],
            vec![f64::NAN, 1.0, 1.0, 1.0],
            vec![1.0, 1.0, 1e300, 1.0],
        ] {
            assert!(samples(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn participants_and_stats_are_json() {
        let c = core();
        assert_eq!(c.participants(), "[]");
        let stats: Value = serde_json::from_str(&c.stats()).unwrap();
        assert_eq!(stats["invariant"]["trips"], 0);
        assert_eq!(stats["chat"]["delivered_late"], 0);
        assert_eq!(c.epoch(), None);
    }
}

//! `sotto_protocol::json::from_str` (what the page's call core reads the crypto Worker's
//! results and the `joinCall` options with) against `serde_json::from_str`: on arbitrary
//! results and options, on mutations of them and on JSON made of their pieces, the same texts
//! are accepted with the same values and the same ones refused. `json::to_string` writes the
//! bytes `serde_json::to_string` writes (here for results; the simulation checks every action,
//! participant list and stats it sees, `sim/mod.rs`).
//!
//! `CODEC_CASES=100000 cargo test -p sotto-call --release --test json_differential` for a
//! longer run (2,000 cases per property by default).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
use proptest::prelude::*;
use sotto_call::crypto::{
    Admitted, CryptoErrorCode, CryptoResult, KeyHolding, KeyMessage, RejectReason, Rejection,
    SafetyCode, SafetyMessage, SafetyState, SafetyStep,
};
use sotto_call::{Bytes, Config, MediaKind};
use sotto_protocol::peer::B64UrlBytes;
use sotto_protocol::PeerId;

fn cases() -> u32 {
    std::env::var("CODEC_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

fn peer() -> impl Strategy<Value = PeerId> {
    "[A-Za-z0-9_-]{1,10}".prop_map(|s| PeerId::parse(&s).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z\"\\\\/\u{0}-\u{1f}é😀 ]{0,12}",]
}

fn b64() -> impl Strategy<Value = B64UrlBytes> {
    prop::collection::vec(any::<u8>(), 0..12).prop_map(B64UrlBytes)
}

fn safety_message() -> impl Strategy<Value = SafetyMessage> {
    (b64(), prop::collection::vec(peer(), 0..3)).prop_map(|(value, to)| SafetyMessage { value, to })
}

fn crypto_result() -> impl Strategy<Value = CryptoResult> {
    let reason = prop::sample::select(vec![
        RejectReason::OwnPeerId,
        RejectReason::BadPeerId,
        RejectReason::DuplicatePeer,
        RejectReason::BadIdentity,
        RejectReason::ForgedParticipant,
    ]);
    prop_oneof![
        (
            any::<u64>(),
            any::<bool>(),
            prop::collection::vec(
                (peer(), b64()).prop_map(|(to, key)| KeyMessage { to, key }),
                0..3
            ),
            prop::collection::vec(
                (peer(), reason).prop_map(|(peer, reason)| Rejection { peer, reason }),
                0..3
            ),
            prop::collection::vec(
                (peer(), text()).prop_map(|(peer, identity)| Admitted { peer, identity }),
                0..3
            ),
        )
            .prop_map(|(epoch, committed, messages, rejected, admitted)| {
                CryptoResult::Roster {
                    epoch,
                    committed,
                    messages,
                    rejected,
                    admitted,
                }
            }),
        any::<bool>().prop_map(|complete| CryptoResult::Acknowledged { complete }),
        any::<u64>().prop_map(|epoch| CryptoResult::Committed { epoch }),
        (peer(), b64(), any::<u64>()).prop_map(|(to, key, epoch)| CryptoResult::Resealed {
            to,
            key,
            epoch
        }),
        (any::<u64>(), any::<bool>())
            .prop_map(|(epoch, duplicate)| CryptoResult::KeyReceived { epoch, duplicate }),
        prop::collection::vec(
            (
                peer(),
                any::<bool>(),
                prop::option::of(any::<u64>()),
                any::<u64>()
            )
                .prop_map(|(peer, held, epoch, dropped_unknown_key)| KeyHolding {
                    peer,
                    held,
                    epoch,
                    dropped_unknown_key
                }),
            0..3
        )
        .prop_map(|peers| CryptoResult::KeysHeld { peers }),
        prop::collection::vec(any::<u8>(), 0..20)
            .prop_map(|b| CryptoResult::ChatSealed { sealed: Bytes(b) }),
        text().prop_map(|text| CryptoResult::ChatOpened { text }),
        (peer(), text()).prop_map(|(to, envelope)| CryptoResult::Sealed { to, envelope }),
        (peer(), text()).prop_map(|(from, payload)| CryptoResult::Opened { from, payload }),
        (
            prop::sample::select(vec![
                SafetyState::Verifying,
                SafetyState::Ready,
                SafetyState::Failed
            ]),
            prop::option::of(safety_message()),
            prop::option::of(safety_message()),
            prop::option::of(
                (prop::collection::vec(text(), 0..3), text())
                    .prop_map(|(words, hex)| SafetyCode { words, hex })
            ),
            any::<bool>(),
        )
            .prop_map(
                |(state, commit, reveal, code, superseded)| CryptoResult::Safety(SafetyStep {
                    state,
                    commit,
                    reveal,
                    code,
                    superseded
                })
            ),
        ("[a-z-]{0,24}", text()).prop_map(|(code, message)| CryptoResult::Failed {
            code: serde_json::from_str(&serde_json::to_string(&code).unwrap())
                .unwrap_or(CryptoErrorCode::Unknown),
            message
        }),
    ]
}

/// Options as an application might pass them (every known name, some unknown ones, values
/// of every kind).
fn options() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "e2ee",
        "reconnect",
        "keepaliveMs",
        "iceRestartDelayMs",
        "iceBackoffBaseMs",
        "iceBackoffMaxMs",
        "stableConnectionMs",
        "negotiationTimeoutMs",
        "peerTimeoutMs",
        "rejoinGraceMs",
        "switchTimeoutMs",
        "keyWaitMs",
        "constantBitrateAudio",
        "displayName",
        "privacy",
        "verifiedIdentities",
        "signalingUrl",
        "iceServers",
        "baseMs",
        "maxMs",
    ]);
    let value = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..100_000).prop_map(|n| n.to_string()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("null".to_owned()),
        Just("-1".to_owned()),
        Just("1.5".to_owned()),
        Just("1e3".to_owned()),
        Just("\"relay\"".to_owned()),
        Just("\"default\"".to_owned()),
        Just("{\"relay\":null}".to_owned()),
        Just("{\"baseMs\":10,\"maxMs\":20}".to_owned()),
        Just("[10,20]".to_owned()),
        Just("[\"AAAA\",\"BBBB\"]".to_owned()),
        Just("[{\"urls\":\"stun:x\"}]".to_owned()),
        text().prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    prop::collection::vec((key, value), 0..8).prop_map(|fields| {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    })
}

const TOKENS: &[&str] = &[
    "\"",
    "\\",
    "\\u",
    "\\ud800",
    "\\udc00x",
    "\\ud83d\\ude00",
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    "null",
    "true",
    "0",
    "-0",
    "01",
    "1.5",
    "1e2",
    "-",
    "256",
    "65536",
    "18446744073709551616",
    " ",
    "\u{1}",
    "\"x\":1,",
    "\"epoch\":",
    "\"safety\":",
    "{\"failed\":{\"code\":\"x\"}}",
    "é",
];

fn mutate(text: &str, edits: &[(f64, u8, usize)]) -> String {
    let mut s = text.to_owned();
    for &(at, kind, token) in edits {
        let b: Vec<usize> = s
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(s.len()))
            .collect();
        let i = b[((at * b.len() as f64) as usize).min(b.len() - 1)];
        let after = |n: usize| b.iter().copied().find(|&x| x > i + n).unwrap_or(s.len());
        match kind % 4 {
            0 => s.insert_str(i, TOKENS[token % TOKENS.len()]),
            1 => {
                let end = after(token % 6);
                s.replace_range(i..end, "");
            }
            2 => {
                let end = after(token % 12);
                let piece = s[i..end].to_owned();
                s.insert_str(end, &piece);
            }
            _ => {
                let end = after(0);
                s.replace_range(i..end, TOKENS[token % TOKENS.len()]);
            }
        }
    }
    s
}

fn edits() -> impl Strategy<Value = Vec<(f64, u8, usize)>> {
    prop::collection::vec((0.0..1.0f64, any::<u8>(), any::<usize>()), 1..4)
}

fn agree<T>(text: &str) -> Result<(), TestCaseError>
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let ours = sotto_protocol::json::from_str::<T>(text).ok();
    let serde = serde_json::from_str::<T>(text).ok();
    prop_assert_eq!(ours, serde, "{:?}", text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn crypto_results_read_the_same(r in crypto_result()) {
        let json = serde_json::to_string(&r).unwrap();
        // written as serde_json writes it (struct, newtype and unit variants, options, lists, bytes)
        prop_assert_eq!(sotto_protocol::json::to_string(&r).ok(), Some(json.clone()));
        prop_assert_eq!(sotto_protocol::json::from_str::<CryptoResult>(&json).ok(), Some(r));
    }

    #[test]
    fn mutated_crypto_results_read_the_same(r in crypto_result(), edits in edits()) {
        agree::<CryptoResult>(&mutate(&serde_json::to_string(&r).unwrap(), &edits))?;
    }

    #[test]
    fn options_read_the_same(text in options(), edits in prop::option::of(edits())) {
        let text = match edits { Some(e) => mutate(&text, &e), None => text };
        agree::<Config>(&text)?;
    }

    #[test]
    fn any_text_reads_the_same(s in any::<String>()) {
        agree::<CryptoResult>(&s)?;
        agree::<Config>(&s)?;
    }
}

#[test]
fn edges_read_the_same() {
    for text in [
        "",
        "{}",
        "[]",
        "null",
        r#"{"committed":{"epoch":3}}"#,
        r#"{"committed":{"epoch":3}} x"#,
        r#"{"committed":{"epoch":3},}"#,
        r#"{"committed":{"epoch":-0}}"#,
        r#"{"committed":{"epoch":1.0}}"#,
        r#"{"committed":[3]}"#,
        r#"{"committed":[3,4]}"#,
        r#"{"committed":{"epoch":3,"epoch":4}}"#,
        r#"{"committed":{"epoch":3,"x":1}}"#,
        r#""committed""#,
        r#"{"chat-sealed":{"sealed":"abc"}}"#,
        r#"{"chat-sealed":{"sealed":"a\ud800b"}}"#,
        r#"{"chat-sealed":{"sealed":"\ud800\u0041"}}"#,
        r#"{"chat-sealed":{"sealed":"\ud800\n"}}"#,
        r#"{"chat-sealed":{"sealed":[1,256]}}"#,
        r#"{"failed":{"code":"stale-epoch"}}"#,
        r#"{"failed":{"code":"brand-new"}}"#,
        r#"{"safety":{"state":"ready","commit":null}}"#,
        r#"{"roster":{"epoch":1,"committed":true,"messages":[],"rejected":[{"peer":"a","reason":{"bad-peer-id":null}}],"admitted":[]}}"#,
    ] {
        let ours = sotto_protocol::json::from_str::<CryptoResult>(text).ok();
        let serde = serde_json::from_str::<CryptoResult>(text).ok();
        assert_eq!(ours, serde, "{text}");
    }
    for text in [
        "{}",
        r#"{"privacy":"relay"}"#,
        r#"{"privacy":{"relay":null}}"#,
        r#"{"privacy":{"relay":1}}"#,
        r#"{"keepaliveMs":1e3}"#,
        r#"{"x":1e999}"#,
        r#"{"x":[[[[[[[[[[]]]]]]]]]]}"#,
        r#"{"reconnect":[1,2]}"#,
        r#"{"reconnect":[1,2,3]}"#,
        r#"{"displayName":null}"#,
        r#"{"verifiedIdentities":["a",1]}"#,
        r#"{"e2ee":0}"#,
    ] {
        let ours = sotto_protocol::json::from_str::<Config>(text).ok();
        let serde = serde_json::from_str::<Config>(text).ok();
        assert_eq!(ours, serde, "{text}");
    }
    // and the words of the bridge
    assert_eq!(
        sotto_protocol::json::word::<MediaKind>("video").ok(),
        Some(MediaKind::Video)
    );
    assert!(sotto_protocol::json::word::<MediaKind>("Video").is_err());
}

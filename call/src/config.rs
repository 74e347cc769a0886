//! The call's timing and media options (the `joinCall` options that concern the core).
//!
//! Read with serde from the same camelCase names `joinCall` takes (`keepaliveMs`,
//! `reconnect: {baseMs, maxMs}`, ...); unknown fields are ignored (the bridge may pass the
//! whole options object) and missing ones take their defaults. [`Config::sanitized`] clamps
//! values that would make a timer fire in a loop.
use serde::{Deserialize, Serialize};

/// Signaling reconnect back-off: the n-th delay is drawn from `[c/2, c]` with
/// `c = min(max_ms, base_ms * 2^n)` ("equal jitter").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReconnectConfig {
    pub base_ms: u64,
    pub max_ms: u64,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            base_ms: 250,
            max_ms: 4_000,
        }
    }
}

/// Which ICE candidates a call may use (`joinCall({privacy})`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Privacy {
    /// Every candidate: direct paths when they work (peers learn each other's addresses).
    #[default]
    Default,
    /// Relay (TURN) candidates only, both ways: peers never learn each other's addresses.
    /// The bridge sets `iceTransportPolicy: 'relay'` with TURN credentials; the core also
    /// drops every other candidate it is given or sent, and strips them from descriptions.
    Relay,
}

/// Everything the core can be told. Defaults are those documented in `client-wasm/README.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    /// `false` only when the application opted out of end-to-end encryption (`e2ee: false`):
    /// then no frame transforms exist and the sender invariant is not sampled.
    pub e2ee: bool,
    pub reconnect: ReconnectConfig,
    /// Ping interval on the signaling socket.
    pub keepalive_ms: u64,
    /// How long a `disconnected` path may last before the offerer restarts ICE.
    pub ice_restart_delay_ms: u64,
    /// Back-off between ICE restarts of one connection: 1 s, 2 s, 4 s, then `ice_backoff_max_ms`.
    pub ice_backoff_base_ms: u64,
    pub ice_backoff_max_ms: u64,
    /// A connection must have stayed `connected` this long for the back-off to start over.
    pub stable_connection_ms: u64,
    /// An offer that has not led to `connected` within this is retried (ICE restart, under
    /// the same back-off); a peer with no connection says `hello` again after it.
    pub negotiation_timeout_ms: u64,
    /// A media path down (or never up) this long, counted from the first loss: the peer is
    /// dropped as `vanished` and keys rotate.
    pub peer_timeout_ms: u64,
    /// After a signaling rejoin, how long a still-connected peer may take to rejoin.
    pub rejoin_grace_ms: u64,
    /// A pending sender key is committed when every peer acknowledged it, or after this.
    pub switch_timeout_ms: u64,
    /// A connected peer whose key has not arrived this long is `waiting-for-keys`.
    pub key_wait_ms: u64,
    /// `cbr=1` on every Opus payload of every description (local and remote).
    pub constant_bitrate_audio: bool,
    /// The name shown to the others (sent sealed to each participant; the server never sees
    /// it). Cleaned by [`Config::sanitized`]: trimmed, at most 64 characters, no controls.
    pub display_name: Option<String>,
    pub privacy: Privacy,
    /// Identity keys (base64url) the application already verified: participants holding one
    /// of them are `verified` from the start (for identities that outlive a call).
    pub verified_identities: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            e2ee: true,
            reconnect: ReconnectConfig::default(),
            keepalive_ms: 15_000,
            ice_restart_delay_ms: 2_000,
            ice_backoff_base_ms: 1_000,
            ice_backoff_max_ms: 8_000,
            stable_connection_ms: 10_000,
            negotiation_timeout_ms: 5_000,
            peer_timeout_ms: 15_000,
            rejoin_grace_ms: 10_000,
            switch_timeout_ms: 1_000,
            key_wait_ms: 3_000,
            constant_bitrate_audio: true,
            display_name: None,
            privacy: Privacy::Default,
            verified_identities: Vec::new(),
        }
    }
}

/// At most this many identities are verified in advance.
pub const MAX_VERIFIED_IDENTITIES: usize = 256;

impl Config {
    /// The same options with every interval clamped to something that cannot spin: periodic
    /// timers at least 100 ms apart, back-offs at least 1 ms, maxima not below their bases,
    /// nothing longer than a day.
    pub fn sanitized(mut self) -> Self {
        const DAY: u64 = 86_400_000;
        let clamp = |v: u64, min: u64| v.clamp(min, DAY);
        self.reconnect.base_ms = clamp(self.reconnect.base_ms, 1);
        self.reconnect.max_ms = clamp(self.reconnect.max_ms, self.reconnect.base_ms);
        self.keepalive_ms = clamp(self.keepalive_ms, 100);
        self.ice_restart_delay_ms = clamp(self.ice_restart_delay_ms, 0);
        self.ice_backoff_base_ms = clamp(self.ice_backoff_base_ms, 1);
        self.ice_backoff_max_ms = clamp(self.ice_backoff_max_ms, self.ice_backoff_base_ms);
        self.stable_connection_ms = clamp(self.stable_connection_ms, 0);
        self.negotiation_timeout_ms = clamp(self.negotiation_timeout_ms, 100);
        self.peer_timeout_ms = clamp(self.peer_timeout_ms, 100);
        self.rejoin_grace_ms = clamp(self.rejoin_grace_ms, 0);
        self.switch_timeout_ms = clamp(self.switch_timeout_ms, 1);
        self.key_wait_ms = clamp(self.key_wait_ms, 0);
        self.display_name = self
            .display_name
            .as_deref()
            .and_then(sotto_protocol::peer::clean_display_name);
        self.verified_identities.truncate(MAX_VERIFIED_IDENTITIES);
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_join_call_option_names_and_ignores_the_rest() {
        let c: Config = serde_json::from_str(
            r#"{"keepaliveMs":5000,"reconnect":{"baseMs":100},"localStream":{},"e2ee":false}"#,
        )
        .unwrap();
        assert_eq!(c.keepalive_ms, 5_000);
        assert_eq!(c.reconnect.base_ms, 100);
        assert_eq!(c.reconnect.max_ms, 4_000);
        assert!(!c.e2ee);
        assert_eq!(c.peer_timeout_ms, 15_000);
        assert_eq!(c.privacy, Privacy::Default);
        let c: Config = serde_json::from_str(
            r#"{"displayName":"  Ada\u0007 ","privacy":"relay","verifiedIdentities":["K"]}"#,
        )
        .unwrap();
        let c = c.sanitized();
        assert_eq!(c.display_name.as_deref(), Some("Ada"));
        assert_eq!(c.privacy, Privacy::Relay);
        assert_eq!(c.verified_identities, vec!["K".to_owned()]);
        assert!(serde_json::from_str::<Config>(r#"{"privacy":"stealth"}"#).is_err());
        let blank: Config = serde_json::from_str(r#"{"displayName":" "}"#).unwrap();
        assert_eq!(blank.sanitized().display_name, None);
    }

    #[test]
    fn sanitized_never_lets_a_timer_spin() {
        let c = Config {
            keepalive_ms: 0,
            ice_backoff_base_ms: 0,
            ice_backoff_max_ms: 0,
            reconnect: ReconnectConfig {
                base_ms: 0,
                max_ms: 0,
            },
            peer_timeout_ms: u64::MAX,
            ..Config::default()
        }
        .sanitized();
        assert_eq!(c.keepalive_ms, 100);
        assert_eq!((c.ice_backoff_base_ms, c.ice_backoff_max_ms), (1, 1));
        assert_eq!((c.reconnect.base_ms, c.reconnect.max_ms), (1, 1));
        assert_eq!(c.peer_timeout_ms, 86_400_000);
    }
}

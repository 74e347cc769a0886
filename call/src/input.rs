//! Everything that can happen to a call, as the bridge reports it to the core.
use serde::{Deserialize, Serialize};

use sotto_protocol::PeerId;

use crate::crypto::CryptoResult;
use crate::{Bytes, ConnId, MediaKind, RequestId, SocketId};

/// `RTCPeerConnection.connectionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PcState {
    New,
    Connecting,
    Connected,
    Disconnected,
    Failed,
    Closed,
}

/// The type of a session description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SdpKind {
    Offer,
    Answer,
}

/// A WebRTC operation the core asked for (named in its completion or failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerOp {
    /// `Action::AttachLocalMediaAndTransforms`.
    Attach,
    /// `Action::ProtectNewTransceivers`.
    Protect,
    CreateOffer,
    CreateAnswer,
    SetLocalDescription,
    SetRemoteDescription,
    Rollback,
    AddIceCandidate,
}

/// An ICE candidate as `RTCIceCandidate` gives it (and as the `ice` peer payload carries it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default)]
    pub sdp_m_line_index: Option<u16>,
}

/// One sender's counters for the fail-open invariant: what the browser says it sent
/// (`framesEncoded` for video, `packetsSent` for audio, read first) and what the encrypt
/// transform attached to it saw (read from the crypto Worker after).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderSample {
    pub conn: ConnId,
    pub kind: MediaKind,
    pub sent: u64,
    pub seen: u64,
}

/// One event for the core. Each comes with the time (`handle(input, now_ms)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Input {
    /// The local stream (camera/microphone, or none) is settled: peers may be negotiated.
    /// Server messages that came before wait until then.
    LocalMediaReady,
    /// `Action::OpenSocket`'s socket opened.
    SocketOpened { socket: SocketId },
    /// A text frame arrived on the socket (binary frames are reported with their bytes
    /// decoded lossily, or not at all: the server never sends any).
    SocketMessage { socket: SocketId, text: String },
    /// The socket closed (its close code; 1006 when it failed).
    SocketClosed { socket: SocketId, code: u16 },
    /// `connectionstatechange`.
    PeerConnectionState { conn: ConnId, state: PcState },
    /// The chat data channel of a connection opened or closed.
    DataChannelState { conn: ConnId, open: bool },
    /// `icecandidate` with a candidate (the end-of-candidates `null` is not reported).
    IceCandidate {
        conn: ConnId,
        candidate: IceCandidate,
    },
    /// `CreateOffer` / `CreateAnswer` resolved.
    DescriptionCreated {
        conn: ConnId,
        kind: SdpKind,
        sdp: String,
    },
    /// An operation without a result resolved (`Attach`, `Protect`, `SetLocalDescription`,
    /// `SetRemoteDescription`, `Rollback`, `AddIceCandidate`).
    PeerOpDone { conn: ConnId, op: PeerOp },
    /// An operation rejected (or threw).
    PeerOpFailed {
        conn: ConnId,
        op: PeerOp,
        #[serde(default)]
        message: String,
    },
    /// A message on a connection's chat data channel; `data` is `None` when it was not
    /// binary.
    ChatFrame { conn: ConnId, data: Option<Bytes> },
    /// The crypto Worker answered request `request`.
    Crypto {
        request: RequestId,
        result: CryptoResult,
    },
    /// The answer to `Action::SampleSenders`.
    SenderSamples { samples: Vec<SenderSample> },
    /// `call.sendChat(text)`; answered with `chat-sent` or `chat-failed` for `request`.
    SendChat { request: u64, text: String },
    /// `call.replaceTrack(track)` (and `switchDevice`, `shareScreen`): the bridge has the new
    /// track of `kind`; the core says which senders may take it.
    ReplaceTrack { kind: MediaKind },
    /// `call.setVerified(peer, verified)`: the people compared the safety code (or took it
    /// back). Verification belongs to the peer's current identity key.
    SetVerified { peer: PeerId, verified: bool },
    /// `call.close()`.
    Close,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn inputs_read_from_the_bridge_shapes() {
        let i: Input = serde_json::from_str(
            r#"{"type":"peer-connection-state","conn":3,"state":"disconnected"}"#,
        )
        .unwrap();
        assert_eq!(
            i,
            Input::PeerConnectionState {
                conn: ConnId(3),
                state: PcState::Disconnected
            }
        );
        let i: Input = serde_json::from_str(
            r#"{"type":"ice-candidate","conn":1,"candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdp_mid":"0","sdp_m_line_index":0}}"#,
        )
        .unwrap();
        assert!(matches!(i, Input::IceCandidate { .. }));
        assert!(
            serde_json::from_str::<Input>(r#"{"type":"socket-opened","socket":1,"extra":1}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<Input>(r#"{"type":"nope"}"#).is_err());
    }
}

//! What the core asks the bridge to do. Each action is small and mechanical; the bridge runs
//! them in the order they come, one at a time (awaiting each WebRTC promise), and reports
//! every WebRTC operation's outcome (`PeerOpDone`, `DescriptionCreated`, `PeerOpFailed`).
use serde::Serialize;
use sotto_protocol::PeerId;

use crate::crypto::CryptoRequest;
use crate::event::AppEvent;
use crate::input::{IceCandidate, SdpKind};
use crate::{Bytes, ConnId, MediaKind, RequestId, SocketId};

/// Which side of a connection this participant is: the offerer makes every offer on it
/// (the first one and every ICE restart), the answerer only answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Offerer,
    Answerer,
}

/// One thing for the bridge to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Action {
    /// Open a WebSocket to `<signalingUrl><path>`; report `SocketOpened`, `SocketMessage`,
    /// `SocketClosed` with `socket`.
    OpenSocket {
        socket: SocketId,
        path: String,
    },
    /// Send this text frame (always a `sotto-protocol` room message) if `socket` is open.
    SendServer {
        socket: SocketId,
        text: String,
    },
    /// Close the socket (it is forgotten at once: its later events are ignored).
    CloseSocket {
        socket: SocketId,
        code: u16,
        reason: &'static str,
    },
    /// Post a request to the crypto Worker; report `Input::Crypto` with `request`.
    Crypto {
        request: RequestId,
        op: CryptoRequest,
    },
    /// New `RTCPeerConnection` for `peer` (ICE servers from the options, encoded insertable
    /// streams if that is the transform API) with the negotiated chat data channel (id 0);
    /// report its state changes, candidates and channel events with `conn`.
    CreatePeer {
        peer: PeerId,
        conn: ConnId,
    },
    /// Add the local media and attach a sender and a receiver transform to every transceiver
    /// made here: as `Offerer`, one transceiver per kind (`sendrecv` with the local track,
    /// else `recvonly`), codec preferences set; as `Answerer`, `addTrack` for each local
    /// track. Always the first operation on a connection: no description is applied to it
    /// before this is done (`PeerOpDone{op: attach}`).
    AttachLocalMediaAndTransforms {
        conn: ConnId,
        role: Role,
    },
    /// Attach transforms to every transceiver that has none yet (those a remote offer made).
    ProtectNewTransceivers {
        conn: ConnId,
    },
    CreateOffer {
        conn: ConnId,
        ice_restart: bool,
    },
    CreateAnswer {
        conn: ConnId,
    },
    /// `setLocalDescription({type: kind, sdp})`, with the sdp exactly as given (tuned).
    SetLocalDescription {
        conn: ConnId,
        kind: SdpKind,
        sdp: String,
    },
    /// `setRemoteDescription({type: kind, sdp})`, with the sdp exactly as given (tuned).
    SetRemoteDescription {
        conn: ConnId,
        kind: SdpKind,
        sdp: String,
    },
    /// `setLocalDescription({type: 'rollback'})`.
    Rollback {
        conn: ConnId,
    },
    AddIceCandidate {
        conn: ConnId,
        candidate: IceCandidate,
    },
    /// Close the connection (its later events are ignored).
    ClosePeer {
        conn: ConnId,
    },
    /// The fail-open invariant tripped: `replaceTrack(null)` on that sender, and never give
    /// it a track again.
    BlockSender {
        conn: ConnId,
        peer: PeerId,
        kind: MediaKind,
    },
    /// Give this connection's `kind` sender the current local track of that kind (after
    /// `Input::ReplaceTrack`); never sent for a blocked sender.
    SetSenderTrack {
        conn: ConnId,
        kind: MediaKind,
    },
    /// Read, for every sender with a track on these connections, `sent` from `getStats` and
    /// then `seen` from the crypto Worker's transform counts; report `Input::SenderSamples`.
    SampleSenders {
        conns: Vec<ConnId>,
    },
    /// Send sealed chat bytes on the connection's chat data channel.
    SendChatFrame {
        conn: ConnId,
        data: Bytes,
    },
    /// Dispatch an application event (or settle a pending promise: see [`AppEvent`]).
    Emit {
        event: AppEvent,
    },
}

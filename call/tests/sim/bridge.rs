//! The fake bridge: carries out each action of a core against the fake WebRTC, the fake
//! crypto Worker (real `GroupKeys`) and the simulated sockets, and reports back.
use sotto_call::input::{PeerOp, SdpKind};
use sotto_call::{Action, AppEvent, ConnId, Input, MediaKind};

use super::webrtc::{kind_index, FakePc};
use super::{Event, Sim};

impl Sim {
    pub(super) fn pc(&mut self, client: usize, conn: ConnId) -> Option<&mut FakePc> {
        self.pcs.get_mut(&(client, conn)).filter(|p| !p.closed)
    }

    pub(super) fn op_result(
        &mut self,
        client: usize,
        conn: ConnId,
        op: PeerOp,
        r: Result<(), &'static str>,
    ) {
        let input = match r {
            Ok(()) => Input::PeerOpDone { conn, op },
            Err(e) => Input::PeerOpFailed {
                conn,
                op,
                message: e.into(),
            },
        };
        self.later(client, 1, input);
    }

    pub(super) fn act(&mut self, client: usize, action: Action) {
        match action {
            Action::OpenSocket { socket, path } => {
                assert_eq!(path, format!("/ws/room/{}", self.room_id.as_str()));
                let delay = self.latency();
                if self.signaling_down.contains(&client) {
                    self.later(client, delay, Input::SocketClosed { socket, code: 1006 });
                } else {
                    let conn = self.room.allocate_conn();
                    self.max_conn = self.max_conn.max(conn.0);
                    self.clients[client].sockets.insert(socket, conn);
                    self.server_conns.insert(conn, (client, socket));
                    let at = self.now + delay;
                    self.schedule(
                        at,
                        Event::ServerOpen {
                            client,
                            socket,
                            conn,
                        },
                    );
                }
            }
            Action::SendServer { socket, text } => {
                let Some(conn) = self.clients[client].sockets.get(&socket).copied() else {
                    return;
                };
                if !self.server_conns.contains_key(&conn) {
                    return;
                }
                let at = (self.now + self.latency()).max(self.clients[client].last_up);
                self.clients[client].last_up = at;
                self.schedule(at, Event::ToServer { conn, text });
            }
            Action::CloseSocket { socket, .. } => {
                if let Some(conn) = self.clients[client].sockets.remove(&socket) {
                    let at = self.now + self.latency();
                    self.schedule(at, Event::ServerClosed { conn });
                }
            }
            Action::Crypto { request, op } => {
                let now = self.now;
                let plain = match &op {
                    sotto_call::CryptoRequest::Seal { payload, .. } => Some(payload.clone()),
                    _ => None,
                };
                let result = self.clients[client].crypto.run(op, now);
                if let (Some(plain), sotto_call::CryptoResult::Sealed { envelope, to }) =
                    (plain, &result)
                {
                    self.plaintexts.insert(envelope.clone(), plain);
                    self.sealed_to.push((client, to.clone()));
                }
                let at = self.crypto_answer_at(client);
                self.schedule(
                    at,
                    Event::Input {
                        client,
                        input: Input::Crypto { request, result },
                    },
                );
            }
            Action::CreatePeer { peer, conn } => {
                let uid = self.next_uid;
                self.next_uid += 1;
                let mut pc = FakePc::new(uid, client, conn, peer);
                pc.skips_transform = self.clients[client].skips_transform;
                pc.relay = self.clients[client].relay;
                self.pcs.insert((client, conn), pc);
            }
            Action::AttachLocalMediaAndTransforms { conn, .. } => {
                let r = self
                    .pc(client, conn)
                    .map(|pc| pc.attached = true)
                    .ok_or("closed");
                self.op_result(client, conn, PeerOp::Attach, r);
            }
            Action::ProtectNewTransceivers { conn } => {
                let r = self.pc(client, conn).map(|_| ()).ok_or("closed");
                self.op_result(client, conn, PeerOp::Protect, r);
            }
            Action::CreateOffer { conn, ice_restart } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(|pc| pc.create(SdpKind::Offer, ice_restart));
                self.created(client, conn, SdpKind::Offer, r);
            }
            Action::CreateAnswer { conn } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(|pc| pc.create(SdpKind::Answer, false));
                self.created(client, conn, SdpKind::Answer, r);
            }
            Action::SetLocalDescription { conn, kind, sdp } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(|pc| pc.set_local(kind, &sdp));
                let candidates = self
                    .pc(client, conn)
                    .map(|pc| pc.candidates())
                    .unwrap_or_default();
                let ok = r.is_ok();
                self.op_result(client, conn, PeerOp::SetLocalDescription, r);
                if ok {
                    for (i, candidate) in candidates.into_iter().enumerate() {
                        self.later(
                            client,
                            5 + i as u64 * 5,
                            Input::IceCandidate { conn, candidate },
                        );
                    }
                }
            }
            Action::SetRemoteDescription { conn, kind, sdp } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(|pc| pc.set_remote(kind, &sdp));
                self.op_result(client, conn, PeerOp::SetRemoteDescription, r);
            }
            Action::Rollback { conn } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(FakePc::rollback);
                self.op_result(client, conn, PeerOp::Rollback, r);
            }
            Action::AddIceCandidate { conn, candidate } => {
                let r = self
                    .pc(client, conn)
                    .ok_or("closed")
                    .and_then(|pc| pc.add_candidate(&candidate));
                self.op_result(client, conn, PeerOp::AddIceCandidate, r);
            }
            Action::ClosePeer { conn } => {
                if let Some(pc) = self.pcs.get_mut(&(client, conn)) {
                    pc.closed = true;
                    pc.dc_open = false;
                }
            }
            Action::BlockSender { conn, kind, .. } => {
                if let Some(pc) = self.pcs.get_mut(&(client, conn)) {
                    pc.blocked.insert(kind);
                }
            }
            Action::SetSenderTrack { conn, kind } => {
                if let Some(pc) = self.pcs.get(&(client, conn)) {
                    assert!(
                        !pc.blocked.contains(&kind),
                        "a blocked sender got a track again"
                    );
                }
            }
            Action::SampleSenders { conns } => {
                let mut samples = Vec::new();
                for conn in conns {
                    if let Some(pc) = self.pcs.get(&(client, conn)).filter(|p| !p.closed) {
                        for kind in [MediaKind::Audio, MediaKind::Video] {
                            if pc.blocked.contains(&kind) {
                                continue;
                            }
                            let i = kind_index(kind);
                            samples.push(sotto_call::SenderSample {
                                conn,
                                kind,
                                sent: pc.sent[i],
                                seen: pc.seen[i],
                            });
                        }
                    }
                }
                self.later(client, 2, Input::SenderSamples { samples });
            }
            Action::SendChatFrame { conn, data } => {
                if let Some((to, to_conn)) = self.partner(client, conn) {
                    if self.pcs[&(to, to_conn)].dc_open {
                        let input = Input::ChatFrame {
                            conn: to_conn,
                            data: Some(data),
                        };
                        self.later(to, 5, input);
                    }
                }
            }
            Action::Emit { event } => {
                if matches!(event, AppEvent::JoinFailed { .. }) {
                    // joinCall rejected: this participant is not in the call
                    self.clients[client].honest = false;
                }
                if let AppEvent::Chat { from, text } = &event {
                    self.clients[client]
                        .chats
                        .push((from.clone(), text.clone()));
                }
                self.clients[client].events.push((self.now, event));
            }
        }
    }

    pub(super) fn created(
        &mut self,
        client: usize,
        conn: ConnId,
        kind: SdpKind,
        r: Result<String, &'static str>,
    ) {
        let input = match r {
            Ok(sdp) => Input::DescriptionCreated { conn, kind, sdp },
            Err(e) => Input::PeerOpFailed {
                conn,
                op: match kind {
                    SdpKind::Offer => PeerOp::CreateOffer,
                    SdpKind::Answer => PeerOp::CreateAnswer,
                },
                message: e.into(),
            },
        };
        self.later(client, 1, input);
    }
}

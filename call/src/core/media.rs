//! Chat, the sender invariant, and local tracks.
use sotto_protocol::PeerId;

use super::{CallCore, Pending, STALE_QUERY_MS};
use crate::action::Action;
use crate::crypto::{CryptoErrorCode, CryptoRequest, CryptoResult};
use crate::error::{CallError, ErrorCode};
use crate::event::AppEvent;
use crate::input::SenderSample;
use crate::{Bytes, ConnId, MediaKind};

/// Chat text limit (UTF-8 bytes).
pub const MAX_CHAT_BYTES: usize = 16 * 1024;
/// A sealed chat frame larger than this is refused unopened.
pub const MAX_CHAT_FRAME_BYTES: usize = MAX_CHAT_BYTES + 1024;

impl CallCore {
    pub(super) fn send_chat(&mut self, request: u64, text: String) {
        let refuse = if text.is_empty() {
            Some(CallError::new(
                ErrorCode::BadArgument,
                "chat text must be a non-empty string",
            ))
        } else if text.len() > MAX_CHAT_BYTES {
            Some(CallError::new(
                ErrorCode::ChatTooLarge,
                "chat messages are limited to 16,384 bytes",
            ))
        } else {
            None
        };
        match refuse {
            Some(error) => self.emit(AppEvent::ChatFailed { request, error }),
            None => self.crypto(
                CryptoRequest::SealChat { text },
                Pending::SealChat { request },
            ),
        }
    }

    pub(super) fn chat_sealed(&mut self, request: u64, result: CryptoResult) {
        let sealed = match result {
            CryptoResult::ChatSealed { sealed } => sealed,
            CryptoResult::Failed { code, .. } => {
                let error =
                    CallError::new(ErrorCode::Crypto(code), "the message could not be sealed");
                self.emit(AppEvent::ChatFailed { request, error });
                return;
            }
            _ => {
                self.stats.unexpected_crypto_results += 1;
                let error = CallError::new(ErrorCode::Internal, "the crypto worker answered oddly");
                self.emit(AppEvent::ChatFailed { request, error });
                return;
            }
        };
        let open: Vec<ConnId> = self
            .peers
            .values()
            .filter_map(|p| p.conn.as_ref().filter(|c| c.chat_open).map(|c| c.id))
            .collect();
        for conn in &open {
            self.out.push_back(Action::SendChatFrame {
                conn: *conn,
                data: sealed.clone(),
            });
        }
        let delivered = u32::try_from(open.len()).unwrap_or(u32::MAX);
        if delivered == 0 {
            let error = CallError::new(
                ErrorCode::NoPeers,
                "nobody is connected to receive the message",
            );
            self.emit(AppEvent::ChatFailed { request, error });
        } else {
            self.emit(AppEvent::ChatSent { request, delivered });
        }
    }

    pub(super) fn on_chat_frame(&mut self, conn: ConnId, data: Option<Bytes>) {
        let Some(from) = self.conn_owner.get(&conn).cloned() else {
            return;
        };
        let Some(data) = data.filter(|d| d.0.len() <= MAX_CHAT_FRAME_BYTES) else {
            self.error(
                CallError::new(
                    ErrorCode::BadChatMessage,
                    "a chat message was not binary, or too large",
                )
                .about(&from),
            );
            return;
        };
        for dropped in self.chat.push(from.clone(), data, self.now) {
            self.error(
                CallError::new(
                    ErrorCode::ChatRejected,
                    "a chat message was dropped: too many were waiting for their keys",
                )
                .about(&dropped),
            );
        }
        self.open_next_chat(&from);
    }

    /// Opens the first waiting message of `from`, if it may be opened now.
    pub(super) fn open_next_chat(&mut self, from: &PeerId) {
        if let Some(next) = self.chat.next_to_open(from) {
            self.crypto(
                CryptoRequest::OpenChat {
                    from: next.from,
                    sealed: next.data,
                },
                Pending::OpenChat {
                    seq: next.seq,
                    from: from.clone(),
                },
            );
        }
    }

    pub(super) fn chat_opened(&mut self, seq: u64, from: &PeerId, result: CryptoResult) {
        match result {
            CryptoResult::ChatOpened { text } => {
                if self.chat.done(seq, true).is_some() && self.peers.contains_key(from) {
                    self.emit(AppEvent::Chat {
                        from: from.clone(),
                        text,
                    });
                }
            }
            CryptoResult::Failed {
                code: CryptoErrorCode::ChatKeyPending,
                ..
            } => {
                // sealed under a key of that sender not here yet: its line waits
                self.chat.key_pending(seq);
                return;
            }
            CryptoResult::Failed { code, .. } => {
                self.chat.done(seq, false);
                self.error(
                    CallError::new(ErrorCode::Crypto(code), "a chat message was rejected")
                        .about(from),
                );
            }
            _ => {
                self.chat.done(seq, false);
                self.stats.unexpected_crypto_results += 1;
            }
        }
        self.open_next_chat(from);
    }

    /// `call.replaceTrack`: every sender of that kind takes the new track, except blocked
    /// ones (a sender stopped by the invariant stays stopped).
    pub(super) fn replace_track(&mut self, kind: MediaKind) {
        let conns: Vec<ConnId> = self
            .peers
            .values()
            .filter_map(|p| p.conn.as_ref().map(|c| c.id))
            .filter(|c| !self.invariant.is_blocked(*c, kind))
            .collect();
        for conn in conns {
            self.out.push_back(Action::SetSenderTrack { conn, kind });
        }
    }

    /// Asks the bridge for every sender's counters (one round at a time).
    pub(super) fn sample_senders(&mut self) {
        if !self.config.e2ee || self.conn_owner.is_empty() {
            return;
        }
        if self
            .sampling_since
            .is_some_and(|t| self.now.saturating_sub(t) < STALE_QUERY_MS)
        {
            return;
        }
        self.sampling_since = Some(self.now);
        let conns = self.conn_owner.keys().copied().collect();
        self.out.push_back(Action::SampleSenders { conns });
    }

    pub(super) fn on_sender_samples(&mut self, samples: &[SenderSample]) {
        self.sampling_since = None;
        if !self.config.e2ee {
            return;
        }
        let owned: Vec<(PeerId, SenderSample)> = samples
            .iter()
            .filter_map(|s| self.conn_owner.get(&s.conn).map(|p| (p.clone(), *s)))
            .collect();
        for trip in self.invariant.check(&owned) {
            self.out.push_back(Action::BlockSender {
                conn: trip.conn,
                peer: trip.peer.clone(),
                kind: trip.kind,
            });
            let message = format!(
                "{} to a participant was leaving without end-to-end encryption ({} sent, {} encrypted); that sender was stopped",
                trip.kind.as_str(),
                trip.sent,
                trip.seen
            );
            self.error(
                CallError::new(ErrorCode::UnencryptedMediaBlocked, message)
                    .about(&trip.peer)
                    .with_kind(trip.kind),
            );
        }
    }
}

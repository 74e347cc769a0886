//! Keys from the others: each key message goes to the crypto Worker (after the sender is in
//! its roster), is acknowledged, and makes the sender `ready`; every second, the connected
//! peers whose key is missing (none held, or frames from them failing for want of one) are
//! shown as `waiting-for-keys` and asked for it.
use sotto_protocol::peer::{B64UrlBytes, PeerPayload};
use sotto_protocol::PeerId;

use super::{CallCore, Pending, STALE_QUERY_MS};
use crate::crypto::{CryptoRequest, KeyHolding};
use crate::event::{AppEvent, KeyState};

impl CallCore {
    pub(super) fn on_sender_key(&mut self, from: &PeerId, key: B64UrlBytes) {
        let Some(p) = self.peers.get_mut(from) else {
            return;
        };
        if p.in_crypto_roster {
            self.receive_key(from, key);
        } else {
            p.hold_key(key);
        }
    }

    pub(super) fn receive_key(&mut self, from: &PeerId, key: B64UrlBytes) {
        self.crypto(
            CryptoRequest::ReceiveKey {
                from: from.clone(),
                key,
            },
            Pending::ReceiveKey { from: from.clone() },
        );
    }

    pub(super) fn key_received(&mut self, from: &PeerId, epoch: u64, duplicate: bool) {
        let Some(p) = self.peers.get_mut(from) else {
            return;
        };
        let newer = !duplicate && p.epoch.is_none_or(|e| epoch > e);
        if newer {
            p.epoch = Some(epoch);
        }
        p.missing_since = None;
        self.send_peer(from, &PeerPayload::KeyAck { epoch });
        if newer {
            self.emit(AppEvent::KeyEpoch {
                peer: from.clone(),
                epoch,
            });
        }
        self.set_key_state(from, KeyState::Ready);
        self.chat.key_arrived(from);
        self.open_next_chat(from);
    }

    /// Every second: ask the crypto Worker which connected peers it holds a key from.
    pub(super) fn check_keys(&mut self) {
        if self
            .keys_query_since
            .is_some_and(|t| self.now.saturating_sub(t) < STALE_QUERY_MS)
        {
            return;
        }
        let connected: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.is_connected())
            .map(|(id, _)| id.clone())
            .collect();
        if connected.is_empty() {
            return;
        }
        self.keys_query_since = Some(self.now);
        self.crypto(
            CryptoRequest::KeysFrom {
                peers: connected.clone(),
            },
            Pending::KeysFrom { asked: connected },
        );
    }

    /// A connected peer whose key this participant has not held for `key_wait_ms` is
    /// `waiting-for-keys` (its media cannot be decrypted) and is asked for it (`key-request`,
    /// at most once a second) until one arrives; then it is `ready` again. Holding an older
    /// key does not count while frames from the peer keep failing for want of a key (its
    /// current one never came).
    pub(super) fn keys_checked(&mut self, asked: &[PeerId], holdings: &[KeyHolding]) {
        let now = self.now;
        let wait = self.config.key_wait_ms;
        let signaling_open = self.signaling.is_open();
        for id in asked {
            let Some(p) = self.peers.get_mut(id).filter(|p| p.is_connected()) else {
                continue;
            };
            let Some(h) = holdings.iter().find(|h| &h.peer == id) else {
                continue;
            };
            let dropping = p
                .unknown_key_drops
                .is_some_and(|before| h.dropped_unknown_key > before);
            p.unknown_key_drops = Some(h.dropped_unknown_key);
            if h.held && !dropping {
                p.missing_since = None;
                // a key kept across a drop and re-add the crypto Worker never saw (its roster
                // was the same before and after): this entry learns its epoch here
                let learned = h.epoch.filter(|e| p.epoch.is_none_or(|mine| *e > mine));
                if let Some(epoch) = learned {
                    p.epoch = Some(epoch);
                    self.emit(AppEvent::KeyEpoch {
                        peer: id.clone(),
                        epoch,
                    });
                }
                self.set_key_state(id, KeyState::Ready);
                continue;
            }
            // never had a key: counted from when the media path came up
            let since = if p.key_state == KeyState::New {
                p.connected_at.unwrap_or(now)
            } else {
                now
            };
            let missing_since = *p.missing_since.get_or_insert(since);
            if now.saturating_sub(missing_since) < wait {
                continue;
            }
            // (a request that cannot be sent now, signaling being down, is not counted)
            let ask = signaling_open
                && p.last_key_request_at.is_none_or(|t| {
                    now.saturating_sub(t) >= crate::rotation::KEY_REQUEST_INTERVAL_MS
                });
            if ask {
                p.last_key_request_at = Some(now);
            }
            self.set_key_state(id, KeyState::WaitingForKeys);
            if ask {
                self.send_peer(id, &PeerPayload::KeyRequest {});
            }
        }
    }
}

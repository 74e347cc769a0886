//! The media paths: which fake peer connections reach each other, their ICE/DTLS states,
//! and frames through the real crypto between connected pairs.
use sotto_call::{ConnId, Input, MediaKind, PcState};

use super::webrtc::kind_index;
use super::{pair, Sim};

impl Sim {
    /// The peer connection at the other end of `client`'s `conn`, if the two hold each
    /// other's current (last stable) descriptions and candidates: ICE and DTLS run on the
    /// stable pair while a renegotiation is under way.
    pub(super) fn partner(&self, client: usize, conn: ConnId) -> Option<(usize, ConnId)> {
        let x = self.pcs.get(&(client, conn)).filter(|p| !p.closed)?;
        let (xl, xr) = (x.stable_local.as_ref()?, x.stable_remote.as_ref()?);
        let y = self
            .pcs
            .values()
            .find(|y| y.uid == xr.origin && !y.closed)?;
        let (yl, yr) = (y.stable_local.as_ref()?, y.stable_remote.as_ref()?);
        let fits = yr.origin == x.uid
            && yl.ufrag == xr.ufrag
            && xl.ufrag == yr.ufrag
            && x.remote_candidates.contains(&yl.ufrag)
            && y.remote_candidates.contains(&xl.ufrag);
        fits.then_some((y.client, y.conn))
    }

    pub(super) fn path_up(&self, a: usize, b: usize) -> bool {
        !self.links_down.contains(&pair(a, b)) && !self.clients[a].frozen && !self.clients[b].frozen
    }

    pub(super) fn set_state(&mut self, key: (usize, ConnId), state: PcState) {
        let (client, conn) = key;
        let pc = self.pcs.get_mut(&key).unwrap();
        pc.state = state;
        let open = state == PcState::Connected && !pc.dc_open;
        let shut = matches!(state, PcState::Failed | PcState::Closed) && pc.dc_open;
        if open {
            pc.dc_open = true;
            pc.ever_connected = true;
        }
        if shut {
            pc.dc_open = false;
        }
        self.later(client, 0, Input::PeerConnectionState { conn, state });
        if open || shut {
            self.later(client, 1, Input::DataChannelState { conn, open });
        }
    }

    /// Moves every fake peer connection's ICE/DTLS state on: checks start once both
    /// descriptions are in (again after every ICE restart), succeed 30 ms later when the
    /// partner holds the matching descriptions and candidates and the path is up, and fail
    /// after 10 s otherwise (5 ms on an instantly failing path); a connected path that goes
    /// down is `disconnected`, then `failed` 5 s later.
    pub(super) fn step_pcs(&mut self) {
        let now = self.now;
        let keys: Vec<(usize, ConnId)> = self
            .pcs
            .iter()
            .filter(|(_, p)| !p.closed && !self.clients[p.client].frozen)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            let partner = self.partner(key.0, key.1);
            let remote = self
                .clients
                .iter()
                .position(|c| c.peer == self.pcs[&key].remote_peer);
            let instant = remote.is_some_and(|b| self.instant_fail.contains(&pair(key.0, b)));
            let up = !instant && partner.is_some_and(|(b, _)| self.path_up(key.0, b));
            let pc = &self.pcs[&key];
            let creds = match (&pc.stable_local, &pc.stable_remote) {
                (Some(l), Some(r)) => Some((l.ufrag.clone(), r.ufrag.clone())),
                _ => None,
            };
            let fresh_checks = creds.is_some() && creds != pc.checked;
            let due = pc.timer.is_some_and(|t| t <= now);
            let fail_wait = if instant { 5 } else { 10_000 };
            let (state, to_connect) = (pc.state, pc.timer_to_connect);
            let mut next: Option<(PcState, Option<u64>, bool)> = None;
            if up {
                match state {
                    PcState::Connected => {}
                    PcState::Connecting if to_connect && due => {
                        next = Some((PcState::Connected, None, false))
                    }
                    PcState::Connecting if to_connect => {}
                    _ => next = Some((PcState::Connecting, Some(now + 30), true)),
                }
            } else {
                match state {
                    PcState::Connected => {
                        next = Some((PcState::Disconnected, Some(now + 5_000), false))
                    }
                    PcState::Disconnected | PcState::Failed | PcState::New if fresh_checks => {
                        next = Some((PcState::Connecting, Some(now + fail_wait), false))
                    }
                    PcState::Connecting if to_connect || fresh_checks => {
                        next = Some((PcState::Connecting, Some(now + fail_wait), false))
                    }
                    PcState::Disconnected | PcState::Connecting if due => {
                        next = Some((PcState::Failed, None, false))
                    }
                    _ => {}
                }
            }
            let Some((state, timer, to_connect)) = next else {
                continue;
            };
            let pc = self.pcs.get_mut(&key).unwrap();
            pc.timer = timer;
            pc.timer_to_connect = to_connect;
            if creds.is_some() {
                pc.checked = creds;
            }
            if pc.state != state {
                self.set_state(key, state);
            }
        }
    }

    /// Every connected pair exchanges a video frame each way, through the real crypto.
    pub(super) fn media(&mut self) {
        let now = self.now;
        let keys: Vec<(usize, ConnId)> = self
            .pcs
            .iter()
            .filter(|(_, p)| !p.closed && p.state == PcState::Connected)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            let Some((to, _)) = self.partner(key.0, key.1) else {
                continue;
            };
            if !self.path_up(key.0, to) {
                continue;
            }
            let pc = self.pcs.get_mut(&key).unwrap();
            for kind in [MediaKind::Audio, MediaKind::Video] {
                if !pc.blocked.contains(&kind) {
                    let i = kind_index(kind);
                    pc.sent[i] += 1;
                    // Chromium skips a sender transform attached after a description was
                    // applied (the fail-open of issue 11); a bad browser skips it always
                    if !pc.skips_transform && pc.order_violations == 0 {
                        pc.seen[i] += 1;
                    }
                }
            }
            if pc.blocked.contains(&MediaKind::Video) {
                continue;
            }
            let from = self.clients[key.0].peer.clone();
            let frame: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(7) | 1).collect();
            let count = self.frames.entry((key.0, to)).or_default();
            count.sent += 1;
            let Ok(sealed) = self.clients[key.0].crypto.encrypt(&frame) else {
                // sending blocked (a rotation did not complete): nothing leaves
                continue;
            };
            match self.clients[to].crypto.decrypt(&from, &sealed, now) {
                Ok(plain) if plain == frame => self.frames.get_mut(&(key.0, to)).unwrap().ok += 1,
                _ => {
                    self.frames.get_mut(&(key.0, to)).unwrap().failed += 1;
                    self.frame_failures.push((now, key.0, to));
                }
            }
        }
    }
}

//! What the tests look at: convergence, transform order, events, frames.
use std::collections::{BTreeMap, BTreeSet};

use sotto_call::crypto::SafetyState;
use sotto_call::{AppEvent, PcState};
use sotto_protocol::PeerId;

use super::{FrameCount, Sim};

impl Sim {
    // ---- what the tests look at ----

    pub fn honest(&self) -> Vec<usize> {
        self.clients
            .iter()
            .filter(|c| c.honest)
            .map(|c| c.idx)
            .collect()
    }

    /// Describes, for a failing assertion, what each honest participant believes.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for i in self.honest() {
            let c = &self.clients[i];
            out += &format!(
                "p{i:02} epoch {:?} keys {:?}:",
                c.core.epoch(),
                c.crypto.keys.pending_epoch()
            );
            for p in c.core.participants() {
                out += &format!(
                    " [{} {:?} e{:?} {:?}]",
                    p.peer.as_str(),
                    p.connection_state,
                    p.epoch,
                    p.key_state
                );
            }
            out += "\n";
        }
        out
    }

    /// Every honest participant has every other as a connected participant, holds the other's
    /// current sender epoch, and sends under a committed key.
    pub fn converged(&self) -> Result<(), String> {
        let honest = self.honest();
        for &i in &honest {
            let c = &self.clients[i];
            if c.core.is_closed() {
                return Err(format!("p{i:02} is closed"));
            }
            let epoch = c
                .core
                .epoch()
                .ok_or_else(|| format!("p{i:02} has no epoch"))?;
            if c.crypto.keys.sender_epoch() != epoch || c.crypto.keys.pending_epoch().is_some() {
                return Err(format!(
                    "p{i:02}: core epoch {epoch} vs crypto {} pending {:?}",
                    c.crypto.keys.sender_epoch(),
                    c.crypto.keys.pending_epoch()
                ));
            }
            let participants = c.core.participants();
            let ids: BTreeSet<&PeerId> = participants.iter().map(|p| &p.peer).collect();
            let want: BTreeSet<&PeerId> = honest
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| &self.clients[j].peer)
                .collect();
            if ids != want {
                return Err(format!("p{i:02} roster {ids:?}, want {want:?}"));
            }
            for p in &participants {
                let j = honest
                    .iter()
                    .copied()
                    .find(|&j| self.clients[j].peer == p.peer)
                    .unwrap();
                if p.connection_state != PcState::Connected {
                    return Err(format!("p{i:02} -> p{j:02} {:?}", p.connection_state));
                }
                if p.epoch != self.clients[j].core.epoch() {
                    return Err(format!(
                        "p{i:02} holds epoch {:?} of p{j:02}, which sends under {:?}",
                        p.epoch,
                        self.clients[j].core.epoch()
                    ));
                }
                if p.key_state != sotto_call::KeyState::Ready {
                    return Err(format!("p{i:02} -> p{j:02} key state {:?}", p.key_state));
                }
            }
        }
        Ok(())
    }

    /// Runs until converged (checked every 500 ms), at most `limit` ms; returns when.
    pub fn settle(&mut self, limit: u64) -> u64 {
        let start = self.now;
        loop {
            if self.converged().is_ok() {
                // and frames flow both ways between everyone
                let before = self.frames.clone();
                self.run_for(1_000);
                if self.frames_flow_since(&before) {
                    return self.now - start;
                }
            }
            if self.now - start > limit {
                panic!(
                    "not converged after {limit} ms: {:?}\n{}",
                    self.converged().err(),
                    self.describe()
                );
            }
            self.run_for(500);
        }
    }

    /// Every honest pair decrypted frames since `before`, and none failed.
    pub fn frames_flow_since(&self, before: &BTreeMap<(usize, usize), FrameCount>) -> bool {
        let honest = self.honest();
        honest.iter().all(|&a| {
            honest.iter().filter(|&&b| b != a).all(|&b| {
                let now = self.frames.get(&(a, b)).copied().unwrap_or_default();
                let then = before.get(&(a, b)).copied().unwrap_or_default();
                now.ok > then.ok && now.failed == then.failed
            })
        })
    }

    pub fn events(&self, client: usize) -> impl Iterator<Item = &AppEvent> {
        self.clients[client].events.iter().map(|(_, e)| e)
    }

    pub fn count_events(&self, client: usize, f: impl Fn(&AppEvent) -> bool) -> usize {
        self.events(client).filter(|e| f(e)).count()
    }

    /// Every peer connection of every client had its media and transforms attached before
    /// any description was applied, and every applied description was tuned.
    pub fn check_transform_order(&self) -> Result<(), String> {
        for pc in self.pcs.values() {
            if pc.order_violations > 0 {
                return Err(format!(
                    "p{:02} conn {:?}: description applied before attach",
                    pc.client, pc.conn
                ));
            }
            if pc.untuned > 0 {
                return Err(format!(
                    "p{:02} conn {:?}: untuned description applied",
                    pc.client, pc.conn
                ));
            }
        }
        Ok(())
    }

    /// The last safety code `client` showed: its state and hex.
    pub fn safety_code(&self, client: usize) -> Option<(SafetyState, String)> {
        self.events(client)
            .filter_map(|e| match e {
                AppEvent::SafetyCode { state, hex, words } => {
                    assert_eq!(
                        (words.len(), hex.len()),
                        if *state == SafetyState::Ready {
                            (5, 64)
                        } else {
                            (0, 0)
                        },
                        "5 words and 64 hex digits, only when ready"
                    );
                    Some((*state, hex.clone()))
                }
                _ => None,
            })
            .last()
    }

    /// Every honest participant shows the same ready safety code (its hex).
    pub fn safety_agreed(&self) -> Result<String, String> {
        let codes: Vec<_> = self
            .honest()
            .into_iter()
            .map(|i| self.safety_code(i))
            .collect();
        match codes.first() {
            Some(Some((SafetyState::Ready, hex)))
                if codes
                    .iter()
                    .all(|c| c.as_ref() == Some(&(SafetyState::Ready, hex.clone()))) =>
            {
                Ok(hex.clone())
            }
            _ => Err(format!("safety codes: {codes:?}")),
        }
    }

    /// Runs until every honest participant shows the same ready safety code (at most
    /// `limit` ms); returns it.
    pub fn settle_safety(&mut self, limit: u64) -> String {
        let start = self.now;
        loop {
            if let Ok(hex) = self.safety_agreed() {
                return hex;
            }
            assert!(
                self.now - start <= limit,
                "no common safety code after {limit} ms: {:?}",
                self.safety_agreed()
            );
            self.run_for(200);
        }
    }

    pub fn ice_restarts(&self, client: usize) -> usize {
        self.count_events(client, |e| matches!(e, AppEvent::IceRestart { .. }))
    }
}

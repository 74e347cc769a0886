//! What a `welcome` changes: the server's list against the peers this participant has.
//!
//! | known peer                                   | welcome says          | then                       |
//! |----------------------------------------------|-----------------------|----------------------------|
//! | media path up                                | not listed            | keep for `rejoin_grace_ms` |
//! | any                                          | listed, other identity| drop `replaced`, add anew  |
//! | media path not up                            | not listed            | drop `left`                |
//! | path `failed` or `closed`                    | listed, same identity | drop `vanished`, add anew  |
//! | otherwise                                    | listed, same identity | keep (confirmed)           |
//!
//! Listed entries that cannot be peers (this participant's own id, a second entry with the
//! same id, more than [`MAX_PEERS`]) are rejected one by one.

use sotto_protocol::room::PeerInfo;
use sotto_protocol::{Identity, PeerId};

use crate::event::LeaveReason;
use crate::input::PcState;
use crate::vecmap::VecMap;

/// The most peers the core keeps (the room's own limit is lower).
pub const MAX_PEERS: usize = 64;

/// A peer as the reconciliation sees it.
#[derive(Debug, Clone)]
pub struct Known<'a> {
    pub peer: &'a PeerId,
    pub identity: &'a Identity,
    pub state: Option<PcState>,
}

/// What to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WelcomePlan {
    /// Peers to drop, with the reason.
    pub drops: Vec<(PeerId, LeaveReason)>,
    /// Peers kept on probation (their media path is up but the server does not list them).
    pub unconfirmed: Vec<PeerId>,
    /// Peers listed and kept: no longer on probation.
    pub confirmed: Vec<PeerId>,
    /// New peers, in the server's order.
    pub adds: Vec<PeerInfo>,
    /// Listed entries left out, with the reason.
    pub rejected: Vec<(PeerId, &'static str)>,
}

impl WelcomePlan {
    /// Did the roster change (so keys must rotate)?
    pub fn changed(&self) -> bool {
        !self.drops.is_empty() || !self.adds.is_empty()
    }
}

/// Sanitises the server's list: own id, duplicates, and entries past [`MAX_PEERS`] out.
pub fn sanitize(me: &PeerId, listed: &[PeerInfo]) -> (Vec<PeerInfo>, Vec<(PeerId, &'static str)>) {
    let mut seen = VecMap::new();
    let mut valid = Vec::new();
    let mut rejected = Vec::new();
    for info in listed {
        let reason = if &info.peer == me {
            Some("own-peer-id")
        } else if seen.insert(&info.peer, ()).is_some() {
            Some("duplicate-peer")
        } else if valid.len() == MAX_PEERS {
            Some("too-many-peers")
        } else {
            None
        };
        match reason {
            Some(r) => rejected.push((info.peer.clone(), r)),
            None => valid.push(info.clone()),
        }
    }
    (valid, rejected)
}

/// The plan for a welcome listing `listed`, given the `known` peers.
pub fn reconcile<'a>(
    me: &PeerId,
    known: impl IntoIterator<Item = Known<'a>>,
    listed: &[PeerInfo],
) -> WelcomePlan {
    let (listed, rejected) = sanitize(me, listed);
    let mut plan = WelcomePlan {
        rejected,
        ..WelcomePlan::default()
    };
    let mut kept = VecMap::new();
    for k in known {
        let entry = listed.iter().find(|i| &i.peer == k.peer);
        match entry {
            None if k.state == Some(PcState::Connected) => {
                plan.unconfirmed.push(k.peer.clone());
                kept.insert(k.peer.clone(), ());
            }
            None => plan.drops.push((k.peer.clone(), LeaveReason::Left)),
            Some(i) if &i.identity != k.identity => {
                plan.drops.push((k.peer.clone(), LeaveReason::Replaced));
            }
            Some(_) if matches!(k.state, Some(PcState::Failed | PcState::Closed)) => {
                plan.drops.push((k.peer.clone(), LeaveReason::Vanished));
            }
            Some(_) => {
                plan.confirmed.push(k.peer.clone());
                kept.insert(k.peer.clone(), ());
            }
        }
    }
    plan.adds = listed
        .into_iter()
        .filter(|i| !kept.contains_key(&i.peer))
        .collect();
    plan
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> PeerId {
        PeerId::parse(s).unwrap()
    }
    fn id(s: &str) -> Identity {
        Identity::parse(s).unwrap()
    }
    fn info(peer: &str, identity: &str) -> PeerInfo {
        PeerInfo {
            peer: p(peer),
            identity: id(identity),
        }
    }

    #[test]
    fn a_welcome_reconciles_every_case_of_the_table() {
        let me = p("me");
        let peers = [
            (p("up"), id("I1"), Some(PcState::Connected)),
            (p("gone"), id("I2"), Some(PcState::Connecting)),
            (p("swapped"), id("I3"), Some(PcState::Connected)),
            (p("dead"), id("I4"), Some(PcState::Failed)),
            (p("fine"), id("I5"), None),
        ];
        let known = peers.iter().map(|(peer, identity, state)| Known {
            peer,
            identity,
            state: *state,
        });
        let listed = [
            info("swapped", "Other"),
            info("dead", "I4"),
            info("fine", "I5"),
            info("new", "I6"),
            info("me", "I0"),
            info("new", "I7"),
        ];
        let plan = reconcile(&me, known, &listed);
        assert_eq!(plan.unconfirmed, vec![p("up")]);
        assert_eq!(plan.confirmed, vec![p("fine")]);
        assert_eq!(
            plan.drops,
            vec![
                (p("gone"), LeaveReason::Left),
                (p("swapped"), LeaveReason::Replaced),
                (p("dead"), LeaveReason::Vanished)
            ]
        );
        assert_eq!(
            plan.adds,
            vec![
                info("swapped", "Other"),
                info("dead", "I4"),
                info("new", "I6")
            ]
        );
        assert_eq!(
            plan.rejected,
            vec![(p("me"), "own-peer-id"), (p("new"), "duplicate-peer")]
        );
        assert!(plan.changed());
    }

    #[test]
    fn a_long_list_is_cut_at_the_limit() {
        let listed: Vec<PeerInfo> = (0..MAX_PEERS + 3)
            .map(|i| info(&format!("p{i}"), "I"))
            .collect();
        let plan = reconcile(&p("me"), [], &listed);
        assert_eq!(plan.adds.len(), MAX_PEERS);
        assert_eq!(plan.rejected.len(), 3);
        assert!(plan.rejected.iter().all(|(_, r)| *r == "too-many-peers"));
        assert!(!reconcile(&p("me"), [], &[]).changed());
    }
}

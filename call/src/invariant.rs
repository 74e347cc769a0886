//! The fail-open invariant: no sender may send media its encrypt transform did not see.
//!
//! Every second (and [`EARLY_CHECKS_MS`] after each connection comes up) the bridge samples,
//! per sender with a track, what the browser sent and then what the transform saw; a sender
//! more than [`INVARIANT_MARGIN`] ahead has been sending media that bypassed encryption. It
//! is blocked for good (`replaceTrack(null)`, never a track again), reported
//! (`unencrypted-media-blocked`) and counted.
use crate::vecmap::VecMap;

use serde::Serialize;
use sotto_protocol::PeerId;

use crate::input::SenderSample;
use crate::{ConnId, MediaKind};

/// Frames between the encoder and the transform when the counters are read.
pub const INVARIANT_MARGIN: u64 = 5;
/// The first checks of a connection's senders, after it comes up.
pub const EARLY_CHECKS_MS: [u64; 3] = [300, 600, 1_000];
/// How often senders are checked.
pub const CHECK_INTERVAL_MS: u64 = 1_000;

/// One sender in the last check (`cryptoStats().invariant.senders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SenderReport {
    pub peer: PeerId,
    pub kind: MediaKind,
    pub sent: u64,
    pub seen: u64,
    pub blocked: bool,
}

/// A sender the invariant stopped, with its figures then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoppedSender {
    pub peer: PeerId,
    pub kind: MediaKind,
    pub sent: u64,
    pub seen: u64,
}

/// `cryptoStats().invariant`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InvariantReport {
    pub checks: u64,
    pub trips: u64,
    /// The last check, per sender with a track.
    pub senders: Vec<SenderReport>,
    /// Every sender stopped so far (at most [`MAX_STOPPED`] kept).
    pub stopped: Vec<StoppedSender>,
}

/// The most stopped senders the report keeps.
pub const MAX_STOPPED: usize = 64;

/// A sender to block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trip {
    pub peer: PeerId,
    pub conn: ConnId,
    pub kind: MediaKind,
    pub sent: u64,
    pub seen: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Invariant {
    report: InvariantReport,
    blocked: VecMap<(ConnId, MediaKind), ()>,
}

impl Invariant {
    pub fn report(&self) -> &InvariantReport {
        &self.report
    }

    pub fn is_blocked(&self, conn: ConnId, kind: MediaKind) -> bool {
        self.blocked.contains_key(&(conn, kind))
    }

    /// One round of samples, each with the peer its connection belongs to (samples of
    /// connections the core no longer has are left out by the caller). Returns the senders
    /// to block now.
    pub fn check(&mut self, samples: &[(PeerId, SenderSample)]) -> Vec<Trip> {
        let mut trips = Vec::new();
        let mut senders = Vec::with_capacity(samples.len());
        for (peer, s) in samples {
            let leaked = s.sent > s.seen.saturating_add(INVARIANT_MARGIN);
            let already = self.is_blocked(s.conn, s.kind);
            if leaked && !already {
                self.blocked.insert((s.conn, s.kind), ());
                self.report.trips += 1;
                if self.report.stopped.len() < MAX_STOPPED {
                    self.report.stopped.push(StoppedSender {
                        peer: peer.clone(),
                        kind: s.kind,
                        sent: s.sent,
                        seen: s.seen,
                    });
                }
                trips.push(Trip {
                    peer: peer.clone(),
                    conn: s.conn,
                    kind: s.kind,
                    sent: s.sent,
                    seen: s.seen,
                });
            }
            senders.push(SenderReport {
                peer: peer.clone(),
                kind: s.kind,
                sent: s.sent,
                seen: s.seen,
                blocked: leaked || already,
            });
        }
        self.report.checks += 1;
        self.report.senders = senders;
        trips
    }

    /// Forgets a closed connection's senders.
    pub fn forget(&mut self, conn: ConnId) {
        self.blocked.retain(|(c, _), ()| *c != conn);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample(conn: u64, kind: MediaKind, sent: u64, seen: u64) -> SenderSample {
        SenderSample {
            conn: ConnId(conn),
            kind,
            sent,
            seen,
        }
    }

    #[test]
    fn a_sender_ahead_of_its_transform_is_blocked_once() {
        let p = PeerId::parse("p").unwrap();
        let mut inv = Invariant::default();
        let ok = inv.check(&[
            (p.clone(), sample(1, MediaKind::Video, 105, 100)),
            (p.clone(), sample(1, MediaKind::Audio, 0, 0)),
        ]);
        assert!(ok.is_empty(), "within the margin");
        let trips = inv.check(&[(p.clone(), sample(1, MediaKind::Video, 106, 100))]);
        assert_eq!(trips.len(), 1);
        assert_eq!((trips[0].sent, trips[0].seen), (106, 100));
        assert!(inv.is_blocked(ConnId(1), MediaKind::Video));
        assert!(!inv.is_blocked(ConnId(1), MediaKind::Audio));
        let again = inv.check(&[(p.clone(), sample(1, MediaKind::Video, 200, 100))]);
        assert!(again.is_empty(), "reported once");
        assert_eq!(inv.report().trips, 1);
        assert_eq!(
            inv.report().stopped,
            vec![StoppedSender {
                peer: p.clone(),
                kind: MediaKind::Video,
                sent: 106,
                seen: 100
            }]
        );
        assert_eq!(inv.report().checks, 3);
        assert!(inv.report().senders[0].blocked);
        // a transform that saw more than was sent (in-flight frames) is fine
        assert!(inv
            .check(&[(p, sample(2, MediaKind::Audio, 10, u64::MAX))])
            .is_empty());
        inv.forget(ConnId(1));
        assert!(!inv.is_blocked(ConnId(1), MediaKind::Video));
    }
}

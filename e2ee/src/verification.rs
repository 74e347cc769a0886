//! Safety code v2: commit, then reveal. A code nobody can grind.
//!
//! The v1 code hashed each participant's own view of the identity keys, so a man in the middle
//! holding the room link could choose substitute keys for both sides until the two codes
//! matched: a birthday search, about 2^(k/2) work for k bits. Here every participant adds a
//! fresh random nonce per round and reveals it only after it holds a commitment from everyone
//! in its view, so every contribution is fixed before the last fresh nonce becomes known:
//!
//! ```text
//! per round (every roster change a participant sees), participant i:
//!   N_i  = 32 fresh random bytes
//!   c_i  = SHA-256("sotto/v2 safety commit" || room id (16) || lp(peer id_i) || pk_i || N_i)
//!   send safety-commit{c_i} to every peer in its view (sealed envelopes)
//!   once it holds a commitment from every peer in its view (the latest of each): freeze
//!     them, send safety-reveal{N_i} to every peer in its view
//!   a reveal N_j must match the commitment held from j (else: error, the round fails);
//!     after the freeze it must match the frozen one (a newer commitment from j supersedes
//!     the round: it can no longer complete)
//!   once every frozen commitment is revealed:
//!   code = SHA-256("sotto/v2 safety code" || room id || n (u32 BE)
//!                  || the n pairs (pk_m || N_m) of the view including i, sorted bytewise)
//! shown as 5 words (bytes 0..5, 40 bits, `wordlist`) and as 64 hex digits (all 256 bits).
//! ```
//! Why it cannot be ground: a man in the middle runs two views. In the view it completes last,
//! it must commit to its substitute key and nonce before the honest members of that view reveal
//! their fresh nonces, so that view's code is uniformly random to it when it commits: each
//! attempt matches 40 bits with probability 2^-40, and no computation improves that.

use sotto_vecmap::VecMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::encoding::{b64url, b64url_exact, put_lp};
use crate::identity::IdentityPublicKey;
use crate::room::RoomId;
use crate::wordlist::WORDS;
use crate::E2eeError;

const COMMIT_LABEL: &[u8] = b"sotto/v2 safety commit";
const CODE_LABEL: &[u8] = b"sotto/v2 safety code";
/// Number of words shown (8 bits each).
pub const CODE_WORDS: usize = 5;
/// Rounds [`Verification::restart`] may start per [`Verification::start_round`].
pub const MAX_RESTARTS: u32 = 3;

/// A commitment `c_i` (32 bytes), sent in `safety-commit`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SafetyCommitment([u8; 32]);

impl SafetyCommitment {
    /// From the 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, E2eeError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| E2eeError::BadEncoding)
    }

    /// From base64url (43 characters).
    pub fn from_base64url(text: &str) -> Result<Self, E2eeError> {
        b64url_exact::<32>(text).map(Self)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// base64url (43 characters).
    pub fn to_base64url(&self) -> String {
        b64url(&self.0)
    }

    fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// A round's nonce `N_i` (32 bytes), sent in `safety-reveal`. Redacted in `Debug` and zeroized
/// on drop (it is secret until revealed).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SafetyNonce([u8; 32]);

impl SafetyNonce {
    /// A fresh random nonce.
    pub fn generate(rng: &mut impl rand_core::CryptoRng) -> Self {
        let mut n = [0u8; 32];
        rng.fill_bytes(&mut n);
        Self(n)
    }

    /// From the 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, E2eeError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| E2eeError::BadEncoding)
    }

    /// From base64url (43 characters).
    pub fn from_base64url(text: &str) -> Result<Self, E2eeError> {
        b64url_exact::<32>(text).map(Self)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// base64url (43 characters).
    pub fn to_base64url(&self) -> String {
        b64url(&self.0)
    }
}

impl core::fmt::Debug for SafetyNonce {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SafetyNonce(<redacted>)")
    }
}

/// `c = SHA-256("sotto/v2 safety commit" || room id || lp(peer id) || pk || N)`.
pub fn commitment(
    room: &RoomId,
    peer: &str,
    identity: &IdentityPublicKey,
    nonce: &SafetyNonce,
) -> SafetyCommitment {
    let mut buf = Vec::with_capacity(COMMIT_LABEL.len() + 16 + 2 + peer.len() + 64);
    buf.extend_from_slice(COMMIT_LABEL);
    buf.extend_from_slice(room.as_bytes());
    put_lp(&mut buf, peer.as_bytes());
    buf.extend_from_slice(identity.as_bytes());
    buf.extend_from_slice(&nonce.0);
    SafetyCommitment(Sha256::digest(&buf).into())
}

/// The safety code of a round: 5 words (40 bits) to read aloud, 64 hex digits (256 bits) to
/// compare in full (QR code, copy and paste). Equality is constant time over all 32 bytes.
#[derive(Clone)]
pub struct VerificationCode([u8; 32]);

impl VerificationCode {
    /// `SHA-256("sotto/v2 safety code" || room id || n || sorted (pk || N) of the n members)`.
    pub fn compute(room: &RoomId, members: &[(&IdentityPublicKey, &SafetyNonce)]) -> Self {
        let mut pairs: Vec<[u8; 64]> = members
            .iter()
            .map(|(pk, n)| {
                let mut p = [0u8; 64];
                p[..32].copy_from_slice(pk.as_bytes());
                p[32..].copy_from_slice(&n.0);
                p
            })
            .collect();
        pairs.sort_unstable();
        let mut h = Sha256::new();
        h.update(CODE_LABEL);
        h.update(room.as_bytes());
        h.update(u32::try_from(pairs.len()).unwrap_or(u32::MAX).to_be_bytes());
        for p in &pairs {
            h.update(p);
        }
        pairs.zeroize();
        Self(h.finalize().into())
    }

    /// The 5 words of bytes 0..5 (40 bits).
    pub fn words(&self) -> Vec<&'static str> {
        self.0[..CODE_WORDS]
            .iter()
            .map(|&b| WORDS[usize::from(b)])
            .collect()
    }

    /// All 256 bits as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The full 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for VerificationCode {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for VerificationCode {}

impl core::fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VerificationCode({})", self.words().join(" "))
    }
}

/// My nonce, to send in `safety-reveal` to each peer of `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reveal {
    /// The nonce.
    pub nonce: SafetyNonce,
    /// The peers of the round's view.
    pub to: Vec<String>,
}

/// What a step of the round produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Send my reveal now (after the commitment of this round, to the same peers).
    pub reveal: Option<Reveal>,
    /// The code became ready.
    pub code: Option<VerificationCode>,
    /// A peer sent a newer commitment after my reveal: this round cannot complete. A roster
    /// change on its way will start a new round; if none comes within a settling delay, call
    /// [`Verification::restart`].
    pub superseded: bool,
}

/// What [`Verification::start_round`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundStart {
    /// The round number (1, 2, ... per participant; local, not sent).
    pub round: u64,
    /// My commitment: send `safety-commit` to every peer of `to`, before anything of `progress`.
    pub commitment: SafetyCommitment,
    /// The peers of the view.
    pub to: Vec<String>,
    /// Commitments from everyone may be in hand already: then the reveal is here too.
    pub progress: Progress,
}

/// Where the current round stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationStatus {
    /// No round started yet.
    Idle,
    /// Waiting for the commitments of these peers.
    AwaitingCommitments(Vec<String>),
    /// Revealed; waiting for the reveals of these peers.
    AwaitingReveals(Vec<String>),
    /// The code of this round.
    Ready(VerificationCode),
    /// These peers sent a newer commitment after I froze: a new round is needed.
    Superseded(Vec<String>),
    /// A reveal did not match: not verified until a new round.
    Failed {
        /// The peer whose reveal did not match.
        peer: String,
        /// `safety-reveal-mismatch`.
        error: E2eeError,
    },
}

impl VerificationStatus {
    /// A stable, kebab-case name of the state.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::AwaitingCommitments(_) => "awaiting-commitments",
            Self::AwaitingReveals(_) => "awaiting-reveals",
            Self::Ready(_) => "ready",
            Self::Superseded(_) => "superseded",
            Self::Failed { .. } => "failed",
        }
    }
}

#[derive(Clone)]
struct Slot {
    identity: IdentityPublicKey,
    commitment: SafetyCommitment,
    nonce: Option<SafetyNonce>,
}

/// One participant's commit-then-reveal state (see the module documentation).
pub struct Verification {
    room: RoomId,
    my_peer: String,
    my_identity: IdentityPublicKey,
    round: u64,
    restarts: u32,
    view: VecMap<String, IdentityPublicKey>,
    nonce: Option<SafetyNonce>,
    /// The commitments my reveal was conditioned on; `Some` once I revealed this round.
    frozen: Option<VecMap<String, SafetyCommitment>>,
    /// The latest commitment of each peer, and its nonce once revealed.
    slots: VecMap<String, Slot>,
    failed: Option<(String, E2eeError)>,
    code: Option<VerificationCode>,
}

impl Verification {
    /// A participant with no round yet.
    pub fn new(room: RoomId, my_peer: String, my_identity: IdentityPublicKey) -> Self {
        Self {
            room,
            my_peer,
            my_identity,
            round: 0,
            restarts: 0,
            view: VecMap::new(),
            nonce: None,
            frozen: None,
            slots: VecMap::new(),
            failed: None,
            code: None,
        }
    }

    /// Starts a round over `view` (the other participants and their identity keys; my own
    /// peer id, if listed, is ignored): a fresh nonce, my commitment to send to each of them.
    /// Call it on every roster change. Commitments held from peers of the view that were not
    /// revealed yet count (the peer started its round first); revealed ones belong to an
    /// earlier round and are dropped, as is anything from peers outside the view.
    pub fn start_round(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        view: &[(String, IdentityPublicKey)],
    ) -> RoundStart {
        self.view = view
            .iter()
            .filter(|(p, _)| *p != self.my_peer)
            .cloned()
            .collect();
        self.restarts = 0;
        self.new_round(rng)
    }

    /// Starts a new round over the same view if the current one was superseded (a peer sent a
    /// newer commitment after my reveal and no roster change of mine is coming, for example
    /// because that peer dropped someone I still see). At most [`MAX_RESTARTS`] times per
    /// [`Verification::start_round`]: each round is one more attempt for an attacker. Call it
    /// after a settling delay (a roster change on its way starts a round anyway), never in a
    /// loop. `None` if the round is not superseded or the restarts are used up.
    pub fn restart(&mut self, rng: &mut impl rand_core::CryptoRng) -> Option<RoundStart> {
        if self.failed.is_some() || self.superseded_by().is_empty() || self.restarts >= MAX_RESTARTS
        {
            return None;
        }
        self.restarts += 1;
        Some(self.new_round(rng))
    }

    fn new_round(&mut self, rng: &mut impl rand_core::CryptoRng) -> RoundStart {
        self.round += 1;
        let nonce = SafetyNonce::generate(rng);
        let commitment = commitment(&self.room, &self.my_peer, &self.my_identity, &nonce);
        self.nonce = Some(nonce);
        self.frozen = None;
        self.failed = None;
        self.code = None;
        let view = &self.view;
        self.slots
            .retain(|p, s| s.nonce.is_none() && view.get(p).is_some_and(|pk| *pk == s.identity));
        RoundStart {
            round: self.round,
            commitment,
            to: self.view.keys().cloned().collect(),
            progress: self.advance(),
        }
    }

    /// A commitment from `from`, whose envelope opened under `identity`. It replaces any
    /// earlier one from `from` (and its reveal).
    pub fn receive_commitment(
        &mut self,
        from: &str,
        identity: &IdentityPublicKey,
        commitment: SafetyCommitment,
    ) -> Progress {
        if from == self.my_peer {
            return Progress::default();
        }
        if let Some(slot) = self.slots.get(from) {
            if slot.identity == *identity && slot.commitment.matches(&commitment) {
                return self.advance(); // the same commitment again: keep its reveal
            }
        }
        self.slots.insert(
            from.to_owned(),
            Slot {
                identity: identity.clone(),
                commitment,
                nonce: None,
            },
        );
        self.advance()
    }

    /// A reveal from `from`, whose envelope opened under `identity`: it must match the
    /// commitment held from `from` ([`E2eeError::SafetyNoCommit`] if none). A mismatch fails
    /// the round if `from` is in its view ([`E2eeError::SafetyRevealMismatch`]).
    pub fn receive_reveal(
        &mut self,
        from: &str,
        identity: &IdentityPublicKey,
        nonce: SafetyNonce,
    ) -> Result<Progress, E2eeError> {
        let slot = self.slots.get_mut(from).ok_or(E2eeError::SafetyNoCommit)?;
        let expected = commitment(&self.room, from, identity, &nonce);
        if slot.identity != *identity || !slot.commitment.matches(&expected) {
            if self.view.contains_key(from) {
                self.failed = Some((from.to_owned(), E2eeError::SafetyRevealMismatch));
                self.code = None;
            }
            return Err(E2eeError::SafetyRevealMismatch);
        }
        slot.nonce = Some(nonce);
        Ok(self.advance())
    }

    fn advance(&mut self) -> Progress {
        let mut progress = Progress::default();
        if self.failed.is_some() {
            return progress;
        }
        let Some(my_nonce) = self.nonce.clone() else {
            return progress;
        };
        if self.frozen.is_none() {
            if !self.missing_commitments().is_empty() {
                return progress;
            }
            let frozen = self
                .view
                .keys()
                .filter_map(|p| Some((p.clone(), self.slots.get(p)?.commitment)))
                .collect();
            self.frozen = Some(frozen);
            progress.reveal = Some(Reveal {
                nonce: my_nonce.clone(),
                to: self.view.keys().cloned().collect(),
            });
        }
        if !self.superseded_by().is_empty() {
            progress.superseded = true;
            self.code = None;
            return progress;
        }
        if self.code.is_none() && self.missing_reveals().is_empty() {
            let mut members: Vec<(&IdentityPublicKey, &SafetyNonce)> = self
                .view
                .keys()
                .filter_map(|p| {
                    let s = self.slots.get(p)?;
                    Some((&s.identity, s.nonce.as_ref()?))
                })
                .collect();
            members.push((&self.my_identity, &my_nonce));
            let code = VerificationCode::compute(&self.room, &members);
            self.code = Some(code.clone());
            progress.code = Some(code);
        }
        progress
    }

    fn missing_commitments(&self) -> Vec<String> {
        self.view
            .iter()
            .filter(|(p, pk)| self.slots.get(*p).is_none_or(|s| s.identity != **pk))
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn superseded_by(&self) -> Vec<String> {
        let Some(frozen) = &self.frozen else {
            return Vec::new();
        };
        frozen
            .iter()
            .filter(|(p, c)| self.slots.get(*p).is_none_or(|s| !s.commitment.matches(c)))
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn missing_reveals(&self) -> Vec<String> {
        self.view
            .keys()
            .filter(|p| self.slots.get(*p).is_none_or(|s| s.nonce.is_none()))
            .cloned()
            .collect()
    }

    /// Where the current round stands.
    pub fn status(&self) -> VerificationStatus {
        if let Some((peer, error)) = &self.failed {
            return VerificationStatus::Failed {
                peer: peer.clone(),
                error: error.clone(),
            };
        }
        if self.nonce.is_none() {
            return VerificationStatus::Idle;
        }
        if self.frozen.is_none() {
            return VerificationStatus::AwaitingCommitments(self.missing_commitments());
        }
        let superseded = self.superseded_by();
        if !superseded.is_empty() {
            return VerificationStatus::Superseded(superseded);
        }
        match &self.code {
            Some(code) => VerificationStatus::Ready(code.clone()),
            None => VerificationStatus::AwaitingReveals(self.missing_reveals()),
        }
    }

    /// The code of the current round, once ready.
    pub fn code(&self) -> Option<&VerificationCode> {
        self.code.as_ref()
    }

    /// The current round number (0 before the first).
    pub fn round(&self) -> u64 {
        self.round
    }
}

impl core::fmt::Debug for Verification {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verification")
            .field("my_peer", &self.my_peer)
            .field("round", &self.round)
            .field("status", &self.status().code())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation, clippy::panic)]
mod tests {
    use super::*;
    use crate::{IdentityKeyPair, RoomSecret};

    fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
        crate::os_rng()
    }

    struct Party {
        peer: String,
        pk: IdentityPublicKey,
        v: Verification,
    }

    fn parties(room: &RoomId, names: &[&str]) -> Vec<Party> {
        names
            .iter()
            .map(|n| {
                let pk = IdentityKeyPair::generate(&mut rng()).public_key();
                Party {
                    peer: (*n).to_owned(),
                    pk: pk.clone(),
                    v: Verification::new(room.clone(), (*n).to_owned(), pk),
                }
            })
            .collect()
    }

    fn view_of(ps: &[Party], me: usize) -> Vec<(String, IdentityPublicKey)> {
        ps.iter()
            .enumerate()
            .filter(|(i, _)| *i != me)
            .map(|(_, p)| (p.peer.clone(), p.pk.clone()))
            .collect()
    }

    fn room_id() -> RoomId {
        RoomSecret::generate(&mut rng()).derive().room_id().clone()
    }

    /// Runs one honest round for everyone, delivering in order; returns everyone's code.
    fn honest_round(ps: &mut [Party]) -> Vec<VerificationCode> {
        let mut commits = Vec::new();
        for i in 0..ps.len() {
            let view = view_of(ps, i);
            let start = ps[i].v.start_round(&mut rng(), &view);
            commits.push((i, start.commitment));
        }
        let mut reveals = Vec::new();
        for (from, c) in commits {
            for to in 0..ps.len() {
                if to != from {
                    let (peer, pk) = (ps[from].peer.clone(), ps[from].pk.clone());
                    let p = ps[to].v.receive_commitment(&peer, &pk, c);
                    if let Some(r) = p.reveal {
                        reveals.push((to, r));
                    }
                }
            }
        }
        let mut codes = vec![None; ps.len()];
        for (from, r) in reveals {
            for to in 0..ps.len() {
                if to != from {
                    assert!(r.to.contains(&ps[to].peer));
                    let (peer, pk) = (ps[from].peer.clone(), ps[from].pk.clone());
                    let p = ps[to]
                        .v
                        .receive_reveal(&peer, &pk, r.nonce.clone())
                        .unwrap();
                    if let Some(code) = p.code {
                        codes[to] = Some(code);
                    }
                }
            }
        }
        codes.into_iter().map(Option::unwrap).collect()
    }

    #[test]
    fn honest_participants_get_the_same_code_of_5_words_and_64_hex_digits() {
        let room = room_id();
        let mut ps = parties(&room, &["a", "b", "c"]);
        let codes = honest_round(&mut ps);
        assert_eq!(codes[0], codes[1]);
        assert_eq!(codes[0], codes[2]);
        assert_eq!(codes[0].words().len(), 5);
        assert_eq!(codes[0].hex().len(), 64);
        assert!(codes[0].hex().bytes().all(|b| b.is_ascii_hexdigit()));
        for p in &ps {
            assert_eq!(p.v.status(), VerificationStatus::Ready(codes[0].clone()));
        }
        // a new round: fresh nonces, a new code, again the same for all
        let again = honest_round(&mut ps);
        assert_ne!(again[0], codes[0]);
        assert_eq!(again[0], again[2]);
    }

    #[test]
    fn the_reveal_waits_for_a_commitment_from_every_peer_of_the_view() {
        let room = room_id();
        let mut ps = parties(&room, &["a", "b", "c"]);
        let view = view_of(&ps, 0);
        let start = ps[0].v.start_round(&mut rng(), &view);
        assert_eq!(start.to, ["b", "c"]);
        assert_eq!(start.progress, Progress::default());
        assert_eq!(
            ps[0].v.status(),
            VerificationStatus::AwaitingCommitments(vec!["b".into(), "c".into()])
        );
        let nb = SafetyNonce::generate(&mut rng());
        let nc = SafetyNonce::generate(&mut rng());
        let cb = commitment(&room, "b", &ps[1].pk, &nb);
        let cc = commitment(&room, "c", &ps[2].pk, &nc);
        let (pb, pc) = (ps[1].pk.clone(), ps[2].pk.clone());
        // a reveal before its commitment is refused
        assert_eq!(
            ps[0].v.receive_reveal("b", &pb, nb.clone()),
            Err(E2eeError::SafetyNoCommit)
        );
        assert_eq!(
            ps[0].v.receive_commitment("b", &pb, cb),
            Progress::default()
        );
        // b reveals early (it had everything): kept, still no reveal of mine
        assert_eq!(
            ps[0].v.receive_reveal("b", &pb, nb).unwrap(),
            Progress::default()
        );
        let p = ps[0].v.receive_commitment("c", &pc, cc);
        assert_eq!(p.reveal.unwrap().to, ["b", "c"]);
        assert!(p.code.is_none());
        assert_eq!(
            ps[0].v.status(),
            VerificationStatus::AwaitingReveals(vec!["c".into()])
        );
        let p = ps[0].v.receive_reveal("c", &pc, nc).unwrap();
        assert!(p.code.is_some() && p.reveal.is_none());
    }

    #[test]
    fn commitments_held_before_the_round_count_and_strangers_are_dropped() {
        let room = room_id();
        let mut ps = parties(&room, &["a", "b", "x"]);
        let nb = SafetyNonce::generate(&mut rng());
        let (pb, px) = (ps[1].pk.clone(), ps[2].pk.clone());
        let cb = commitment(&room, "b", &pb, &nb);
        ps[0].v.receive_commitment("b", &pb, cb);
        ps[0].v.receive_commitment("x", &px, cb);
        let view = vec![("b".to_owned(), pb.clone())];
        let start = ps[0].v.start_round(&mut rng(), &view);
        assert_eq!(start.progress.reveal.unwrap().to, ["b"]);
        assert_eq!(
            ps[0].v.receive_reveal("x", &px, nb.clone()),
            Err(E2eeError::SafetyNoCommit)
        );
        assert!(ps[0].v.receive_reveal("b", &pb, nb).unwrap().code.is_some());
    }

    #[test]
    fn a_reveal_that_does_not_match_fails_the_round_until_the_next() {
        let room = room_id();
        let mut ps = parties(&room, &["a", "b"]);
        let pb = ps[1].pk.clone();
        let nb = SafetyNonce::generate(&mut rng());
        let view = view_of(&ps, 0);
        ps[0].v.start_round(&mut rng(), &view);
        ps[0]
            .v
            .receive_commitment("b", &pb, commitment(&room, "b", &pb, &nb));
        let wrong = SafetyNonce::generate(&mut rng());
        assert_eq!(
            ps[0].v.receive_reveal("b", &pb, wrong),
            Err(E2eeError::SafetyRevealMismatch)
        );
        assert_eq!(ps[0].v.status().code(), "failed");
        // the right one afterwards does not bring the round back
        let p = ps[0].v.receive_reveal("b", &pb, nb.clone()).unwrap();
        assert!(p.code.is_none());
        assert!(ps[0].v.code().is_none());
        // a reveal under another identity than the commitment's is a mismatch too
        let other = IdentityKeyPair::generate(&mut rng()).public_key();
        assert_eq!(
            ps[0].v.receive_reveal("b", &other, nb),
            Err(E2eeError::SafetyRevealMismatch)
        );
        // a new round starts clean; b's revealed commitment belongs to the old round
        ps[0].v.start_round(&mut rng(), &view);
        assert_eq!(
            ps[0].v.status(),
            VerificationStatus::AwaitingCommitments(vec!["b".into()])
        );
    }

    /// The adaptive attack in miniature: after seeing my nonce, a peer commits anew and reveals
    /// something chosen with my nonce in hand. The round refuses to finish with it.
    #[test]
    fn a_newer_commitment_after_my_reveal_supersedes_the_round() {
        let room = room_id();
        let mut ps = parties(&room, &["a", "b"]);
        let pb = ps[1].pk.clone();
        let view = view_of(&ps, 0);
        ps[0].v.start_round(&mut rng(), &view);
        let n1 = SafetyNonce::generate(&mut rng());
        let p = ps[0]
            .v
            .receive_commitment("b", &pb, commitment(&room, "b", &pb, &n1));
        assert!(p.reveal.is_some());
        let n2 = SafetyNonce::generate(&mut rng());
        let p = ps[0]
            .v
            .receive_commitment("b", &pb, commitment(&room, "b", &pb, &n2));
        assert!(p.superseded && p.reveal.is_none());
        let p = ps[0].v.receive_reveal("b", &pb, n2).unwrap();
        assert!(p.superseded && p.code.is_none());
        assert_eq!(
            ps[0].v.status(),
            VerificationStatus::Superseded(vec!["b".into()])
        );
        // also once the code was ready: a newer commitment withdraws it
        let mut ps = parties(&room, &["a", "b"]);
        honest_round(&mut ps);
        let pb = ps[1].pk.clone();
        let n3 = SafetyNonce::generate(&mut rng());
        let p = ps[0]
            .v
            .receive_commitment("b", &pb, commitment(&room, "b", &pb, &n3));
        assert!(p.superseded);
        assert!(ps[0].v.code().is_none());
    }

    #[test]
    fn a_superseded_round_restarts_at_most_3_times_per_roster_change() {
        let room = room_id();
        let mut ps = parties(&room, &["a", "b"]);
        let pb = ps[1].pk.clone();
        let view = view_of(&ps, 0);
        assert!(ps[0].v.restart(&mut rng()).is_none()); // idle
        honest_round(&mut ps);
        assert!(ps[0].v.restart(&mut rng()).is_none()); // ready
        let mut last_round = ps[0].v.round();
        for i in 0..5 {
            // b commits anew after my reveal (b's view changed, mine did not)
            let nb = SafetyNonce::generate(&mut rng());
            let p = ps[0]
                .v
                .receive_commitment("b", &pb, commitment(&room, "b", &pb, &nb));
            assert!(p.superseded, "{i}");
            match ps[0].v.restart(&mut rng()) {
                Some(start) if i < 3 => {
                    assert_eq!(start.round, last_round + 1);
                    last_round = start.round;
                    assert_eq!(start.to, ["b"]);
                    // b's newer commitment was not revealed: it counts at once
                    assert!(start.progress.reveal.is_some());
                    let p = ps[0].v.receive_reveal("b", &pb, nb).unwrap();
                    assert!(p.code.is_some());
                }
                None if i >= 3 => assert_eq!(ps[0].v.status().code(), "superseded"),
                other => panic!("{i}: {other:?}"),
            }
        }
        // a roster change resets the allowance
        ps[0].v.start_round(&mut rng(), &view);
        let nb = SafetyNonce::generate(&mut rng());
        ps[0]
            .v
            .receive_commitment("b", &pb, commitment(&room, "b", &pb, &nb));
        let nb2 = SafetyNonce::generate(&mut rng());
        assert!(
            ps[0]
                .v
                .receive_commitment("b", &pb, commitment(&room, "b", &pb, &nb2))
                .superseded
        );
        assert!(ps[0].v.restart(&mut rng()).is_some());
        // a failed round is not restarted
        let wrong = SafetyNonce::generate(&mut rng());
        assert!(ps[0].v.receive_reveal("b", &pb, wrong).is_err());
        assert!(ps[0].v.restart(&mut rng()).is_none());
    }

    #[test]
    fn the_same_commitment_again_keeps_its_reveal() {
        let room = room_id();
        let mut ps = parties(&room, &["a", "b"]);
        let codes = honest_round(&mut ps);
        let pb = ps[1].pk.clone();
        let frozen = ps[0].v.slots["b"].commitment;
        let p = ps[0].v.receive_commitment("b", &pb, frozen);
        assert_eq!(p, Progress::default());
        assert_eq!(
            ps[0].v.status(),
            VerificationStatus::Ready(codes[0].clone())
        );
    }

    #[test]
    fn alone_the_code_is_ready_at_once() {
        let room = room_id();
        let mut ps = parties(&room, &["a"]);
        let start = ps[0].v.start_round(&mut rng(), &[]);
        assert!(start.to.is_empty());
        assert!(start.progress.reveal.unwrap().to.is_empty());
        assert!(start.progress.code.is_some());
        // my own peer id in the view is ignored
        let me = vec![("a".to_owned(), ps[0].pk.clone())];
        assert!(ps[0].v.start_round(&mut rng(), &me).to.is_empty());
    }

    #[test]
    fn the_code_depends_on_room_keys_and_nonces_not_on_order() {
        let room = room_id();
        let k: Vec<IdentityPublicKey> = (0..3)
            .map(|_| IdentityKeyPair::generate(&mut rng()).public_key())
            .collect();
        let n: Vec<SafetyNonce> = (0..3).map(|_| SafetyNonce::generate(&mut rng())).collect();
        let code = |room: &RoomId, order: [usize; 3]| {
            let m: Vec<_> = order.iter().map(|&i| (&k[i], &n[i])).collect();
            VerificationCode::compute(room, &m)
        };
        let base = code(&room, [0, 1, 2]);
        assert_eq!(base, code(&room, [2, 0, 1]));
        assert_ne!(base, code(&room_id(), [0, 1, 2]));
        let swapped =
            VerificationCode::compute(&room, &[(&k[0], &n[1]), (&k[1], &n[0]), (&k[2], &n[2])]);
        assert_ne!(base, swapped);
        let fewer = VerificationCode::compute(&room, &[(&k[0], &n[0]), (&k[1], &n[1])]);
        assert_ne!(base, fewer);
        // the commitment binds room, peer id, key and nonce
        let c = commitment(&room, "a", &k[0], &n[0]);
        assert_ne!(c, commitment(&room_id(), "a", &k[0], &n[0]));
        assert_ne!(c, commitment(&room, "b", &k[0], &n[0]));
        assert_ne!(c, commitment(&room, "a", &k[1], &n[0]));
        assert_ne!(c, commitment(&room, "a", &k[0], &n[1]));
    }

    #[test]
    fn encodings_round_trip_and_nonces_are_redacted() {
        let n = SafetyNonce::generate(&mut rng());
        let text = n.to_base64url();
        assert_eq!(text.len(), 43);
        assert_eq!(SafetyNonce::from_base64url(&text).unwrap(), n);
        assert!(!format!("{n:?}").contains(&text));
        assert_eq!(
            SafetyNonce::from_bytes(&[0; 31]),
            Err(E2eeError::BadEncoding)
        );
        let c = commitment(
            &room_id(),
            "a",
            &IdentityKeyPair::generate(&mut rng()).public_key(),
            &n,
        );
        assert_eq!(
            SafetyCommitment::from_base64url(&c.to_base64url()).unwrap(),
            c
        );
        assert_eq!(SafetyCommitment::from_bytes(c.as_bytes()).unwrap(), c);
        assert_eq!(
            SafetyCommitment::from_bytes(&[0; 33]),
            Err(E2eeError::BadEncoding)
        );
    }
}

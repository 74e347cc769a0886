//! The safety code v2 rounds of one participant (see [`crate::verification`]), with the view
//! taken from the roster and the peers' identities from the roster, as the envelopes that
//! carried their commitments and reveals were opened under them.

use super::GroupKeys;
use crate::verification::{
    Progress, RoundStart, SafetyCommitment, SafetyNonce, VerificationStatus,
};
use crate::E2eeError;

impl GroupKeys {
    /// Starts a verification round over the current roster (call it after every roster
    /// change): send [`RoundStart::commitment`] in `safety-commit` to every peer of
    /// [`RoundStart::to`], then act on [`RoundStart::progress`].
    pub fn start_safety_round(&mut self, rng: &mut impl rand_core::CryptoRng) -> RoundStart {
        let view = self.roster();
        self.verification.start_round(rng, &view)
    }

    /// A new round over the same roster if the current one was superseded and no roster change
    /// came within a settling delay (see [`crate::verification::Verification::restart`]).
    pub fn restart_safety_round(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Option<RoundStart> {
        self.verification.restart(rng)
    }

    /// A `safety-commit` from roster peer `from` (taken out of an envelope that opened).
    pub fn receive_safety_commitment(
        &mut self,
        from: &str,
        commitment: SafetyCommitment,
    ) -> Result<Progress, E2eeError> {
        let identity = self
            .peers
            .get(from)
            .ok_or(E2eeError::UnknownPeer)?
            .identity
            .clone();
        Ok(self
            .verification
            .receive_commitment(from, &identity, commitment))
    }

    /// A `safety-reveal` from roster peer `from` (taken out of an envelope that opened).
    pub fn receive_safety_reveal(
        &mut self,
        from: &str,
        nonce: SafetyNonce,
    ) -> Result<Progress, E2eeError> {
        let identity = self
            .peers
            .get(from)
            .ok_or(E2eeError::UnknownPeer)?
            .identity
            .clone();
        self.verification.receive_reveal(from, &identity, nonce)
    }

    /// Where the current verification round stands (its code once ready).
    pub fn safety_status(&self) -> VerificationStatus {
        self.verification.status()
    }
}

//! The crypto Worker, played by the real `sotto_e2ee::GroupKeys` (what `CallCrypto` wraps):
//! every `CryptoRequest` the core makes is carried out by the Worker's own code
//! (`sotto_client_wasm::service`).
use sotto_call::crypto::{CryptoRequest, CryptoResult};
use sotto_e2ee::{Codec, E2eeError, GroupKeys, IdentityKeyPair, RoomKeys};
use sotto_protocol::{Identity, PeerId};

use super::rng::SimRng;

pub struct CryptoService {
    pub keys: GroupKeys,
    rng: SimRng,
    /// The sealed identity this participant announces (one for the whole call).
    sealed: Identity,
}

impl CryptoService {
    pub fn new(room: RoomKeys, peer_id: &PeerId, seed: u64) -> Self {
        let mut rng = SimRng::new(seed);
        let identity = IdentityKeyPair::generate(&mut rng);
        let keys = GroupKeys::new(&mut rng, room, identity, peer_id.as_str().to_owned());
        let sealed = Identity::parse(&keys.my_sealed_identity(&mut rng).expect("a valid peer id"))
            .expect("82 base64url characters");
        Self { keys, rng, sealed }
    }

    /// The sealed identity (what `join` announces and roster entries carry).
    pub fn identity(&self) -> Identity {
        self.sealed.clone()
    }

    /// The identity public key (what `participants()` shows once the sealed one opened).
    pub fn public_key(&self) -> String {
        self.keys.my_identity().to_base64url()
    }

    /// Carries out one request at `now_ms`, with the crypto Worker's own mapping
    /// (`sotto_client_wasm::service::run`, what `CallCrypto.run` does in the browser).
    pub fn run(&mut self, op: CryptoRequest, now_ms: u64) -> CryptoResult {
        sotto_client_wasm::service::run(&mut self.keys, &mut self.rng, op, now_ms)
    }

    /// One video frame from this participant, encrypted as its transform would.
    pub fn encrypt(&mut self, frame: &[u8]) -> Result<Vec<u8>, E2eeError> {
        self.keys.encrypt_frame(Codec::Vp8, frame)
    }

    pub fn decrypt(
        &mut self,
        from: &PeerId,
        frame: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, E2eeError> {
        self.keys
            .decrypt_frame(from.as_str(), Codec::Vp8, frame, now_ms)
    }
}

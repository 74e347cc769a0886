//! The crypto Worker, played by the real `sotto_e2ee::GroupKeys` (what `CallCrypto` wraps):
//! every `CryptoRequest` the core makes is carried out as the bridge would.
use sotto_call::crypto::{
    CryptoErrorCode, CryptoRequest, CryptoResult, KeyHolding, KeyMessage, RejectReason, Rejection,
    SafetyCode,
};
use sotto_call::Bytes;
use sotto_e2ee::{Codec, E2eeError, GroupKeys, IdentityKeyPair, RoomKeys, RosterEntry};
use sotto_protocol::peer::B64UrlBytes;
use sotto_protocol::{Identity, PeerId};

use super::rng::SimRng;

pub struct CryptoService {
    pub keys: GroupKeys,
    rng: SimRng,
}

fn code(e: E2eeError) -> CryptoErrorCode {
    serde_json::from_str(&format!("\"{}\"", e.code())).unwrap_or(CryptoErrorCode::Unknown)
}

fn failed(e: E2eeError) -> CryptoResult {
    CryptoResult::Failed {
        code: code(e),
        message: String::new(),
    }
}

fn peer(s: &str) -> PeerId {
    PeerId::parse(s).expect("the core only sends valid peer ids")
}

impl CryptoService {
    pub fn new(room: RoomKeys, peer_id: &PeerId, seed: u64) -> Self {
        let mut rng = SimRng::new(seed);
        let identity = IdentityKeyPair::generate(&mut rng);
        let keys = GroupKeys::new(&mut rng, room, identity, peer_id.as_str().to_owned());
        Self { keys, rng }
    }

    pub fn identity(&self) -> Identity {
        Identity::parse(&self.keys.my_identity().to_base64url()).expect("43 base64url characters")
    }

    /// Carries out one request at `now_ms`.
    pub fn run(&mut self, op: CryptoRequest, now_ms: u64) -> CryptoResult {
        self.keys.expire(now_ms);
        match op {
            CryptoRequest::SetRoster { roster } => {
                let entries: Vec<RosterEntry> = roster
                    .iter()
                    .map(|i| RosterEntry {
                        peer: i.peer.as_str().to_owned(),
                        identity: i.identity.as_str().to_owned(),
                    })
                    .collect();
                match self.keys.set_roster(&mut self.rng, &entries, now_ms) {
                    Ok(out) => {
                        let safety = self.keys.safety_code();
                        CryptoResult::Roster {
                            epoch: out.epoch,
                            committed: out.committed,
                            messages: out
                                .messages
                                .into_iter()
                                .map(|m| KeyMessage {
                                    to: peer(&m.to),
                                    key: B64UrlBytes(m.bytes),
                                })
                                .collect(),
                            rejected: out
                                .rejected
                                .into_iter()
                                .filter_map(|r| {
                                    let reason: RejectReason =
                                        serde_json::from_str(&format!("\"{}\"", r.reason.code()))
                                            .ok()?;
                                    Some(Rejection {
                                        peer: PeerId::parse(&r.peer).ok()?,
                                        reason,
                                    })
                                })
                                .collect(),
                            safety_code: SafetyCode {
                                digits: safety.digits(),
                                words: safety.words().iter().map(|w| (*w).to_owned()).collect(),
                            },
                        }
                    }
                    Err(e) => failed(e),
                }
            }
            CryptoRequest::Acknowledge { from, epoch } => CryptoResult::Acknowledged {
                complete: self.keys.acknowledge(from.as_str(), epoch),
            },
            CryptoRequest::Commit { epoch } => {
                if self.keys.pending_epoch() == Some(epoch) {
                    self.keys.commit_sender_key();
                }
                CryptoResult::Committed {
                    epoch: self.keys.sender_epoch(),
                }
            }
            CryptoRequest::Reseal { peer: to } => {
                match self.keys.reseal_for(&mut self.rng, to.as_str()) {
                    Ok(r) => CryptoResult::Resealed {
                        to: peer(&r.message.to),
                        key: B64UrlBytes(r.message.bytes),
                        epoch: r.epoch,
                    },
                    Err(e) => failed(e),
                }
            }
            CryptoRequest::ReceiveKey { from, key } => {
                match self.keys.receive_key_message(from.as_str(), &key.0, now_ms) {
                    Ok(u) => CryptoResult::KeyReceived {
                        epoch: u.epoch,
                        duplicate: u.duplicate,
                    },
                    Err(e) => failed(e),
                }
            }
            CryptoRequest::KeysFrom { peers } => {
                let stats = self.keys.stats();
                CryptoResult::KeysHeld {
                    peers: peers
                        .into_iter()
                        .map(|p| KeyHolding {
                            held: self.keys.has_key_from(p.as_str(), Some(now_ms)),
                            epoch: self.keys.receive_epochs(p.as_str()).first().copied(),
                            dropped_unknown_key: stats
                                .peers
                                .get(p.as_str())
                                .map_or(0, |s| s.dropped_unknown_key),
                            peer: p,
                        })
                        .collect(),
                }
            }
            CryptoRequest::SealChat { text } => match self.keys.seal_chat(text.as_bytes()) {
                Ok(sealed) => CryptoResult::ChatSealed {
                    sealed: Bytes(sealed),
                },
                Err(e) => failed(e),
            },
            CryptoRequest::OpenChat { from, sealed } => {
                match self.keys.open_chat(from.as_str(), &sealed.0, now_ms) {
                    Ok(plain) => match String::from_utf8(plain) {
                        Ok(text) => CryptoResult::ChatOpened { text },
                        Err(_) => failed(E2eeError::MalformedChat),
                    },
                    Err(e) => failed(e),
                }
            }
        }
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

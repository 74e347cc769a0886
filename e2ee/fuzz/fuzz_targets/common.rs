// Shared setup: a deterministic RNG and a two-party group with keys exchanged, so fuzz inputs
// reach the AEAD instead of stopping at "unknown key".
use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use sotto_e2ee::{GroupKeys, IdentityKeyPair, RoomSecret, RosterEntry};

pub struct FixedRng(pub u64);

impl TryRng for FixedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        // splitmix64: deterministic; fine for a fuzz harness, never for keys in production
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}
impl TryCryptoRng for FixedRng {}

thread_local! {
    static PAIR: std::cell::RefCell<(GroupKeys, GroupKeys)> = std::cell::RefCell::new(make_pair());
}

/// Runs `f` on a (alice, bob) pair made once per process (X25519 under ASan is too slow to redo
/// per input). State carried over between inputs: frame replay windows, chat sequence numbers.
pub fn with_pair<R>(f: impl FnOnce(&mut GroupKeys, &mut GroupKeys) -> R) -> R {
    PAIR.with(|p| {
        let mut p = p.borrow_mut();
        let (a, b) = &mut *p;
        f(a, b)
    })
}

/// (alice, bob) with bob holding alice's epoch-1 key.
fn make_pair() -> (GroupKeys, GroupKeys) {
    let mut rng = FixedRng(7);
    let room = RoomSecret::generate(&mut rng).derive();
    let ia = IdentityKeyPair::generate(&mut rng);
    let ib = IdentityKeyPair::generate(&mut rng);
    let mut a = GroupKeys::new(&mut rng, room.clone(), ia, "alice".into());
    let mut b = GroupKeys::new(&mut rng, room, ib, "bob".into());
    let pa = a.my_identity();
    let pb = b.my_identity();
    let _ = b.set_roster(&mut rng, &[RosterEntry::new("alice", &pa)], 0);
    if let Ok(out) = a.set_roster(&mut rng, &[RosterEntry::new("bob", &pb)], 0) {
        for m in out.messages {
            if let Ok(update) = b.receive_key_message("alice", &m.bytes, 0) {
                a.acknowledge("bob", update.epoch);
            }
        }
    }
    a.commit_sender_key();
    (a, b)
}

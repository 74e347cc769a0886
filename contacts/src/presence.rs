//! Rotating presence channel ids and mailbox ids, from the pairwise secret only.
//!
//! ```text
//! PRK        = HKDF-Extract(salt = "sotto/v1 presence", IKM = pairwise secret)
//! channel id = HKDF-Expand(PRK, "sotto/v1 presence" || direction || day (u32 BE) || status, 16)
//! mailbox id = HKDF-Expand(PRK', "sotto/v1 mailbox" || direction || day (u32 BE), 16)
//!              with PRK' = HKDF-Extract(salt = "sotto/v1 mailbox", pairwise secret)
//! day        = floor(unix ms / 86,400,000) (UTC days)
//! direction  = 0 from the bytewise smaller long-term key to the larger, 1 the other way
//! status     = 0 online, 1 busy (a busy client announces both)
//! ```
//! Each client *announces* its outgoing channels (to each contact) and *subscribes* to the
//! incoming ones. The ids are PRF outputs under a key the server never sees: without the
//! pairwise secret, one day's id says nothing about the next day's, the other direction's or
//! another pair's, and no id contains or depends on a public key or name.
//!
//! Around midnight clocks disagree: within [`DAY_SKEW_MS`] of a day boundary a client
//! announces and subscribes to both days' ids.
use crate::contact::{Contact, Direction};
use crate::encoding::hkdf;
use crate::ids::{ChannelId, MailboxId};
use crate::ContactsError;

pub const DAY_MS: u64 = 86_400_000;
/// How close to midnight (UTC) both days' ids are used.
pub const DAY_SKEW_MS: u64 = 5 * 60_000;
/// Days of mailboxes a client fetches: today and the 7 before (messages live 7 days).
pub const MAILBOX_DAYS: u32 = 8;

/// What a client says about itself on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Online = 0,
    Busy = 1,
}

/// The UTC day of a time in ms since 1970 (saturates far in the future).
pub fn day_of(now_ms: u64) -> u32 {
    u32::try_from(now_ms / DAY_MS).unwrap_or(u32::MAX)
}

/// The days whose ids are in use at `now_ms`: today, and the neighbour within the skew.
pub fn days_in_use(now_ms: u64) -> Vec<u32> {
    let day = day_of(now_ms);
    let into = now_ms % DAY_MS;
    let mut days = vec![day];
    if into < DAY_SKEW_MS {
        days.insert(0, day.saturating_sub(1));
    } else if DAY_MS - into <= DAY_SKEW_MS {
        days.push(day.saturating_add(1));
    }
    days.dedup();
    days
}

pub(crate) fn channel_id(
    pairwise: &[u8; 32],
    direction: Direction,
    day: u32,
    status: Status,
) -> Result<ChannelId, ContactsError> {
    Ok(ChannelId(hkdf::<16>(
        b"sotto/v1 presence",
        pairwise,
        &[
            b"sotto/v1 presence",
            &[direction.byte()],
            &day.to_be_bytes(),
            &[status as u8],
        ],
    )?))
}

pub(crate) fn mailbox_id(
    pairwise: &[u8; 32],
    direction: Direction,
    day: u32,
) -> Result<MailboxId, ContactsError> {
    Ok(MailboxId(hkdf::<16>(
        b"sotto/v1 mailbox",
        pairwise,
        &[b"sotto/v1 mailbox", &[direction.byte()], &day.to_be_bytes()],
    )?))
}

impl Contact {
    /// The channel this side announces to this contact on `day`.
    pub fn announce_channel(&self, day: u32, status: Status) -> Result<ChannelId, ContactsError> {
        channel_id(self.pairwise().bytes(), self.outgoing(), day, status)
    }

    /// The channel this side subscribes to, to hear about this contact on `day`.
    pub fn subscribe_channel(&self, day: u32, status: Status) -> Result<ChannelId, ContactsError> {
        channel_id(self.pairwise().bytes(), self.incoming(), day, status)
    }

    /// Where to post a sealed message for this contact today.
    pub fn outbox(&self, now_ms: u64) -> Result<MailboxId, ContactsError> {
        mailbox_id(self.pairwise().bytes(), self.outgoing(), day_of(now_ms))
    }

    /// Where this contact's messages for us may wait: today's mailbox and the 7 days before.
    pub fn inboxes(&self, now_ms: u64) -> Result<Vec<MailboxId>, ContactsError> {
        let today = day_of(now_ms);
        (0..MAILBOX_DAYS)
            .filter_map(|back| today.checked_sub(back))
            .map(|day| mailbox_id(self.pairwise().bytes(), self.incoming(), day))
            .collect()
    }
}

/// The presence lists for one client: what to announce, what to subscribe to (and whose it
/// is). Feed `announce` and `subscribe` to the worker's `/ws/presence` as they are; recompute
/// on every status change and every [`PresencePlan::next_change_ms`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresencePlan<K> {
    pub announce: Vec<ChannelId>,
    pub subscribe: Vec<(ChannelId, K, Status)>,
}

impl<K: Clone> PresencePlan<K> {
    pub fn new<'a>(
        contacts: impl IntoIterator<Item = (K, &'a Contact)>,
        status: Status,
        now_ms: u64,
    ) -> Result<Self, ContactsError> {
        let days = days_in_use(now_ms);
        let mut plan = Self {
            announce: Vec::new(),
            subscribe: Vec::new(),
        };
        let announced: &[Status] = match status {
            Status::Online => &[Status::Online],
            Status::Busy => &[Status::Online, Status::Busy],
        };
        for (key, contact) in contacts {
            for &day in &days {
                for &s in announced {
                    plan.announce.push(contact.announce_channel(day, s)?);
                }
                for s in [Status::Online, Status::Busy] {
                    plan.subscribe
                        .push((contact.subscribe_channel(day, s)?, key.clone(), s));
                }
            }
        }
        Ok(plan)
    }

    /// When the set of days in use changes next (enter or leave a skew window).
    pub fn next_change_ms(now_ms: u64) -> u64 {
        let start = now_ms - now_ms % DAY_MS;
        [
            start + DAY_SKEW_MS,
            start + DAY_MS - DAY_SKEW_MS,
            start + DAY_MS,
            start + DAY_MS + DAY_SKEW_MS,
        ]
        .into_iter()
        .find(|&t| t > now_ms)
        .unwrap_or(now_ms + DAY_MS)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use crate::contact::PairwiseSecret;
    use crate::identity::tests::identity;
    use crate::pairing::tests::pair;
    use std::collections::BTreeSet;

    #[test]
    fn each_side_subscribes_to_what_the_other_announces() {
        let (alice, bob) = (identity("Alice"), identity("Bob"));
        let (bob_at_alice, alice_at_bob) = pair(&alice, &bob);
        for day in [0, 20_000, u32::MAX] {
            for s in [Status::Online, Status::Busy] {
                assert_eq!(
                    bob_at_alice.announce_channel(day, s).unwrap(),
                    alice_at_bob.subscribe_channel(day, s).unwrap()
                );
                assert_eq!(
                    alice_at_bob.announce_channel(day, s).unwrap(),
                    bob_at_alice.subscribe_channel(day, s).unwrap()
                );
                assert_ne!(
                    bob_at_alice.announce_channel(day, s).unwrap(),
                    bob_at_alice.subscribe_channel(day, s).unwrap()
                );
            }
        }
        let now = 20_000 * DAY_MS + 3_600_000;
        assert_eq!(
            bob_at_alice.outbox(now).unwrap(),
            alice_at_bob.inboxes(now).unwrap()[0]
        );
        let week_ago = now - 7 * DAY_MS;
        assert_eq!(
            bob_at_alice.outbox(week_ago).unwrap(),
            alice_at_bob.inboxes(now).unwrap()[7]
        );
        assert!(!alice_at_bob
            .inboxes(now)
            .unwrap()
            .contains(&bob_at_alice.outbox(now - 8 * DAY_MS).unwrap()));
    }

    #[test]
    fn ids_are_valid_channel_ids_for_the_worker() {
        // sotto-protocol's ChannelId: 16..=43 chars of base64url.
        let id = channel_id(&[7; 32], Direction::LowToHigh, 1, Status::Online).unwrap();
        let text = id.to_base64url();
        assert_eq!(text.len(), 22);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(ChannelId::from_base64url(&text).unwrap(), id);
    }

    /// Structural: no id repeats across days, directions, statuses and pairs; the ids depend
    /// on the pairwise secret only (not on the public keys or names).
    #[test]
    fn ids_never_repeat_and_depend_only_on_the_secret() {
        let mut seen = BTreeSet::new();
        for pair_seed in 0u8..8 {
            let secret = [pair_seed; 32];
            for day in 19_000..19_100 {
                for dir in [Direction::LowToHigh, Direction::HighToLow] {
                    for s in [Status::Online, Status::Busy] {
                        assert!(seen.insert(channel_id(&secret, dir, day, s).unwrap().0));
                    }
                    assert!(seen.insert(mailbox_id(&secret, dir, day).unwrap().0));
                }
            }
        }
        // Same secret, other people: same ids (nothing about the keys goes in).
        let (a, b, c, d) = (identity("A"), identity("B"), identity("C"), identity("D"));
        let (ab, _) = pair(&a, &b);
        let (cd, _) = pair(&c, &d);
        let secret = *ab.pairwise().bytes();
        let cd_same = crate::Contact::restore(
            cd.my_key(),
            cd.public_key(),
            cd.name().clone(),
            PairwiseSecret::from_bytes(secret),
            true,
        );
        let flip = |c: &crate::Contact| c.outgoing();
        if flip(&ab) == flip(&cd_same) {
            assert_eq!(
                ab.announce_channel(5, Status::Online).unwrap(),
                cd_same.announce_channel(5, Status::Online).unwrap()
            );
        } else {
            assert_eq!(
                ab.announce_channel(5, Status::Online).unwrap(),
                cd_same.subscribe_channel(5, Status::Online).unwrap()
            );
        }
        // No public key bytes appear in any id (16-byte windows would be a leak by copying).
        let id = ab.announce_channel(5, Status::Online).unwrap();
        for key in [a.public_key(), b.public_key()] {
            assert!(!key
                .as_bytes()
                .windows(4)
                .any(|w| id.0.windows(4).any(|v| v == w)));
        }
    }

    /// Statistical: an observer holding day d's ids of many pairs cannot tell which day-d+1
    /// id belongs to which pair better than chance. We check the strongest simple signals:
    /// (1) each bit of day d+1's id is independent of the same bit of day d's (agreement rate
    /// ~1/2), (2) the Hamming distance between a pair's consecutive ids is distributed like
    /// that between unrelated ids (means within 4 standard errors), (3) matching each day-d
    /// id to its nearest day-d+1 id by Hamming distance finds the right pair at the chance
    /// rate (1/N), not more.
    #[test]
    fn consecutive_days_are_unlinkable_without_the_secret() {
        const N: usize = 2000;
        let secrets: Vec<[u8; 32]> = (0..N)
            .map(|i| {
                let mut s = [0u8; 32];
                s[..8].copy_from_slice(&(i as u64).to_le_bytes());
                s[31] = 0xa5;
                s
            })
            .collect();
        let day = 20_400;
        let ids = |d: u32| -> Vec<u128> {
            secrets
                .iter()
                .map(|s| {
                    u128::from_be_bytes(
                        channel_id(s, Direction::LowToHigh, d, Status::Online)
                            .unwrap()
                            .0,
                    )
                })
                .collect()
        };
        let (today, tomorrow) = (ids(day), ids(day + 1));

        // (1) per-bit agreement between a pair's consecutive ids.
        for bit in 0..128 {
            let agree = today
                .iter()
                .zip(&tomorrow)
                .filter(|(a, b)| ((*a >> bit) & 1) == ((*b >> bit) & 1))
                .count() as f64;
            // Binomial(N, 1/2): sd = sqrt(N)/2 ~ 22.4; 5 sd ~ 112.
            assert!(
                (agree - N as f64 / 2.0).abs() < 5.0 * (N as f64).sqrt() / 2.0,
                "bit {bit}: {agree}"
            );
        }

        // (2) Hamming distance, linked vs unlinked.
        let mean = |v: &[u32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        let linked: Vec<u32> = today
            .iter()
            .zip(&tomorrow)
            .map(|(a, b)| (a ^ b).count_ones())
            .collect();
        let unlinked: Vec<u32> = today
            .iter()
            .zip(tomorrow.iter().cycle().skip(1))
            .map(|(a, b)| (a ^ b).count_ones())
            .collect();
        // Each distance ~ Binomial(128, 1/2): sd 5.66; standard error of the mean 5.66/sqrt(N).
        let se = 5.66 / (N as f64).sqrt();
        assert!((mean(&linked) - 64.0).abs() < 4.0 * se, "{}", mean(&linked));
        assert!((mean(&linked) - mean(&unlinked)).abs() < 6.0 * se);

        // (3) nearest-neighbour matching on the first 200.
        let hits = today
            .iter()
            .take(200)
            .enumerate()
            .filter(|(i, a)| {
                let best = tomorrow
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, b)| (*a ^ *b).count_ones())
                    .map(|(j, _)| j);
                best == Some(*i)
            })
            .count();
        // Chance: 200/2000 = 0.1 expected hits; 5 or more would be a signal.
        assert!(hits < 5, "{hits} of 200 matched their own next-day id");
    }

    #[test]
    fn both_days_are_used_near_midnight() {
        let day = 20_000u64;
        let noon = day * DAY_MS + DAY_MS / 2;
        assert_eq!(days_in_use(noon), vec![20_000]);
        assert_eq!(days_in_use(day * DAY_MS + 60_000), vec![19_999, 20_000]);
        assert_eq!(
            days_in_use((day + 1) * DAY_MS - 60_000),
            vec![20_000, 20_001]
        );
        assert_eq!(
            PresencePlan::<u8>::next_change_ms(noon),
            (day + 1) * DAY_MS - DAY_SKEW_MS
        );
        assert_eq!(
            PresencePlan::<u8>::next_change_ms(day * DAY_MS),
            day * DAY_MS + DAY_SKEW_MS
        );
    }

    #[test]
    fn plan_lists_own_and_contacts_channels() {
        let (alice, bob, carol) = (identity("Alice"), identity("Bob"), identity("Carol"));
        let (bob_at_alice, alice_at_bob) = pair(&alice, &bob);
        let (carol_at_alice, _) = pair(&alice, &carol);
        let now = 20_000 * DAY_MS + DAY_MS / 2;
        let plan = PresencePlan::new(
            [(1u8, &bob_at_alice), (2u8, &carol_at_alice)],
            Status::Busy,
            now,
        )
        .unwrap();
        assert_eq!(plan.announce.len(), 4);
        assert_eq!(plan.subscribe.len(), 4);
        let bob_plan = PresencePlan::new([(9u8, &alice_at_bob)], Status::Online, now).unwrap();
        // Alice announces Bob's subscribed channels (online and busy).
        for (ch, _, _) in &bob_plan.subscribe {
            assert!(plan.announce.contains(ch));
        }
        // Bob (online, not busy) announces only the online one.
        assert_eq!(bob_plan.announce.len(), 1);
        assert!(plan
            .subscribe
            .iter()
            .any(|(ch, k, s)| *ch == bob_plan.announce[0] && *k == 1 && *s == Status::Online));
    }
}

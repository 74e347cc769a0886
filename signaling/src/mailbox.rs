//! The offline mailbox: sealed messages held under an opaque mailbox id until delivered, for
//! at most the retention (7 days by default), deleted on delivery. One state machine per
//! mailbox (the worker runs one Durable Object per id); no clock, no I/O: the adapter feeds it
//! the stored records, requests and alarms, and carries out the storage actions it returns.
//!
//! What it holds per message: its body (sealed bytes as base64url: the server cannot read
//! them), a sequence number and the time it was stored. Nothing about sender or recipient.
//!
//! ```text
//! put(body, now)   -> Store{key, body} [+ SetAlarm{oldest expiry} if it was empty]
//! take(now)        -> the unexpired bodies, oldest first; Delete{every key} + ClearAlarm
//! alarm(now)       -> Delete{expired keys} [+ SetAlarm{next expiry}]
//! from_stored(...) -> Delete{expired keys} [+ SetAlarm{next expiry}]   (after eviction)
//! ```
//! A message is expired at `stored_at + retention` and never delivered after that, even if the
//! alarm has not run yet.
use crate::RateLimiter;

/// Limits of one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxLimits {
    /// How long a message is kept at most, ms (default 7 days; the worker clamps a configured
    /// value to 1 s..=7 days).
    pub retention_ms: u64,
    /// Longest body, in characters of base64url.
    pub max_body_chars: usize,
    /// Messages held at once.
    pub max_messages: usize,
    /// Total characters held at once.
    pub max_total_chars: usize,
    /// Puts per second sustained, and burst.
    pub put_rate_per_sec: u32,
    pub put_burst: u32,
    /// Takes per second sustained, and burst.
    pub take_rate_per_sec: u32,
    pub take_burst: u32,
}

/// Seven days in ms: the longest a message is ever kept.
pub const MAX_RETENTION_MS: u64 = 7 * 24 * 3_600_000;

impl Default for MailboxLimits {
    fn default() -> Self {
        Self {
            retention_ms: MAX_RETENTION_MS,
            // A sealed offline message is at most 4,074 bytes (sotto-contacts): 5,432 chars.
            max_body_chars: 8_192,
            max_messages: 64,
            max_total_chars: 128 * 1024,
            put_rate_per_sec: 1,
            put_burst: 20,
            take_rate_per_sec: 2,
            take_burst: 20,
        }
    }
}

impl MailboxLimits {
    /// Defaults with another retention, clamped to 1 s..=7 days.
    pub fn with_retention_ms(retention_ms: u64) -> Self {
        Self {
            retention_ms: retention_ms.clamp(1_000, MAX_RETENTION_MS),
            ..Self::default()
        }
    }
}

/// Why a request was refused. Codes are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxError {
    InvalidMailboxId,
    InvalidMessage,
    MessageTooLarge,
    MailboxFull,
    RateLimited,
}

impl MailboxError {
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidMailboxId => "invalid-mailbox-id",
            Self::InvalidMessage => "invalid-message",
            Self::MessageTooLarge => "message-too-large",
            Self::MailboxFull => "mailbox-full",
            Self::RateLimited => "rate-limited",
        }
    }

    /// The HTTP status the worker answers with.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidMailboxId | Self::InvalidMessage => 400,
            Self::MessageTooLarge => 413,
            Self::MailboxFull => 507,
            Self::RateLimited => 429,
        }
    }
}

/// A mailbox id as the URL carries it: exactly 22 characters of base64url (16 bytes).
pub fn check_mailbox_id(id: &str) -> Result<(), MailboxError> {
    if id.len() == 22
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(MailboxError::InvalidMailboxId)
    }
}

/// One stored message, as the adapter keeps it: the storage key carries the sequence number
/// and the time (`m<seq:020>.<stored_at:020>`), the value is the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub seq: u64,
    pub stored_at_ms: u64,
    pub body: String,
}

impl StoredMessage {
    pub fn key(&self) -> String {
        format!("m{:020}.{:020}", self.seq, self.stored_at_ms)
    }

    /// The record from a storage key and value; `None` for anything that is not ours.
    pub fn from_entry(key: &str, body: String) -> Option<Self> {
        let rest = key.strip_prefix('m')?;
        let (seq, at) = rest.split_once('.')?;
        if seq.len() != 20 || at.len() != 20 {
            return None;
        }
        Some(Self {
            seq: seq.parse().ok()?,
            stored_at_ms: at.parse().ok()?,
            body,
        })
    }
}

/// What the adapter must do to storage, in order, before it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxAction {
    Store { key: String, body: String },
    Delete { keys: Vec<String> },
    SetAlarm { at_ms: u64 },
    ClearAlarm,
}

/// One mailbox.
#[derive(Debug)]
pub struct Mailbox {
    limits: MailboxLimits,
    /// Oldest first (sorted by seq; seq grows with time).
    messages: Vec<StoredMessage>,
    total_chars: usize,
    next_seq: u64,
    puts: RateLimiter,
    takes: RateLimiter,
}

impl Mailbox {
    pub fn new(limits: MailboxLimits, now_ms: u64) -> Self {
        Self {
            puts: RateLimiter::new(limits.put_rate_per_sec, limits.put_burst, now_ms),
            takes: RateLimiter::new(limits.take_rate_per_sec, limits.take_burst, now_ms),
            limits,
            messages: Vec::new(),
            total_chars: 0,
            next_seq: 1,
        }
    }

    /// Rebuilds from storage (after the object was evicted); deletes what expired meanwhile
    /// and sets the alarm for the rest.
    pub fn from_stored(
        limits: MailboxLimits,
        stored: impl IntoIterator<Item = StoredMessage>,
        now_ms: u64,
    ) -> (Self, Vec<MailboxAction>) {
        let mut mailbox = Self::new(limits, now_ms);
        let mut messages: Vec<StoredMessage> = stored.into_iter().collect();
        messages.sort_by_key(|m| m.seq);
        mailbox.next_seq = messages.last().map_or(1, |m| m.seq.saturating_add(1));
        mailbox.total_chars = messages.iter().map(|m| m.body.len()).sum();
        mailbox.messages = messages;
        let actions = mailbox.expire(now_ms);
        (mailbox, actions)
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    fn expires_at(&self, m: &StoredMessage) -> u64 {
        m.stored_at_ms.saturating_add(self.limits.retention_ms)
    }

    /// When the oldest message expires.
    pub fn next_expiry(&self) -> Option<u64> {
        self.messages.iter().map(|m| self.expires_at(m)).min()
    }

    /// Stores a sealed message (base64url text). The actions are to be carried out whatever
    /// the result: a refused put may still delete expired messages.
    pub fn put(
        &mut self,
        body: &str,
        now_ms: u64,
    ) -> (Vec<MailboxAction>, Result<(), MailboxError>) {
        if body.len() > self.limits.max_body_chars {
            return (Vec::new(), Err(MailboxError::MessageTooLarge));
        }
        if body.is_empty()
            || !body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return (Vec::new(), Err(MailboxError::InvalidMessage));
        }
        if !self.puts.try_acquire(now_ms) {
            return (Vec::new(), Err(MailboxError::RateLimited));
        }
        let mut actions = self.expire(now_ms);
        if self.messages.len() >= self.limits.max_messages
            || self.total_chars.saturating_add(body.len()) > self.limits.max_total_chars
        {
            return (actions, Err(MailboxError::MailboxFull));
        }
        let message = StoredMessage {
            seq: self.next_seq,
            stored_at_ms: now_ms,
            body: body.to_owned(),
        };
        self.next_seq = self.next_seq.saturating_add(1);
        let was_empty = self.messages.is_empty();
        actions.push(MailboxAction::Store {
            key: message.key(),
            body: message.body.clone(),
        });
        self.total_chars += message.body.len();
        let expiry = self.expires_at(&message);
        self.messages.push(message);
        if was_empty {
            actions.push(MailboxAction::SetAlarm { at_ms: expiry });
        }
        (actions, Ok(()))
    }

    #[cfg(test)]
    fn max_messages_for_test(&mut self, n: usize) {
        self.limits.max_messages = n;
    }

    /// Delivers every unexpired message, oldest first, and deletes all of them.
    pub fn take(&mut self, now_ms: u64) -> Result<(Vec<String>, Vec<MailboxAction>), MailboxError> {
        if !self.takes.try_acquire(now_ms) {
            return Err(MailboxError::RateLimited);
        }
        if self.messages.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let retention = self.limits.retention_ms;
        let all = std::mem::take(&mut self.messages);
        self.total_chars = 0;
        let keys = all.iter().map(StoredMessage::key).collect();
        let bodies = all
            .into_iter()
            .filter(|m| now_ms < m.stored_at_ms.saturating_add(retention))
            .map(|m| m.body)
            .collect();
        Ok((
            bodies,
            vec![MailboxAction::Delete { keys }, MailboxAction::ClearAlarm],
        ))
    }

    /// The alarm fired: delete what expired, set the alarm for the next.
    pub fn alarm(&mut self, now_ms: u64) -> Vec<MailboxAction> {
        self.expire(now_ms)
    }

    fn expire(&mut self, now_ms: u64) -> Vec<MailboxAction> {
        let retention = self.limits.retention_ms;
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.messages)
            .into_iter()
            .partition(|m| now_ms >= m.stored_at_ms.saturating_add(retention));
        self.messages = kept;
        self.total_chars = self.messages.iter().map(|m| m.body.len()).sum();
        let mut actions = Vec::new();
        if !expired.is_empty() {
            actions.push(MailboxAction::Delete {
                keys: expired.iter().map(StoredMessage::key).collect(),
            });
            match self.next_expiry() {
                Some(at_ms) => actions.push(MailboxAction::SetAlarm { at_ms }),
                None => actions.push(MailboxAction::ClearAlarm),
            }
        }
        actions
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: u64 = 86_400_000;

    fn put(m: &mut Mailbox, body: &str, now: u64) -> Result<Vec<MailboxAction>, MailboxError> {
        let (actions, result) = m.put(body, now);
        result.map(|()| actions)
    }

    #[test]
    fn a_refused_put_still_deletes_what_expired() {
        let limits = MailboxLimits {
            retention_ms: 2_000,
            max_messages: 1,
            ..MailboxLimits::default()
        };
        let mut m = Mailbox::new(limits, 0);
        let a = stored_keys(&put(&mut m, "AAAA", 0).unwrap());
        assert_eq!(
            put(&mut m, "BBBB", 100).unwrap_err(),
            MailboxError::MailboxFull
        );
        // Full at 2,100 too (a body too big for what is left), but A expired meanwhile: the
        // refused put must still hand back A's deletion, or storage would keep it.
        m.max_messages_for_test(0);
        let (actions, result) = m.put("CCCC", 2_100);
        assert_eq!(result, Err(MailboxError::MailboxFull));
        assert_eq!(deleted(&actions), a);
        assert!(m.is_empty());
    }

    fn stored_keys(actions: &[MailboxAction]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                MailboxAction::Store { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect()
    }

    fn deleted(actions: &[MailboxAction]) -> Vec<String> {
        actions
            .iter()
            .flat_map(|a| match a {
                MailboxAction::Delete { keys } => keys.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn a_message_is_delivered_once_and_deleted_on_delivery() {
        let mut m = Mailbox::new(MailboxLimits::default(), 0);
        let put = put(&mut m, "c2VhbGVk", 1_000).unwrap();
        let key = stored_keys(&put);
        assert_eq!(key.len(), 1);
        assert!(put.contains(&MailboxAction::SetAlarm {
            at_ms: 1_000 + 7 * DAY
        }));
        let (bodies, actions) = m.take(2_000).unwrap();
        assert_eq!(bodies, vec!["c2VhbGVk".to_string()]);
        assert_eq!(deleted(&actions), key);
        assert!(actions.contains(&MailboxAction::ClearAlarm));
        assert!(m.is_empty());
        let (again, actions) = m.take(3_000).unwrap();
        assert!(again.is_empty() && actions.is_empty());
    }

    #[test]
    fn messages_come_out_oldest_first() {
        let mut m = Mailbox::new(MailboxLimits::default(), 0);
        for (i, body) in ["AAAA", "BBBB", "CCCC"].iter().enumerate() {
            let put = put(&mut m, body, 1_000 * i as u64).unwrap();
            // Only the first put sets the alarm: later messages expire later.
            assert_eq!(
                put.iter()
                    .any(|a| matches!(a, MailboxAction::SetAlarm { .. })),
                i == 0
            );
        }
        assert_eq!(m.take(5_000).unwrap().0, vec!["AAAA", "BBBB", "CCCC"]);
    }

    #[test]
    fn the_alarm_deletes_after_seven_days_and_rearms() {
        let mut m = Mailbox::new(MailboxLimits::default(), 0);
        let k1 = stored_keys(&put(&mut m, "AAAA", 0).unwrap());
        let k2 = stored_keys(&put(&mut m, "BBBB", DAY).unwrap());
        assert!(m.alarm(7 * DAY - 1).is_empty());
        let actions = m.alarm(7 * DAY);
        assert_eq!(deleted(&actions), k1);
        assert!(actions.contains(&MailboxAction::SetAlarm { at_ms: 8 * DAY }));
        let actions = m.alarm(8 * DAY);
        assert_eq!(deleted(&actions), k2);
        assert!(actions.contains(&MailboxAction::ClearAlarm));
        assert!(m.is_empty());
    }

    #[test]
    fn an_expired_message_is_never_delivered_even_before_the_alarm() {
        let mut m = Mailbox::new(MailboxLimits::with_retention_ms(2_000), 0);
        let k = stored_keys(&put(&mut m, "AAAA", 0).unwrap());
        let (bodies, actions) = m.take(2_000).unwrap();
        assert!(bodies.is_empty());
        assert_eq!(deleted(&actions), k);
    }

    #[test]
    fn retention_is_clamped_to_seven_days() {
        assert_eq!(
            MailboxLimits::with_retention_ms(u64::MAX).retention_ms,
            MAX_RETENTION_MS
        );
        assert_eq!(MailboxLimits::with_retention_ms(0).retention_ms, 1_000);
    }

    #[test]
    fn rebuilt_from_storage_it_deletes_what_expired_meanwhile() {
        let limits = MailboxLimits::default();
        let old = StoredMessage {
            seq: 3,
            stored_at_ms: 0,
            body: "AAAA".into(),
        };
        let young = StoredMessage {
            seq: 4,
            stored_at_ms: 5 * DAY,
            body: "BBBB".into(),
        };
        let (mut m, actions) = Mailbox::from_stored(limits, [young.clone(), old.clone()], 7 * DAY);
        assert_eq!(deleted(&actions), vec![old.key()]);
        assert!(actions.contains(&MailboxAction::SetAlarm { at_ms: 12 * DAY }));
        // Sequence numbers go on from the highest stored.
        let k = stored_keys(&put(&mut m, "CCCC", 7 * DAY).unwrap());
        assert!(k[0].starts_with("m00000000000000000005."));
        assert_eq!(m.take(7 * DAY).unwrap().0, vec!["BBBB", "CCCC"]);
    }

    #[test]
    fn keys_round_trip_and_foreign_keys_are_skipped() {
        let m = StoredMessage {
            seq: 42,
            stored_at_ms: 1_700_000_000_000,
            body: "x".into(),
        };
        assert_eq!(StoredMessage::from_entry(&m.key(), "x".into()), Some(m));
        for bad in [
            "",
            "m",
            "m1.2",
            "x00000000000000000001.00000000000000000002",
            "m0000000000000000000a.00000000000000000002",
        ] {
            assert_eq!(StoredMessage::from_entry(bad, String::new()), None, "{bad}");
        }
    }

    #[test]
    fn size_count_and_body_limits() {
        let limits = MailboxLimits {
            put_burst: 1_000,
            ..MailboxLimits::default()
        };
        let mut m = Mailbox::new(limits.clone(), 0);
        assert_eq!(
            put(&mut m, &"A".repeat(limits.max_body_chars + 1), 0).unwrap_err(),
            MailboxError::MessageTooLarge
        );
        for bad in ["", "not base64!", "a+b/c=", "é"] {
            assert_eq!(
                put(&mut m, bad, 0).unwrap_err(),
                MailboxError::InvalidMessage,
                "{bad}"
            );
        }
        for _ in 0..limits.max_messages {
            put(&mut m, "AAAA", 0).unwrap();
        }
        assert_eq!(
            put(&mut m, "AAAA", 0).unwrap_err(),
            MailboxError::MailboxFull
        );
        assert_eq!(m.len(), limits.max_messages);

        let mut m = Mailbox::new(limits.clone(), 0);
        let big = "A".repeat(limits.max_body_chars);
        let fit = limits.max_total_chars / limits.max_body_chars;
        for _ in 0..fit {
            put(&mut m, &big, 0).unwrap();
        }
        assert_eq!(put(&mut m, &big, 0).unwrap_err(), MailboxError::MailboxFull);
        // Delivery makes room again.
        m.take(0).unwrap();
        assert!(put(&mut m, &big, 0).is_ok());
    }

    #[test]
    fn puts_and_takes_are_rate_limited() {
        let limits = MailboxLimits::default();
        let mut m = Mailbox::new(limits.clone(), 0);
        for _ in 0..limits.put_burst {
            put(&mut m, "AAAA", 0).unwrap();
        }
        assert_eq!(
            put(&mut m, "AAAA", 0).unwrap_err(),
            MailboxError::RateLimited
        );
        assert!(put(&mut m, "AAAA", 1_000).is_ok());
        for _ in 0..limits.take_burst {
            m.take(1_000).unwrap();
        }
        assert_eq!(m.take(1_000).unwrap_err(), MailboxError::RateLimited);
        assert!(m.take(1_500).is_ok());
    }

    #[test]
    fn mailbox_ids_are_checked() {
        assert!(check_mailbox_id("AAAAAAAAAAAAAAAAAAAAAA").is_ok());
        for bad in [
            "",
            "short",
            "AAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAA/",
            "AAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert_eq!(
                check_mailbox_id(bad).unwrap_err().code(),
                "invalid-mailbox-id"
            );
        }
    }

    #[test]
    fn error_codes_and_statuses() {
        use MailboxError::*;
        let all = [
            InvalidMailboxId,
            InvalidMessage,
            MessageTooLarge,
            MailboxFull,
            RateLimited,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert!(all.iter().all(|e| (400..600).contains(&e.status())));
    }

    proptest! {
        /// Whatever happens, nothing older than the retention is ever delivered, every stored
        /// key is deleted exactly once (by take or by expiry), and the held size adds up.
        #[test]
        fn never_delivers_expired_and_deletes_every_key_once(
            ops in proptest::collection::vec((0u8..3, 0u64..5_000, "[A-Za-z0-9_-]{1,40}"), 1..60)
        ) {
            let limits = MailboxLimits { retention_ms: 2_000, put_burst: 1_000, take_burst: 1_000, ..MailboxLimits::default() };
            let mut m = Mailbox::new(limits, 0);
            let mut now = 0u64;
            let mut live: std::collections::BTreeMap<String, u64> = Default::default();
            let mut gone = std::collections::BTreeSet::new();
            let check_deletes = |actions: &[MailboxAction], live: &mut std::collections::BTreeMap<String, u64>, gone: &mut std::collections::BTreeSet<String>| -> Result<(), TestCaseError> {
                for k in deleted(actions) {
                    prop_assert!(live.remove(&k).is_some(), "deleted twice or unknown: {}", k);
                    prop_assert!(gone.insert(k));
                }
                Ok(())
            };
            for (op, dt, body) in ops {
                now += dt;
                match op {
                    0 => {
                        let (actions, _) = m.put(&body, now);
                        check_deletes(&actions, &mut live, &mut gone)?;
                        for k in stored_keys(&actions) { live.insert(k, now); }
                    }
                    1 => {
                        let (bodies, actions) = m.take(now).unwrap();
                        let oldest_live = live.values().filter(|&&at| now < at + 2_000).count();
                        prop_assert_eq!(bodies.len(), oldest_live);
                        check_deletes(&actions, &mut live, &mut gone)?;
                        prop_assert!(live.is_empty());
                    }
                    _ => {
                        let actions = m.alarm(now);
                        check_deletes(&actions, &mut live, &mut gone)?;
                        prop_assert!(live.values().all(|&at| now < at + 2_000));
                    }
                }
                prop_assert_eq!(m.len(), live.len());
                prop_assert_eq!(m.total_chars, m.messages.iter().map(|x| x.body.len()).sum::<usize>());
            }
        }
    }
}

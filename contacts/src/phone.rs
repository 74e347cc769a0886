//! One tab's telephone: every ring it places or receives, each a [`ring`](crate::ring) state
//! machine, with the sealing in between. Sans I/O: sealed bytes, user actions and time in;
//! what to send to which contact, what to show and when to wake out.
//!
//! A contact is named by its long-term [`PublicKey`]. Sealed ring messages travel on the
//! pair's presence channel (the worker's `notify`): every tab of the contact receives what
//! this tab sends, and this tab receives what any of the contact's tabs send.
use crate::contact::Contact;
use crate::identity::{Identity, PublicKey};
use crate::ids::MailboxId;
use crate::ring::{
    CallId, CallerOutcome, DeviceId, IncomingCalls, IncomingRing, OutgoingRing, RingAction,
    RingBody, StopReason,
};
use crate::sealed::OfflineMessage;
use crate::ContactsError;

/// Ended rings kept to answer late messages (a second tab's late accept).
const KEPT_ENDED: usize = 16;

/// What the application must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneAction {
    /// Send these sealed bytes to the contact (on the pair's channel).
    Send { to: PublicKey, sealed: Vec<u8> },
    /// Show an incoming call from this contact.
    Incoming { from: PublicKey, call: CallId },
    /// Stop showing an incoming call.
    Stopped { call: CallId, reason: StopReason },
    /// The outcome of a call this tab placed.
    Outcome {
        call: CallId,
        outcome: CallerOutcome,
    },
    /// Join this room (the call was answered here, or this tab's answer was confirmed).
    Join { call: CallId, room_link: String },
    /// Call [`Phone::tick`] at this time.
    WakeAt(u64),
    /// Post these sealed bytes to this mailbox (an offline notice for the contact).
    Post { mailbox: MailboxId, sealed: Vec<u8> },
}

struct Outgoing {
    contact: Contact,
    ring: OutgoingRing,
    call: CallId,
}

struct Incoming {
    contact: Contact,
    ring: IncomingRing,
}

/// One tab's rings.
pub struct Phone {
    device: DeviceId,
    busy: bool,
    seen: IncomingCalls,
    outgoing: Vec<Outgoing>,
    incoming: Vec<Incoming>,
    /// Messages that did not open or were not acted on (counted, never shown).
    pub ignored: u32,
}

impl Phone {
    pub fn new(device: DeviceId) -> Self {
        Self {
            device,
            busy: false,
            seen: IncomingCalls::default(),
            outgoing: Vec::new(),
            incoming: Vec::new(),
            ignored: 0,
        }
    }

    /// In a call: new invites are answered busy.
    pub fn set_busy(&mut self, busy: bool) {
        self.busy = busy;
    }

    fn convert(
        rng: &mut impl rand_core::CryptoRng,
        contact: &Contact,
        call: CallId,
        actions: Vec<RingAction>,
        out: &mut Vec<PhoneAction>,
    ) -> Result<(), ContactsError> {
        for a in actions {
            out.push(match a {
                RingAction::Send(m) => PhoneAction::Send {
                    to: contact.public_key(),
                    sealed: contact.seal_ring(rng, &m)?,
                },
                RingAction::ShowIncoming { call, .. } => PhoneAction::Incoming {
                    from: contact.public_key(),
                    call,
                },
                RingAction::JoinRoom { room_link } => PhoneAction::Join { call, room_link },
                RingAction::StopRinging(reason) => PhoneAction::Stopped { call, reason },
                RingAction::Report(outcome) => PhoneAction::Outcome { call, outcome },
                RingAction::WakeAt(t) => PhoneAction::WakeAt(t),
            });
        }
        Ok(())
    }

    fn prune(&mut self) {
        let ended_out = self
            .outgoing
            .iter()
            .filter(|o| o.ring.outcome().is_some())
            .count();
        if ended_out > KEPT_ENDED {
            if let Some(i) = self
                .outgoing
                .iter()
                .position(|o| o.ring.outcome().is_some())
            {
                self.outgoing.remove(i);
            }
        }
        let ended_in = self
            .incoming
            .iter()
            .filter(|i| !i.ring.is_ringing())
            .count();
        if ended_in > KEPT_ENDED {
            if let Some(i) = self.incoming.iter().position(|i| !i.ring.is_ringing()) {
                self.incoming.remove(i);
            }
        }
    }

    /// Rings `contact`; `call` is fresh randomness chosen by the caller.
    pub fn call(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        contact: &Contact,
        call: CallId,
        room_link: String,
        now_ms: u64,
    ) -> Result<Vec<PhoneAction>, ContactsError> {
        let (ring, actions) = OutgoingRing::start(call, self.device, room_link, now_ms)?;
        let mut out = Vec::new();
        Self::convert(rng, contact, call, actions, &mut out)?;
        self.outgoing.push(Outgoing {
            contact: contact.clone(),
            ring,
            call,
        });
        self.prune();
        Ok(out)
    }

    /// The caller hung up before an answer.
    pub fn cancel(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        call: CallId,
        now_ms: u64,
    ) -> Result<Vec<PhoneAction>, ContactsError> {
        let o = self.outgoing_mut(call)?;
        let actions = o.ring.cancel(now_ms);
        let mut out = Vec::new();
        Self::convert(rng, &o.contact, call, actions, &mut out)?;
        Ok(out)
    }

    /// The invite of `call` reached none of the contact's tabs (the worker delivered it to
    /// nobody): the ring ends as no answer, and a missed-call notice sealed to the contact's
    /// long-term key goes to today's mailbox for them. Nothing if the ring already ended.
    pub fn unreachable(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        me: &Identity,
        call: CallId,
        now_ms: u64,
    ) -> Result<Vec<PhoneAction>, ContactsError> {
        let o = self.outgoing_mut(call)?;
        let actions = o.ring.unreachable(now_ms);
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let notice = OfflineMessage::MissedCall {
            sent_at_ms: now_ms,
            call,
        };
        let mut out = vec![PhoneAction::Post {
            mailbox: o.contact.outbox(now_ms)?,
            sealed: o.contact.seal_offline(rng, me, &notice)?,
        }];
        Self::convert(rng, &o.contact, call, actions, &mut out)?;
        Ok(out)
    }

    fn outgoing_mut(&mut self, call: CallId) -> Result<&mut Outgoing, ContactsError> {
        self.outgoing
            .iter_mut()
            .find(|o| o.call == call)
            .ok_or(ContactsError::UnknownCall)
    }

    fn incoming_mut(&mut self, call: CallId) -> Result<&mut Incoming, ContactsError> {
        self.incoming
            .iter_mut()
            .find(|i| i.ring.call() == call)
            .ok_or(ContactsError::UnknownCall)
    }

    /// The user answered on this tab.
    pub fn accept(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        call: CallId,
        now_ms: u64,
    ) -> Result<Vec<PhoneAction>, ContactsError> {
        self.answer(rng, call, |ring| ring.accept(now_ms))
    }

    /// The user declined on this tab.
    pub fn decline(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        call: CallId,
        now_ms: u64,
    ) -> Result<Vec<PhoneAction>, ContactsError> {
        self.answer(rng, call, |ring| ring.decline(now_ms))
    }

    /// What the user did on this tab with the incoming `call` (accept or decline).
    fn answer(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        call: CallId,
        act: impl FnOnce(&mut IncomingRing) -> Vec<RingAction>,
    ) -> Result<Vec<PhoneAction>, ContactsError> {
        let i = self.incoming_mut(call)?;
        let actions = act(&mut i.ring);
        let mut out = Vec::new();
        Self::convert(rng, &i.contact, call, actions, &mut out)?;
        Ok(out)
    }

    /// Sealed bytes that arrived on one of `contact`'s channels. What does not open, or is not
    /// for a call of this tab, is counted in `ignored` and changes nothing.
    pub fn on_sealed(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        contact: &Contact,
        sealed: &[u8],
        now_ms: u64,
    ) -> Result<Vec<PhoneAction>, ContactsError> {
        let Ok(msg) = contact.open_ring(sealed) else {
            self.ignored += 1;
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if let RingBody::Invite { .. } = msg.body {
            match self.seen.on_invite(&msg, self.device, self.busy, now_ms) {
                Ok((ring, actions)) => {
                    Self::convert(rng, contact, msg.call, actions, &mut out)?;
                    self.incoming.push(Incoming {
                        contact: contact.clone(),
                        ring,
                    });
                    self.prune();
                }
                Err(_) => self.ignored += 1,
            }
            return Ok(out);
        }
        let key = contact.public_key();
        if let Some(o) = self
            .outgoing
            .iter_mut()
            .find(|o| o.call == msg.call && o.contact.public_key() == key)
        {
            let actions = o.ring.on_message(&msg, now_ms);
            Self::convert(rng, &o.contact, msg.call, actions, &mut out)?;
        } else if let Some(i) = self
            .incoming
            .iter_mut()
            .find(|i| i.ring.call() == msg.call && i.contact.public_key() == key)
        {
            let before = i.ring.ignored;
            let actions = i.ring.on_message(&msg, now_ms);
            self.ignored += i.ring.ignored - before;
            Self::convert(rng, &i.contact, msg.call, actions, &mut out)?;
        } else {
            self.ignored += 1;
        }
        Ok(out)
    }

    /// Timers: ring timeouts, unconfirmed answers.
    pub fn tick(
        &mut self,
        rng: &mut impl rand_core::CryptoRng,
        now_ms: u64,
    ) -> Result<Vec<PhoneAction>, ContactsError> {
        let mut out = Vec::new();
        for o in &mut self.outgoing {
            let actions = o.ring.tick(now_ms);
            Self::convert(rng, &o.contact, o.call, actions, &mut out)?;
        }
        for i in &mut self.incoming {
            let actions = i.ring.tick(now_ms);
            Self::convert(rng, &i.contact, i.ring.call(), actions, &mut out)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::identity::tests::{identity, rng};
    use crate::pairing::tests::pair;
    use crate::ring::CancelReason;

    const LINK: &str = "https://sotto.example/#roomsecret";

    /// Alice's tab and two tabs of Bob; `deliver` carries every Send to the other side.
    struct World {
        alice: Phone,
        bobs: Vec<Phone>,
        ab: Contact, // Alice's contact for Bob
        ba: Contact, // Bob's contact for Alice
        alice_log: Vec<PhoneAction>,
        bob_logs: Vec<Vec<PhoneAction>>,
    }

    impl World {
        fn new() -> Self {
            let (ab, ba) = pair(&identity("Alice"), &identity("Bob"));
            World {
                alice: Phone::new(DeviceId([1; 8])),
                bobs: vec![Phone::new(DeviceId([2; 8])), Phone::new(DeviceId([3; 8]))],
                ab,
                ba,
                alice_log: Vec::new(),
                bob_logs: vec![Vec::new(), Vec::new()],
            }
        }

        fn deliver_alice(&mut self, actions: Vec<PhoneAction>, now: u64) {
            for a in &actions {
                if let PhoneAction::Send { to, sealed } = a {
                    assert_eq!(*to, self.ab.public_key());
                    let mut replies = Vec::new();
                    for (bob, log) in self.bobs.iter_mut().zip(&mut self.bob_logs) {
                        let acts = bob.on_sealed(&mut rng(), &self.ba, sealed, now).unwrap();
                        log.extend(acts.clone());
                        replies.extend(acts);
                    }
                    self.deliver_bob(replies, now + 5);
                }
            }
            self.alice_log.extend(actions);
        }

        fn deliver_bob(&mut self, actions: Vec<PhoneAction>, now: u64) {
            for a in actions {
                if let PhoneAction::Send { to, sealed } = a {
                    assert_eq!(to, self.ba.public_key());
                    let acts = self
                        .alice
                        .on_sealed(&mut rng(), &self.ab, &sealed, now)
                        .unwrap();
                    self.deliver_alice(acts, now + 5);
                }
            }
        }
    }

    fn joins(log: &[PhoneAction]) -> usize {
        log.iter()
            .filter(|a| matches!(a, PhoneAction::Join { .. }))
            .count()
    }

    #[test]
    fn both_tabs_ring_one_answers_the_other_stops_and_both_sides_join() {
        let mut w = World::new();
        let call = CallId([7; 16]);
        let acts = w
            .alice
            .call(&mut rng(), &w.ab.clone(), call, LINK.into(), 1000)
            .unwrap();
        w.deliver_alice(acts, 1010);
        for log in &w.bob_logs {
            assert!(log.contains(&PhoneAction::Incoming {
                from: w.ba.public_key(),
                call
            }));
        }
        let acts = w.bobs[0].accept(&mut rng(), call, 2000).unwrap();
        w.bob_logs[0].extend(acts.clone());
        w.deliver_bob(acts, 2010);
        assert!(w.alice_log.iter().any(|a| matches!(a,
            PhoneAction::Outcome { outcome: CallerOutcome::Answered(d), .. } if *d == DeviceId([2; 8]))));
        assert_eq!(joins(&w.alice_log), 1);
        assert_eq!(joins(&w.bob_logs[0]), 1);
        assert_eq!(joins(&w.bob_logs[1]), 0);
        assert!(w.bob_logs[1].contains(&PhoneAction::Stopped {
            call,
            reason: StopReason::AnsweredElsewhere
        }));
        // A late accept from the other tab joins nobody.
        let late = w.bobs[1].accept(&mut rng(), call, 2100).unwrap();
        assert!(late.is_empty());
    }

    #[test]
    fn busy_tab_answers_busy_and_caller_hears_it() {
        let mut w = World::new();
        for b in &mut w.bobs {
            b.set_busy(true);
        }
        let call = CallId([8; 16]);
        let acts = w
            .alice
            .call(&mut rng(), &w.ab.clone(), call, LINK.into(), 0)
            .unwrap();
        w.deliver_alice(acts, 10);
        assert!(w.alice_log.contains(&PhoneAction::Outcome {
            call,
            outcome: CallerOutcome::Busy
        }));
        assert!(!w.bob_logs[0]
            .iter()
            .any(|a| matches!(a, PhoneAction::Incoming { .. })));
    }

    #[test]
    fn decline_cancel_and_timeout_reach_the_other_side() {
        let mut w = World::new();
        let c1 = CallId([1; 16]);
        let acts = w
            .alice
            .call(&mut rng(), &w.ab.clone(), c1, LINK.into(), 0)
            .unwrap();
        w.deliver_alice(acts, 10);
        let acts = w.bobs[1].decline(&mut rng(), c1, 100).unwrap();
        w.deliver_bob(acts, 110);
        assert!(w.alice_log.contains(&PhoneAction::Outcome {
            call: c1,
            outcome: CallerOutcome::Declined
        }));
        assert!(w.bob_logs[0].contains(&PhoneAction::Stopped {
            call: c1,
            reason: StopReason::EndedElsewhere
        }));

        let c2 = CallId([2; 16]);
        let acts = w
            .alice
            .call(&mut rng(), &w.ab.clone(), c2, LINK.into(), 1000)
            .unwrap();
        w.deliver_alice(acts, 1010);
        let acts = w.alice.cancel(&mut rng(), c2, 1500).unwrap();
        w.deliver_alice(acts, 1510);
        assert!(w.bob_logs[0].contains(&PhoneAction::Stopped {
            call: c2,
            reason: StopReason::Missed(CancelReason::Caller)
        }));

        let c3 = CallId([3; 16]);
        let acts = w
            .alice
            .call(&mut rng(), &w.ab.clone(), c3, LINK.into(), 5000)
            .unwrap();
        w.deliver_alice(acts, 5010);
        let acts = w
            .alice
            .tick(&mut rng(), 5000 + crate::ring::RING_TIMEOUT_MS)
            .unwrap();
        w.deliver_alice(acts, 36_000);
        assert!(w.alice_log.contains(&PhoneAction::Outcome {
            call: c3,
            outcome: CallerOutcome::NoAnswer
        }));
        assert!(w.bob_logs[1].contains(&PhoneAction::Stopped {
            call: c3,
            reason: StopReason::Missed(CancelReason::Timeout)
        }));
    }

    #[test]
    fn an_invite_nobody_heard_ends_as_no_answer_with_a_missed_call_notice_only_they_open() {
        let alice = identity("Alice");
        let bob = identity("Bob");
        let (ab, ba) = pair(&alice, &bob);
        let mut phone = Phone::new(DeviceId([1; 8]));
        let call = CallId([4; 16]);
        phone
            .call(&mut rng(), &ab, call, LINK.into(), 1_000)
            .unwrap();
        let out = phone.unreachable(&mut rng(), &alice, call, 1_200).unwrap();
        assert!(out.contains(&PhoneAction::Outcome {
            call,
            outcome: CallerOutcome::NoAnswer
        }));
        let PhoneAction::Post { mailbox, sealed } = &out[0] else {
            panic!("no notice: {out:?}")
        };
        // Bob finds it in one of his inboxes for Alice, and it opens only for him.
        assert!(ba.inboxes(1_200).unwrap().contains(mailbox));
        assert_eq!(
            ba.open_offline(&bob, sealed).unwrap(),
            OfflineMessage::MissedCall {
                sent_at_ms: 1_200,
                call
            }
        );
        assert!(ab.open_offline(&alice, sealed).is_err());
        // Once ended, nothing more (no second notice), and a later tick reports nothing.
        assert!(phone
            .unreachable(&mut rng(), &alice, call, 1_300)
            .unwrap()
            .is_empty());
        assert!(phone.tick(&mut rng(), 100_000).unwrap().is_empty());
        assert_eq!(
            phone
                .unreachable(&mut rng(), &alice, CallId([9; 16]), 0)
                .unwrap_err(),
            ContactsError::UnknownCall
        );
    }

    #[test]
    fn what_does_not_open_or_is_replayed_is_counted_not_acted_on() {
        let mut w = World::new();
        let call = CallId([5; 16]);
        let acts = w
            .alice
            .call(&mut rng(), &w.ab.clone(), call, LINK.into(), 0)
            .unwrap();
        let PhoneAction::Send { sealed, .. } = &acts[0] else {
            panic!("no send")
        };
        let bob = &mut w.bobs[0];
        assert_eq!(
            bob.on_sealed(&mut rng(), &w.ba, sealed, 10).unwrap().len(),
            2
        );
        // Replayed invite: ignored.
        assert!(bob
            .on_sealed(&mut rng(), &w.ba, sealed, 20)
            .unwrap()
            .is_empty());
        // Altered bytes: ignored.
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        assert!(bob
            .on_sealed(&mut rng(), &w.ba, &bad, 30)
            .unwrap()
            .is_empty());
        // Reflected to its sender: does not open.
        assert!(w
            .alice
            .on_sealed(&mut rng(), &w.ab, sealed, 40)
            .unwrap()
            .is_empty());
        assert_eq!(bob.ignored, 2);
        assert_eq!(w.alice.ignored, 1);
        assert_eq!(
            bob.accept(&mut rng(), CallId([6; 16]), 50).unwrap_err(),
            ContactsError::UnknownCall
        );
    }
}

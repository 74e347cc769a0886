//! Ringing: the messages and the two state machines (caller, and each callee tab), sans I/O.
//!
//! Every tab and device of one identity holds the same contacts, so each receives the caller's
//! sealed messages and rings. The caller settles the call on the first answer and tells every
//! tab (`Settled`), so exactly one tab joins and the others stop:
//! ```text
//! caller                                callee tab 1, tab 2 (same identity)
//!   Invite{room link, expires} ----->   ring (ShowIncoming), both
//!                               <-----  Accept{tab 1}        (tab 1 pressed accept)
//!   JoinRoom; Settled{answered by tab 1} -->  tab 1: JoinRoom; tab 2: Stop(AnsweredElsewhere)
//!                               <-----  Accept{tab 2} (a race) -> Settled again, no 2nd join
//! ```
//! Decline and busy end the call for every tab (`Settled{Declined|Busy}`); the caller's cancel
//! and its timeout send `Cancel` (tabs stop; a missed call). A tab that accepted but hears no
//! `Settled` within [`CONFIRM_TIMEOUT_MS`] gives up. Time comes in as ms; actions come out.
//!
//! Wire form of a message (inside the sealed box of [`crate::sealed`], big-endian):
//! `kind (1) || call id (16) || device id (8) || sent_at_ms (8) || body`
//! kind 1 invite: `expires_at_ms (8) || u16 len || room link`; 2 accept; 3 decline; 4 busy;
//! 5 cancel: `reason (1: caller, 2: timeout)`; 6 settled: `outcome (1 answered: || device (8),
//! 2 declined, 3 busy)`.
use crate::encoding::Reader;
use crate::ContactsError;

/// How long a call rings before the caller gives up.
pub const RING_TIMEOUT_MS: u64 = 30_000;
/// How long an accepting tab waits for the caller's `Settled`.
pub const CONFIRM_TIMEOUT_MS: u64 = 10_000;
/// Clock difference tolerated between caller and callee.
pub const CLOCK_SKEW_MS: u64 = 30_000;
/// Longest room link in an invite.
pub const MAX_ROOM_LINK_LEN: usize = 512;
/// Longest encoded ring message.
pub const MAX_RING_MESSAGE_LEN: usize = 1 + 16 + 8 + 8 + 8 + 2 + MAX_ROOM_LINK_LEN;
/// Call ids remembered by [`IncomingCalls`] (replays of older invites are refused by expiry).
pub const REMEMBERED_CALLS: usize = 256;

/// A call's id: 16 random bytes chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub [u8; 16]);

/// One tab or device: 8 random bytes chosen when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(pub [u8; 8]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    Caller,
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    AnsweredBy(DeviceId),
    Declined,
    Busy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingBody {
    Invite {
        expires_at_ms: u64,
        room_link: String,
    },
    Accept,
    Decline,
    Busy,
    Cancel(CancelReason),
    Settled(Settlement),
}

/// A ring message: which call, which device sent it, when, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingMessage {
    pub call: CallId,
    pub device: DeviceId,
    pub sent_at_ms: u64,
    pub body: RingBody,
}

fn check_room_link(link: &str) -> Result<(), ContactsError> {
    if link.is_empty()
        || link.len() > MAX_ROOM_LINK_LEN
        || !link.bytes().all(|b| b.is_ascii_graphic())
    {
        Err(ContactsError::BadRoomLink)
    } else {
        Ok(())
    }
}

impl RingMessage {
    pub fn encode(&self) -> Result<Vec<u8>, ContactsError> {
        let kind = match &self.body {
            RingBody::Invite { .. } => 1,
            RingBody::Accept => 2,
            RingBody::Decline => 3,
            RingBody::Busy => 4,
            RingBody::Cancel(_) => 5,
            RingBody::Settled(_) => 6,
        };
        let mut out = Vec::with_capacity(64);
        out.push(kind);
        out.extend_from_slice(&self.call.0);
        out.extend_from_slice(&self.device.0);
        out.extend_from_slice(&self.sent_at_ms.to_be_bytes());
        match &self.body {
            RingBody::Invite {
                expires_at_ms,
                room_link,
            } => {
                check_room_link(room_link)?;
                out.extend_from_slice(&expires_at_ms.to_be_bytes());
                let len = u16::try_from(room_link.len()).map_err(|_| ContactsError::BadRoomLink)?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(room_link.as_bytes());
            }
            RingBody::Accept | RingBody::Decline | RingBody::Busy => {}
            RingBody::Cancel(r) => out.push(match r {
                CancelReason::Caller => 1,
                CancelReason::Timeout => 2,
            }),
            RingBody::Settled(s) => match s {
                Settlement::AnsweredBy(d) => {
                    out.push(1);
                    out.extend_from_slice(&d.0);
                }
                Settlement::Declined => out.push(2),
                Settlement::Busy => out.push(3),
            },
        }
        Ok(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ContactsError> {
        if bytes.len() > MAX_RING_MESSAGE_LEN {
            return Err(ContactsError::MalformedRing);
        }
        let mut r = Reader::new(bytes, ContactsError::MalformedRing);
        let kind = r.u8()?;
        let call = CallId(r.array()?);
        let device = DeviceId(r.array()?);
        let sent_at_ms = r.u64()?;
        let body = match kind {
            1 => {
                let expires_at_ms = r.u64()?;
                let len = r.u16()?;
                let link = std::str::from_utf8(r.take(usize::from(len))?)
                    .map_err(|_| ContactsError::BadRoomLink)?;
                check_room_link(link)?;
                RingBody::Invite {
                    expires_at_ms,
                    room_link: link.to_owned(),
                }
            }
            2 => RingBody::Accept,
            3 => RingBody::Decline,
            4 => RingBody::Busy,
            5 => RingBody::Cancel(match r.u8()? {
                1 => CancelReason::Caller,
                2 => CancelReason::Timeout,
                _ => return Err(ContactsError::MalformedRing),
            }),
            6 => RingBody::Settled(match r.u8()? {
                1 => Settlement::AnsweredBy(DeviceId(r.array()?)),
                2 => Settlement::Declined,
                3 => Settlement::Busy,
                _ => return Err(ContactsError::MalformedRing),
            }),
            _ => return Err(ContactsError::MalformedRing),
        };
        r.finish()?;
        Ok(Self {
            call,
            device,
            sent_at_ms,
            body,
        })
    }
}

/// How a call ended, as the caller reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerOutcome {
    Answered(DeviceId),
    Declined,
    Busy,
    NoAnswer,
    Cancelled,
}

/// Why a callee tab stopped ringing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// This tab declined.
    Declined,
    /// Another tab of this identity answered.
    AnsweredElsewhere,
    /// Another tab declined, or reported busy.
    EndedElsewhere,
    /// The caller hung up before an answer: a missed call.
    Missed(CancelReason),
    /// The invite expired here without word from the caller: a missed call.
    Expired,
    /// This tab accepted but the caller never confirmed.
    NotConfirmed,
}

/// What the application must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingAction {
    /// Seal and send this message to the contact (every tab of theirs receives it).
    Send(RingMessage),
    /// Callee: show the incoming call (name from the contact, accept, decline).
    ShowIncoming { call: CallId, room_link: String },
    /// Join the call's room.
    JoinRoom { room_link: String },
    /// Callee: stop ringing.
    StopRinging(StopReason),
    /// Caller: the outcome.
    Report(CallerOutcome),
    /// Call `tick` at this time (ms).
    WakeAt(u64),
}

/// Why an incoming message was not acted on (counted, never an error to the user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    OtherCall,
    AfterEnd,
    Unexpected,
    Expired,
    FromTheFuture,
    Replayed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CallerState {
    Ringing { deadline_ms: u64 },
    Ended(CallerOutcome),
}

/// The caller's side of one call.
#[derive(Debug, Clone)]
pub struct OutgoingRing {
    call: CallId,
    device: DeviceId,
    room_link: String,
    state: CallerState,
    pub ignored: u32,
}

impl OutgoingRing {
    /// Starts ringing; the invite expires at `now + RING_TIMEOUT_MS`.
    pub fn start(
        call: CallId,
        device: DeviceId,
        room_link: String,
        now_ms: u64,
    ) -> Result<(Self, Vec<RingAction>), ContactsError> {
        check_room_link(&room_link)?;
        let deadline_ms = now_ms.saturating_add(RING_TIMEOUT_MS);
        let ring = Self {
            call,
            device,
            room_link: room_link.clone(),
            state: CallerState::Ringing { deadline_ms },
            ignored: 0,
        };
        let invite = ring.msg(
            now_ms,
            RingBody::Invite {
                expires_at_ms: deadline_ms,
                room_link,
            },
        );
        Ok((
            ring,
            vec![RingAction::Send(invite), RingAction::WakeAt(deadline_ms)],
        ))
    }

    pub fn outcome(&self) -> Option<CallerOutcome> {
        match self.state {
            CallerState::Ended(o) => Some(o),
            CallerState::Ringing { .. } => None,
        }
    }

    fn msg(&self, now_ms: u64, body: RingBody) -> RingMessage {
        RingMessage {
            call: self.call,
            device: self.device,
            sent_at_ms: now_ms,
            body,
        }
    }

    fn settle(&mut self, now_ms: u64, outcome: CallerOutcome, s: Settlement) -> Vec<RingAction> {
        self.state = CallerState::Ended(outcome);
        let mut out = vec![RingAction::Report(outcome)];
        if let CallerOutcome::Answered(_) = outcome {
            out.push(RingAction::JoinRoom {
                room_link: self.room_link.clone(),
            });
        }
        out.push(RingAction::Send(self.msg(now_ms, RingBody::Settled(s))));
        out
    }

    /// A message from the callee (any of their tabs).
    pub fn on_message(&mut self, msg: &RingMessage, now_ms: u64) -> Vec<RingAction> {
        if msg.call != self.call {
            self.ignored += 1;
            return Vec::new();
        }
        match (&self.state, &msg.body) {
            (CallerState::Ringing { .. }, RingBody::Accept) => self.settle(
                now_ms,
                CallerOutcome::Answered(msg.device),
                Settlement::AnsweredBy(msg.device),
            ),
            (CallerState::Ringing { .. }, RingBody::Decline) => {
                self.settle(now_ms, CallerOutcome::Declined, Settlement::Declined)
            }
            (CallerState::Ringing { .. }, RingBody::Busy) => {
                self.settle(now_ms, CallerOutcome::Busy, Settlement::Busy)
            }
            // A late accept from another tab: tell it again who answered (or that it ended).
            (CallerState::Ended(o), RingBody::Accept) => {
                let s = match *o {
                    CallerOutcome::Answered(d) => Settlement::AnsweredBy(d),
                    CallerOutcome::Declined => Settlement::Declined,
                    CallerOutcome::Busy => Settlement::Busy,
                    CallerOutcome::NoAnswer => {
                        return vec![RingAction::Send(
                            self.msg(now_ms, RingBody::Cancel(CancelReason::Timeout)),
                        )]
                    }
                    CallerOutcome::Cancelled => {
                        return vec![RingAction::Send(
                            self.msg(now_ms, RingBody::Cancel(CancelReason::Caller)),
                        )]
                    }
                };
                vec![RingAction::Send(self.msg(now_ms, RingBody::Settled(s)))]
            }
            (CallerState::Ended(_), _) => {
                self.ignored += 1;
                Vec::new()
            }
            (CallerState::Ringing { .. }, _) => {
                self.ignored += 1;
                Vec::new()
            }
        }
    }

    /// The user hung up before an answer.
    pub fn cancel(&mut self, now_ms: u64) -> Vec<RingAction> {
        if !matches!(self.state, CallerState::Ringing { .. }) {
            return Vec::new();
        }
        self.state = CallerState::Ended(CallerOutcome::Cancelled);
        vec![
            RingAction::Send(self.msg(now_ms, RingBody::Cancel(CancelReason::Caller))),
            RingAction::Report(CallerOutcome::Cancelled),
        ]
    }

    /// The invite reached nobody (no tab of the contact is listening): the ring ends as
    /// no answer at once; nothing is sent (nobody would hear it).
    pub fn unreachable(&mut self, _now_ms: u64) -> Vec<RingAction> {
        if !matches!(self.state, CallerState::Ringing { .. }) {
            return Vec::new();
        }
        self.state = CallerState::Ended(CallerOutcome::NoAnswer);
        vec![RingAction::Report(CallerOutcome::NoAnswer)]
    }

    pub fn tick(&mut self, now_ms: u64) -> Vec<RingAction> {
        match self.state {
            CallerState::Ringing { deadline_ms } if now_ms >= deadline_ms => {
                self.state = CallerState::Ended(CallerOutcome::NoAnswer);
                vec![
                    RingAction::Send(self.msg(now_ms, RingBody::Cancel(CancelReason::Timeout))),
                    RingAction::Report(CallerOutcome::NoAnswer),
                ]
            }
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CalleeState {
    Ringing {
        expires_at_ms: u64,
    },
    Accepted {
        confirm_by_ms: u64,
    },
    Joined,
    Stopped(StopReason),
    /// Answered busy without ringing.
    Busy,
}

/// One callee tab's side of one call.
#[derive(Debug, Clone)]
pub struct IncomingRing {
    call: CallId,
    me: DeviceId,
    room_link: String,
    state: CalleeState,
    pub ignored: u32,
}

impl IncomingRing {
    /// An invite arrived (opened from a contact). `busy`: this tab is in a call already.
    pub fn on_invite(
        msg: &RingMessage,
        me: DeviceId,
        busy: bool,
        now_ms: u64,
    ) -> Result<(Self, Vec<RingAction>), Ignored> {
        let RingBody::Invite {
            expires_at_ms,
            room_link,
        } = &msg.body
        else {
            return Err(Ignored::Unexpected);
        };
        if msg.sent_at_ms > now_ms.saturating_add(CLOCK_SKEW_MS) {
            return Err(Ignored::FromTheFuture);
        }
        // An invite never asks to ring for longer than the caller's timeout (plus skew).
        let latest = msg.sent_at_ms.saturating_add(RING_TIMEOUT_MS);
        let expires_at_ms = (*expires_at_ms).min(latest);
        if now_ms >= expires_at_ms.saturating_add(CLOCK_SKEW_MS) {
            return Err(Ignored::Expired);
        }
        // Ring on our own clock for at most the timeout.
        let local_expiry = now_ms.saturating_add(RING_TIMEOUT_MS);
        let reply = |body| RingMessage {
            call: msg.call,
            device: me,
            sent_at_ms: now_ms,
            body,
        };
        if busy {
            let ring = Self {
                call: msg.call,
                me,
                room_link: room_link.clone(),
                state: CalleeState::Busy,
                ignored: 0,
            };
            return Ok((ring, vec![RingAction::Send(reply(RingBody::Busy))]));
        }
        let ring = Self {
            call: msg.call,
            me,
            room_link: room_link.clone(),
            state: CalleeState::Ringing {
                expires_at_ms: local_expiry,
            },
            ignored: 0,
        };
        Ok((
            ring,
            vec![
                RingAction::ShowIncoming {
                    call: msg.call,
                    room_link: room_link.clone(),
                },
                RingAction::WakeAt(local_expiry),
            ],
        ))
    }

    pub fn call(&self) -> CallId {
        self.call
    }

    /// True while this tab shows the incoming call.
    pub fn is_ringing(&self) -> bool {
        matches!(self.state, CalleeState::Ringing { .. })
    }

    pub fn stopped(&self) -> Option<StopReason> {
        match self.state {
            CalleeState::Stopped(r) => Some(r),
            _ => None,
        }
    }

    pub fn joined(&self) -> bool {
        self.state == CalleeState::Joined
    }

    fn reply(&self, now_ms: u64, body: RingBody) -> RingAction {
        RingAction::Send(RingMessage {
            call: self.call,
            device: self.me,
            sent_at_ms: now_ms,
            body,
        })
    }

    /// The user pressed accept: ask the caller; join once it confirms this tab.
    pub fn accept(&mut self, now_ms: u64) -> Vec<RingAction> {
        if !self.is_ringing() {
            return Vec::new();
        }
        let confirm_by_ms = now_ms.saturating_add(CONFIRM_TIMEOUT_MS);
        self.state = CalleeState::Accepted { confirm_by_ms };
        vec![
            self.reply(now_ms, RingBody::Accept),
            RingAction::WakeAt(confirm_by_ms),
        ]
    }

    pub fn decline(&mut self, now_ms: u64) -> Vec<RingAction> {
        if !self.is_ringing() {
            return Vec::new();
        }
        self.state = CalleeState::Stopped(StopReason::Declined);
        vec![
            self.reply(now_ms, RingBody::Decline),
            RingAction::StopRinging(StopReason::Declined),
        ]
    }

    fn stop(&mut self, reason: StopReason) -> Vec<RingAction> {
        self.state = CalleeState::Stopped(reason);
        vec![RingAction::StopRinging(reason)]
    }

    /// A message from the caller.
    pub fn on_message(&mut self, msg: &RingMessage, _now_ms: u64) -> Vec<RingAction> {
        if msg.call != self.call {
            self.ignored += 1;
            return Vec::new();
        }
        let live = matches!(
            self.state,
            CalleeState::Ringing { .. } | CalleeState::Accepted { .. }
        );
        match (&msg.body, live) {
            (RingBody::Settled(Settlement::AnsweredBy(d)), true) if *d == self.me => {
                if matches!(self.state, CalleeState::Accepted { .. }) {
                    self.state = CalleeState::Joined;
                    vec![RingAction::JoinRoom {
                        room_link: self.room_link.clone(),
                    }]
                } else {
                    // The caller says we answered, but this tab never did: a forgery or a bug.
                    self.ignored += 1;
                    Vec::new()
                }
            }
            (RingBody::Settled(Settlement::AnsweredBy(_)), true) => {
                self.stop(StopReason::AnsweredElsewhere)
            }
            (RingBody::Settled(_), true) => self.stop(StopReason::EndedElsewhere),
            (RingBody::Cancel(r), true) => self.stop(StopReason::Missed(*r)),
            _ => {
                self.ignored += 1;
                Vec::new()
            }
        }
    }

    pub fn tick(&mut self, now_ms: u64) -> Vec<RingAction> {
        match self.state {
            CalleeState::Ringing { expires_at_ms } if now_ms >= expires_at_ms => {
                self.stop(StopReason::Expired)
            }
            CalleeState::Accepted { confirm_by_ms } if now_ms >= confirm_by_ms => {
                self.stop(StopReason::NotConfirmed)
            }
            _ => Vec::new(),
        }
    }
}

/// The call ids one tab has seen, so a replayed invite does not ring again.
#[derive(Debug, Default)]
pub struct IncomingCalls {
    seen: std::collections::VecDeque<CallId>,
}

impl IncomingCalls {
    /// Starts ringing for a new invite; refuses one whose call id was seen.
    pub fn on_invite(
        &mut self,
        msg: &RingMessage,
        me: DeviceId,
        busy: bool,
        now_ms: u64,
    ) -> Result<(IncomingRing, Vec<RingAction>), Ignored> {
        if self.seen.contains(&msg.call) {
            return Err(Ignored::Replayed);
        }
        let result = IncomingRing::on_invite(msg, me, busy, now_ms)?;
        if self.seen.len() >= REMEMBERED_CALLS {
            self.seen.pop_front();
        }
        self.seen.push_back(msg.call);
        Ok(result)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CALL: CallId = CallId([9; 16]);
    const CALLER: DeviceId = DeviceId([1; 8]);
    const TAB1: DeviceId = DeviceId([2; 8]);
    const TAB2: DeviceId = DeviceId([3; 8]);
    const LINK: &str = "https://sotto.example/#roomsecret";

    fn sent(actions: &[RingAction]) -> Vec<RingMessage> {
        actions
            .iter()
            .filter_map(|a| match a {
                RingAction::Send(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// A caller and two tabs of the callee, with every sent message delivered to the other
    /// side (through encode/decode, as the wire would).
    struct World {
        caller: OutgoingRing,
        tabs: Vec<IncomingRing>,
        caller_log: Vec<RingAction>,
        tab_logs: Vec<Vec<RingAction>>,
    }

    fn wire(m: &RingMessage) -> RingMessage {
        RingMessage::decode(&m.encode().unwrap()).unwrap()
    }

    impl World {
        fn start(now: u64, busy: [bool; 2]) -> Self {
            let (caller, actions) = OutgoingRing::start(CALL, CALLER, LINK.into(), now).unwrap();
            let invite = wire(&sent(&actions)[0]);
            let mut w = World {
                caller,
                tabs: Vec::new(),
                caller_log: actions,
                tab_logs: Vec::new(),
            };
            let mut replies = Vec::new();
            for (dev, b) in [(TAB1, busy[0]), (TAB2, busy[1])] {
                let (tab, acts) = IncomingRing::on_invite(&invite, dev, b, now + 20).unwrap();
                replies.extend(sent(&acts));
                w.tabs.push(tab);
                w.tab_logs.push(acts);
            }
            w.deliver_to_caller(replies, now + 40);
            w
        }

        fn deliver_to_caller(&mut self, msgs: Vec<RingMessage>, now: u64) {
            for m in msgs {
                let acts = self.caller.on_message(&wire(&m), now);
                let out = sent(&acts);
                self.caller_log.extend(acts);
                self.deliver_to_tabs(out, now + 10);
            }
        }

        fn deliver_to_tabs(&mut self, msgs: Vec<RingMessage>, now: u64) {
            for m in msgs {
                let mut replies = Vec::new();
                for (tab, log) in self.tabs.iter_mut().zip(self.tab_logs.iter_mut()) {
                    let acts = tab.on_message(&wire(&m), now);
                    replies.extend(sent(&acts));
                    log.extend(acts);
                }
                self.deliver_to_caller(replies, now + 10);
            }
        }

        fn tab_do(
            &mut self,
            i: usize,
            f: impl FnOnce(&mut IncomingRing) -> Vec<RingAction>,
            now: u64,
        ) {
            let acts = f(&mut self.tabs[i]);
            let out = sent(&acts);
            self.tab_logs[i].extend(acts);
            self.deliver_to_caller(out, now);
        }

        fn joins(log: &[RingAction]) -> usize {
            log.iter()
                .filter(|a| matches!(a, RingAction::JoinRoom { .. }))
                .count()
        }
    }

    #[test]
    fn both_tabs_ring_one_answers_the_other_stops() {
        let mut w = World::start(1_000, [false, false]);
        assert!(w.tabs.iter().all(IncomingRing::is_ringing));
        assert!(w.tab_logs.iter().all(|l| l.iter().any(
            |a| matches!(a, RingAction::ShowIncoming { room_link, .. } if room_link == LINK)
        )));
        w.tab_do(1, |t| t.accept(3_000), 3_000);
        assert_eq!(w.caller.outcome(), Some(CallerOutcome::Answered(TAB2)));
        assert!(w.tabs[1].joined());
        assert_eq!(w.tabs[0].stopped(), Some(StopReason::AnsweredElsewhere));
        assert_eq!(World::joins(&w.caller_log), 1);
        assert_eq!(World::joins(&w.tab_logs[1]), 1);
        assert_eq!(World::joins(&w.tab_logs[0]), 0);
        // Nothing more happens on later ticks.
        assert!(w.caller.tick(100_000).is_empty());
        assert!(w.tabs[0].tick(100_000).is_empty());
    }

    #[test]
    fn two_tabs_accepting_at_once_join_exactly_once() {
        let mut w = World::start(1_000, [false, false]);
        // Both press accept before either hears back: both Accepts reach the caller.
        let a1 = w.tabs[0].accept(3_000);
        let a2 = w.tabs[1].accept(3_001);
        w.tab_logs[0].extend(a1.clone());
        w.tab_logs[1].extend(a2.clone());
        w.deliver_to_caller([sent(&a1), sent(&a2)].concat(), 3_010);
        assert_eq!(w.caller.outcome(), Some(CallerOutcome::Answered(TAB1)));
        assert!(w.tabs[0].joined());
        assert_eq!(w.tabs[1].stopped(), Some(StopReason::AnsweredElsewhere));
        assert_eq!(
            World::joins(&w.tab_logs[0]) + World::joins(&w.tab_logs[1]),
            1
        );
        assert_eq!(World::joins(&w.caller_log), 1);
    }

    #[test]
    fn decline_on_one_tab_ends_the_call_everywhere() {
        let mut w = World::start(0, [false, false]);
        w.tab_do(0, |t| t.decline(2_000), 2_000);
        assert_eq!(w.caller.outcome(), Some(CallerOutcome::Declined));
        assert_eq!(w.tabs[0].stopped(), Some(StopReason::Declined));
        assert_eq!(w.tabs[1].stopped(), Some(StopReason::EndedElsewhere));
        assert!(w
            .caller_log
            .contains(&RingAction::Report(CallerOutcome::Declined)));
    }

    #[test]
    fn a_busy_tab_reports_busy_and_the_others_stop() {
        let w = World::start(0, [true, false]);
        assert_eq!(w.caller.outcome(), Some(CallerOutcome::Busy));
        assert_eq!(w.tabs[1].stopped(), Some(StopReason::EndedElsewhere));
        assert!(!w.tab_logs[0]
            .iter()
            .any(|a| matches!(a, RingAction::ShowIncoming { .. })));
    }

    #[test]
    fn caller_cancel_is_a_missed_call() {
        let mut w = World::start(0, [false, false]);
        let acts = w.caller.cancel(5_000);
        assert!(acts.contains(&RingAction::Report(CallerOutcome::Cancelled)));
        w.deliver_to_tabs(sent(&acts), 5_010);
        for t in &w.tabs {
            assert_eq!(t.stopped(), Some(StopReason::Missed(CancelReason::Caller)));
        }
        assert!(w.caller.cancel(6_000).is_empty());
    }

    #[test]
    fn no_answer_times_out_on_both_sides() {
        let mut w = World::start(0, [false, false]);
        assert!(w.caller_log.contains(&RingAction::WakeAt(RING_TIMEOUT_MS)));
        assert!(w.caller.tick(RING_TIMEOUT_MS - 1).is_empty());
        let acts = w.caller.tick(RING_TIMEOUT_MS);
        assert!(acts.contains(&RingAction::Report(CallerOutcome::NoAnswer)));
        w.deliver_to_tabs(sent(&acts), RING_TIMEOUT_MS + 10);
        for t in &w.tabs {
            assert_eq!(t.stopped(), Some(StopReason::Missed(CancelReason::Timeout)));
        }
    }

    #[test]
    fn callee_expires_on_its_own_when_the_cancel_is_lost() {
        let w = World::start(0, [false, false]);
        let mut tab = w.tabs[0].clone();
        assert!(tab.tick(20 + RING_TIMEOUT_MS - 1).is_empty());
        assert_eq!(
            tab.tick(20 + RING_TIMEOUT_MS),
            vec![RingAction::StopRinging(StopReason::Expired)]
        );
    }

    #[test]
    fn an_accept_the_caller_never_confirms_gives_up() {
        let mut w = World::start(0, [false, false]);
        let mut tab = w.tabs[0].clone();
        let acts = tab.accept(1_000);
        assert!(acts.contains(&RingAction::WakeAt(1_000 + CONFIRM_TIMEOUT_MS)));
        assert_eq!(
            tab.tick(1_000 + CONFIRM_TIMEOUT_MS),
            vec![RingAction::StopRinging(StopReason::NotConfirmed)]
        );
        assert!(!tab.joined());
        // Meanwhile the real tab is unaffected.
        assert!(w.tabs[0].is_ringing());
        let _ = &mut w;
    }

    #[test]
    fn a_late_accept_after_the_timeout_is_told_the_call_is_over() {
        let mut caller = OutgoingRing::start(CALL, CALLER, LINK.into(), 0).unwrap().0;
        caller.tick(RING_TIMEOUT_MS);
        let accept = RingMessage {
            call: CALL,
            device: TAB1,
            sent_at_ms: RING_TIMEOUT_MS + 5,
            body: RingBody::Accept,
        };
        let acts = caller.on_message(&accept, RING_TIMEOUT_MS + 5);
        assert_eq!(sent(&acts)[0].body, RingBody::Cancel(CancelReason::Timeout));
        assert_eq!(caller.outcome(), Some(CallerOutcome::NoAnswer));
    }

    #[test]
    fn settled_naming_a_tab_that_never_accepted_does_not_join_it() {
        let w = World::start(0, [false, false]);
        let mut tab = w.tabs[0].clone();
        let forged = RingMessage {
            call: CALL,
            device: CALLER,
            sent_at_ms: 10,
            body: RingBody::Settled(Settlement::AnsweredBy(TAB1)),
        };
        assert!(tab.on_message(&forged, 10).is_empty());
        assert!(tab.is_ringing());
        assert_eq!(tab.ignored, 1);
    }

    #[test]
    fn stale_future_replayed_and_foreign_messages_are_ignored() {
        let (_, acts) = OutgoingRing::start(CALL, CALLER, LINK.into(), 1_000_000).unwrap();
        let invite = sent(&acts)[0].clone();
        assert_eq!(
            IncomingRing::on_invite(
                &invite,
                TAB1,
                false,
                1_000_000 + RING_TIMEOUT_MS + CLOCK_SKEW_MS
            )
            .err(),
            Some(Ignored::Expired)
        );
        assert_eq!(
            IncomingRing::on_invite(&invite, TAB1, false, 1_000_000 - CLOCK_SKEW_MS - 1).err(),
            Some(Ignored::FromTheFuture)
        );
        // An invite claiming a far expiry rings only for the timeout.
        let mut long = invite.clone();
        long.body = RingBody::Invite {
            expires_at_ms: u64::MAX,
            room_link: LINK.into(),
        };
        assert_eq!(
            IncomingRing::on_invite(
                &long,
                TAB1,
                false,
                1_000_000 + RING_TIMEOUT_MS + CLOCK_SKEW_MS
            )
            .err(),
            Some(Ignored::Expired)
        );
        let mut calls = IncomingCalls::default();
        assert!(calls.on_invite(&invite, TAB1, false, 1_000_000).is_ok());
        assert_eq!(
            calls.on_invite(&invite, TAB1, false, 1_000_001).err(),
            Some(Ignored::Replayed)
        );
        let (mut tab, _) = IncomingRing::on_invite(&invite, TAB1, false, 1_000_000).unwrap();
        let other = RingMessage {
            call: CallId([0; 16]),
            ..sent(
                &OutgoingRing::start(CALL, CALLER, LINK.into(), 0)
                    .unwrap()
                    .0
                    .cancel(1),
            )[0]
            .clone()
        };
        assert!(tab.on_message(&other, 1_000_001).is_empty());
        assert!(tab.is_ringing());
        let accept_as_invite = RingMessage {
            body: RingBody::Accept,
            ..invite
        };
        assert_eq!(
            IncomingRing::on_invite(&accept_as_invite, TAB1, false, 1_000_000).err(),
            Some(Ignored::Unexpected)
        );
    }

    #[test]
    fn bad_room_links_are_refused() {
        for link in ["", "has space", &"x".repeat(MAX_ROOM_LINK_LEN + 1)] {
            assert_eq!(
                OutgoingRing::start(CALL, CALLER, link.into(), 0)
                    .err()
                    .map(|e| e.code()),
                Some("bad-room-link")
            );
        }
    }

    fn any_body() -> impl Strategy<Value = RingBody> {
        prop_oneof![
            (any::<u64>(), "[!-~]{1,100}").prop_map(|(e, l)| RingBody::Invite {
                expires_at_ms: e,
                room_link: l
            }),
            Just(RingBody::Accept),
            Just(RingBody::Decline),
            Just(RingBody::Busy),
            Just(RingBody::Cancel(CancelReason::Caller)),
            Just(RingBody::Cancel(CancelReason::Timeout)),
            any::<[u8; 8]>().prop_map(|d| RingBody::Settled(Settlement::AnsweredBy(DeviceId(d)))),
            Just(RingBody::Settled(Settlement::Declined)),
            Just(RingBody::Settled(Settlement::Busy)),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(call in any::<[u8; 16]>(), dev in any::<[u8; 8]>(), at in any::<u64>(), body in any_body()) {
            let m = RingMessage { call: CallId(call), device: DeviceId(dev), sent_at_ms: at, body };
            prop_assert_eq!(RingMessage::decode(&m.encode().unwrap()).unwrap(), m);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
            if let Ok(m) = RingMessage::decode(&bytes) {
                // Whatever parses is canonical: it encodes back to the same bytes.
                prop_assert_eq!(m.encode().unwrap(), bytes);
            }
        }

        #[test]
        fn caller_never_reports_twice(events in proptest::collection::vec((0u8..6, 0u64..40_000), 0..30)) {
            let (mut caller, _) = OutgoingRing::start(CALL, CALLER, LINK.into(), 0).unwrap();
            let mut reports = 0;
            let mut joins = 0;
            for (kind, t) in events {
                let acts = match kind {
                    0 => caller.cancel(t),
                    1 => caller.tick(t),
                    k => caller.on_message(&RingMessage {
                        call: CALL,
                        device: if t % 2 == 0 { TAB1 } else { TAB2 },
                        sent_at_ms: t,
                        body: match k { 2 => RingBody::Accept, 3 => RingBody::Decline, 4 => RingBody::Busy, _ => RingBody::Cancel(CancelReason::Caller) },
                    }, t),
                };
                reports += acts.iter().filter(|a| matches!(a, RingAction::Report(_))).count();
                joins += acts.iter().filter(|a| matches!(a, RingAction::JoinRoom { .. })).count();
            }
            prop_assert!(reports <= 1);
            prop_assert!(joins <= 1);
        }
    }
}

//! Sotto's signaling logic: pure state machines that take socket events and return actions.
//!
//! ```text
//!   Durable Object (signaling-worker, thin adapter)
//!      |  Event::{Open, Message, Closed, Tick}          ^  Action::{Send, Close, Persist}
//!      v                                                |
//!   RoomRoster / PresenceHub / Mailbox  --uses-->  RateLimiter, Limits, sotto-protocol
//! ```
//!
//! Nothing here reads a clock or does I/O: time comes in as milliseconds, so every test is
//! deterministic. State is rebuildable from the per-socket records the adapter keeps as
//! WebSocket attachments (`Action::Persist`), because Durable Objects hibernate.
//!
//! The room relays a `signal` in the form clients send it on a fast path (`relay.rs`): one
//! scan, no typed parse, no re-serialization (`Action::Relay` carries the text to send), held
//! by differential tests to accept and refuse exactly what the full parser does.

mod action;
mod close;
mod conns;
mod limits;
pub mod mailbox;
mod notify;
pub mod presence;
mod rate;
mod relay;
pub mod room;

pub use action::{Action, ConnId, Frame};
pub use close::CloseCode;
pub use limits::Limits;
pub use mailbox::{Mailbox, MailboxAction, MailboxError, MailboxLimits, StoredMessage};
pub use presence::{PresenceHub, PresenceRecord};
pub use rate::RateLimiter;
pub use room::{RoomRecord, RoomRoster};

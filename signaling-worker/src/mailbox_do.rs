//! The Mailbox Durable Object: one per mailbox id, a thin adapter over
//! `sotto_signaling::Mailbox`. Storage holds one entry per message (key
//! `m<seq>.<stored_at>`, value the sealed body as base64url) and one alarm (the oldest
//! message's expiry). The in-memory machine is a cache rebuilt from storage when the object
//! starts; if a storage operation fails the cache is dropped, so the next request rebuilds it
//! from what storage really holds.
//!
//! ```text
//! POST /api/mailbox/<id>        body: sealed message (base64url)  -> 201 {"stored":true}
//! POST /api/mailbox/<id>/take                                      -> 200 {"messages":[...]}
//! ```
use std::cell::RefCell;

use sotto_signaling::mailbox::{
    Mailbox as MailboxMachine, MailboxAction, MailboxError, MailboxLimits, StoredMessage,
};
use worker::{Env, Request, Response, Result, State};

use crate::adapter::var_u64;
use crate::sockets::now_ms;

/// Retention from `MAILBOX_RETENTION_MS` (clamped to 1 s..=7 days), 7 days otherwise.
fn limits(env: &Env) -> MailboxLimits {
    match var_u64(env, "MAILBOX_RETENTION_MS") {
        Some(ms) => MailboxLimits::with_retention_ms(ms),
        None => MailboxLimits::default(),
    }
}

/// A JSON error in the shape of the other HTTP errors.
pub fn error(e: MailboxError) -> Result<Response> {
    json(
        e.status(),
        &format!(r#"{{"type":"error","code":"{}"}}"#, e.code()),
    )
}

pub fn json(status: u16, body: &str) -> Result<Response> {
    let mut response = Response::ok(body)?.with_status(status);
    let headers = response.headers_mut();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    Ok(response)
}

#[worker::durable_object(alarm)]
/// One mailbox: its sealed messages and their expiry alarm.
pub struct Mailbox {
    state: State,
    env: Env,
    machine: RefCell<Option<MailboxMachine>>,
}

impl Mailbox {
    /// The machine, rebuilt from storage if this object just started.
    async fn load(&self, now: u64) -> Result<()> {
        if self.machine.borrow().is_some() {
            return Ok(());
        }
        let map = self.state.storage().list().await?;
        let mut stored = Vec::new();
        map.for_each(&mut |value, key| {
            if let (Some(key), Some(body)) = (key.as_string(), value.as_string()) {
                if let Some(m) = StoredMessage::from_entry(&key, body) {
                    stored.push(m);
                }
            }
        });
        let (machine, actions) = MailboxMachine::from_stored(limits(&self.env), stored, now);
        *self.machine.borrow_mut() = Some(machine);
        self.apply(actions, now).await
    }

    /// Carries out storage actions in order; on failure forgets the cache.
    async fn apply(&self, actions: Vec<MailboxAction>, now: u64) -> Result<()> {
        let storage = self.state.storage();
        for action in actions {
            let done = match action {
                MailboxAction::Store { key, body } => storage.put(&key, body).await,
                MailboxAction::Delete { keys } => storage.delete_multiple(keys).await.map(|_| ()),
                MailboxAction::SetAlarm { at_ms } => {
                    let offset = i64::try_from(at_ms.saturating_sub(now)).unwrap_or(i64::MAX);
                    storage.set_alarm(offset).await
                }
                MailboxAction::ClearAlarm => storage.delete_alarm().await,
            };
            if let Err(e) = done {
                *self.machine.borrow_mut() = None;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn put(&self, mut req: Request, now: u64) -> Result<Response> {
        let body = req.text().await?;
        let outcome = self
            .machine
            .borrow_mut()
            .as_mut()
            .map(|m| m.put(body.trim(), now));
        let Some((actions, result)) = outcome else {
            return Err(worker::Error::RustError("state".into()));
        };
        self.apply(actions, now).await?;
        match result {
            Ok(()) => json(201, r#"{"stored":true}"#),
            Err(e) => error(e),
        }
    }

    async fn take(&self, now: u64) -> Result<Response> {
        let outcome = self.machine.borrow_mut().as_mut().map(|m| m.take(now));
        let Some(outcome) = outcome else {
            return Err(worker::Error::RustError("state".into()));
        };
        let (bodies, actions) = match outcome {
            Ok(v) => v,
            Err(e) => return error(e),
        };
        // Deleted before they are handed out: a message is never delivered twice.
        self.apply(actions, now).await?;
        // Bodies are base64url (checked on put): nothing to escape.
        let list = bodies
            .iter()
            .map(|b| format!("\"{b}\""))
            .collect::<Vec<_>>()
            .join(",");
        json(200, &format!(r#"{{"messages":[{list}]}}"#))
    }
}

impl worker::DurableObject for Mailbox {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            machine: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let now = now_ms();
        self.load(now).await?;
        let take = req.path().ends_with("/take");
        if take {
            self.take(now).await
        } else {
            self.put(req, now).await
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        self.load(now).await?;
        let actions = self
            .machine
            .borrow_mut()
            .as_mut()
            .map(|m| m.alarm(now))
            .unwrap_or_default();
        self.apply(actions, now).await?;
        Response::ok("")
    }
}

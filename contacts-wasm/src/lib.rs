//! Sotto's contacts module for the browser: a thin bridge over `sotto-contacts`. It converts
//! types and errors and holds one [`ContactsSession`] (the profile and this tab's rings) in
//! wasm memory; every decision is made in `sotto-contacts`. Its JavaScript side is
//! `client-wasm/js/sotto-contacts.js` (storage, the presence socket, mailboxes).
//!
//! Bytes that travel (sealed messages, mailbox bodies, ids) cross as base64url strings; the
//! profile record and backup files as `Uint8Array`. Errors are `Error`s with a stable `code`
//! (`ContactsError::code`).
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use sotto_contacts::ring::{CallId, CallerOutcome, CancelReason, DeviceId, StopReason};
use sotto_contacts::storage::Profile;
use sotto_contacts::OfflineMessage;
use sotto_contacts::{
    start_pairing, Contact, ContactLink, ContactsError, DisplayName, Identity, KdfParams,
    MailboxId, OutgoingPairing, PendingInvite, Phone, PhoneAction, PresencePlan, PublicKey, Status,
};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

type Rng = rand_core::UnwrapErr<getrandom::SysRng>;
fn rng() -> Rng {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A `ContactsError` as a JavaScript `Error` with its stable `code`.
fn js_error(e: ContactsError) -> JsValue {
    let error = js_sys::Error::new(&e.to_string());
    let _ = js_sys::Reflect::set(&error, &"code".into(), &e.code().into());
    error.into()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url from JavaScript (bounded: nothing here is longer than `max` bytes).
fn unb64(text: &str, max: usize) -> Result<Zeroizing<Vec<u8>>, JsValue> {
    if text.len() > max.div_ceil(3) * 4 {
        return Err(js_error(ContactsError::BadEncoding));
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map(Zeroizing::new)
        .map_err(|_| js_error(ContactsError::BadEncoding))
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|_| js_error(ContactsError::Internal))
}

/// Time from JavaScript (`Date.now()`): a non-negative integer of ms.
fn ms(now: f64) -> u64 {
    if now.is_finite() && now > 0.0 {
        // f64 ms since 1970 are exact integers well below 2^53.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = now as u64;
        v
    } else {
        0
    }
}

fn key(text: &str) -> Result<PublicKey, JsValue> {
    PublicKey::from_base64url(text).map_err(js_error)
}

fn call_id(text: &str) -> Result<CallId, JsValue> {
    let bytes = unb64(text, 16)?;
    let arr: [u8; 16] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| js_error(ContactsError::BadEncoding))?;
    Ok(CallId(arr))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContactView {
    key: String,
    name: String,
    verified: bool,
    safety_number: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Posting {
    mailbox: String,
    body: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    contact: String,
    reply: Posting,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanView {
    announce: Vec<String>,
    /// [channel, contact key, "online" | "busy"]
    subscribe: Vec<(String, String, &'static str)>,
    next_change_ms: f64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum ActionView {
    Send {
        to: String,
        payload: String,
    },
    Incoming {
        from: String,
        call: String,
    },
    Stopped {
        call: String,
        reason: &'static str,
    },
    Outcome {
        call: String,
        outcome: &'static str,
    },
    Join {
        call: String,
        #[serde(rename = "roomLink")]
        room_link: String,
    },
    WakeAt {
        at: f64,
    },
    Post {
        mailbox: String,
        body: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OfflineView {
    kind: &'static str,
    sent_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    call: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

fn stop_reason(r: StopReason) -> &'static str {
    match r {
        StopReason::Declined => "declined",
        StopReason::AnsweredElsewhere => "answered-elsewhere",
        StopReason::EndedElsewhere => "ended-elsewhere",
        StopReason::Missed(CancelReason::Caller) => "missed",
        StopReason::Missed(CancelReason::Timeout) => "missed-timeout",
        StopReason::Expired => "expired",
        StopReason::NotConfirmed => "not-confirmed",
    }
}

fn outcome(o: CallerOutcome) -> &'static str {
    match o {
        CallerOutcome::Answered(_) => "answered",
        CallerOutcome::Declined => "declined",
        CallerOutcome::Busy => "busy",
        CallerOutcome::NoAnswer => "no-answer",
        CallerOutcome::Cancelled => "cancelled",
    }
}

#[allow(clippy::cast_precision_loss)]
fn actions(list: Vec<PhoneAction>) -> Result<JsValue, JsValue> {
    let views: Vec<ActionView> = list
        .into_iter()
        .map(|a| match a {
            PhoneAction::Send { to, sealed } => ActionView::Send {
                to: to.to_base64url(),
                payload: b64(&sealed),
            },
            PhoneAction::Incoming { from, call } => ActionView::Incoming {
                from: from.to_base64url(),
                call: b64(&call.0),
            },
            PhoneAction::Stopped { call, reason } => ActionView::Stopped {
                call: b64(&call.0),
                reason: stop_reason(reason),
            },
            PhoneAction::Outcome { call, outcome: o } => ActionView::Outcome {
                call: b64(&call.0),
                outcome: outcome(o),
            },
            PhoneAction::Join { call, room_link } => ActionView::Join {
                call: b64(&call.0),
                room_link,
            },
            PhoneAction::WakeAt(t) => ActionView::WakeAt { at: t as f64 },
            PhoneAction::Post { mailbox, sealed } => ActionView::Post {
                mailbox: mailbox.to_base64url(),
                body: b64(&sealed),
            },
        })
        .collect();
    to_js(&views)
}

/// One tab's contacts: the profile (identity, contacts, invites), the pairings it started and
/// its rings.
#[wasm_bindgen]
pub struct ContactsSession {
    profile: Profile,
    pairings: Vec<OutgoingPairing>,
    phone: Phone,
}

#[wasm_bindgen]
impl ContactsSession {
    fn with(profile: Profile) -> Self {
        let mut device = [0u8; 8];
        rand_core::Rng::fill_bytes(&mut rng(), &mut device);
        Self {
            profile,
            pairings: Vec::new(),
            phone: Phone::new(DeviceId(device)),
        }
    }

    /// A fresh identity with this display name.
    pub fn create(name: &str) -> Result<ContactsSession, JsValue> {
        let name = DisplayName::new(name).map_err(js_error)?;
        let identity = Identity::generate(&mut rng(), name).map_err(js_error)?;
        Ok(Self::with(Profile::new(identity)))
    }

    /// From the stored profile record (see `sotto_contacts::storage`).
    #[wasm_bindgen(js_name = fromProfile)]
    pub fn from_profile(record: &[u8]) -> Result<ContactsSession, JsValue> {
        Ok(Self::with(Profile::decode(record).map_err(js_error)?))
    }

    /// From a passphrase backup file (the identity; contacts are paired again).
    #[wasm_bindgen(js_name = importBackup)]
    pub fn import_backup(file: &[u8], passphrase: &str) -> Result<ContactsSession, JsValue> {
        let identity = Identity::import_backup(file, passphrase).map_err(js_error)?;
        Ok(Self::with(Profile::new(identity)))
    }

    /// Another tab changed the stored profile: take it, keeping this tab's rings and pairings.
    #[wasm_bindgen(js_name = replaceProfile)]
    pub fn replace_profile(&mut self, record: &[u8]) -> Result<(), JsValue> {
        self.profile = Profile::decode(record).map_err(js_error)?;
        Ok(())
    }

    /// The profile record to store (secret: encrypt it, then wipe this array).
    pub fn profile(&self) -> Vec<u8> {
        self.profile.encode().to_vec()
    }

    /// A passphrase backup of the identity (Argon2id, `KdfParams::RECOMMENDED`).
    #[wasm_bindgen(js_name = exportBackup)]
    pub fn export_backup(&self, passphrase: &str) -> Result<Vec<u8>, JsValue> {
        self.profile
            .identity
            .export_backup(&mut rng(), passphrase, KdfParams::RECOMMENDED)
            .map_err(js_error)
    }

    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> String {
        self.profile.identity.public_key().to_base64url()
    }

    pub fn name(&self) -> String {
        self.profile.identity.name().as_str().to_owned()
    }

    #[wasm_bindgen(js_name = setName)]
    pub fn set_name(&mut self, name: &str) -> Result<(), JsValue> {
        let name = DisplayName::new(name).map_err(js_error)?;
        self.profile.identity.set_name(name);
        Ok(())
    }

    /// A new one-time contact link: `base` with `#c1.<key>.<secret>`.
    #[wasm_bindgen(js_name = createInvite)]
    pub fn create_invite(&mut self, base: &str, now: f64) -> String {
        let (link, invite) = PendingInvite::create(&mut rng(), &self.profile.identity, ms(now));
        self.profile.invites.add(invite);
        link.to_url(base)
    }

    /// Forgets invites older than 7 days.
    #[wasm_bindgen(js_name = expireInvites)]
    pub fn expire_invites(&mut self, now: f64) {
        self.profile.invites.expire(ms(now));
    }

    /// Where pairing requests for this profile's open invites arrive.
    #[wasm_bindgen(js_name = requestMailboxes)]
    pub fn request_mailboxes(&self) -> Vec<String> {
        self.profile
            .invites
            .request_mailboxes()
            .iter()
            .map(MailboxId::to_base64url)
            .collect()
    }

    /// A pairing request taken from `mailbox`: the new contact's key and the acceptance to post.
    #[wasm_bindgen(js_name = onPairingRequest)]
    pub fn on_pairing_request(&mut self, mailbox: &str, body: &str) -> Result<JsValue, JsValue> {
        let mailbox = MailboxId::from_base64url(mailbox).map_err(js_error)?;
        let bytes = unb64(body, sotto_contacts::pairing::MAX_REQUEST_LEN)?;
        let (contact, accept) = self
            .profile
            .invites
            .accept(&mut rng(), &self.profile.identity, mailbox, &bytes)
            .map_err(js_error)?;
        let key = contact.public_key().to_base64url();
        self.profile.contacts.add(contact);
        to_js(&Accepted {
            contact: key,
            reply: Posting {
                mailbox: accept.mailbox.to_base64url(),
                body: b64(&accept.bytes),
            },
        })
    }

    /// Uses someone's contact link: the request to post (the reply will arrive in
    /// `replyMailboxes()`).
    #[wasm_bindgen(js_name = startPairing)]
    pub fn start_pairing(&mut self, link: &str) -> Result<JsValue, JsValue> {
        let link = ContactLink::parse(link).map_err(js_error)?;
        let (pairing, request) =
            start_pairing(&mut rng(), &self.profile.identity, &link).map_err(js_error)?;
        self.pairings.push(pairing);
        to_js(&Posting {
            mailbox: request.mailbox.to_base64url(),
            body: b64(&request.bytes),
        })
    }

    /// Mailboxes where replies to this tab's pairing requests arrive.
    #[wasm_bindgen(js_name = replyMailboxes)]
    pub fn reply_mailboxes(&self) -> Vec<String> {
        self.pairings
            .iter()
            .map(|p| p.reply_mailbox().to_base64url())
            .collect()
    }

    /// The reply to a pairing this tab started: the new contact's key.
    #[wasm_bindgen(js_name = finishPairing)]
    pub fn finish_pairing(&mut self, mailbox: &str, body: &str) -> Result<String, JsValue> {
        let mailbox = MailboxId::from_base64url(mailbox).map_err(js_error)?;
        let index = self
            .pairings
            .iter()
            .position(|p| p.reply_mailbox() == mailbox)
            .ok_or_else(|| js_error(ContactsError::LinkUsed))?;
        let bytes = unb64(body, sotto_contacts::pairing::MAX_ACCEPT_LEN)?;
        let contact = self.pairings[index]
            .finish(&self.profile.identity, &bytes)
            .map_err(js_error)?;
        self.pairings.remove(index);
        let key = contact.public_key().to_base64url();
        self.profile.contacts.add(contact);
        Ok(key)
    }

    /// `[{key, name, verified, safetyNumber}]`.
    pub fn contacts(&self) -> Result<JsValue, JsValue> {
        let list: Vec<ContactView> = self
            .profile
            .contacts
            .iter()
            .map(|(_, c)| ContactView {
                key: c.public_key().to_base64url(),
                name: c.name().as_str().to_owned(),
                verified: c.is_verified(),
                safety_number: c.safety_number().to_digits(),
            })
            .collect();
        to_js(&list)
    }

    /// What to announce and subscribe to on `/ws/presence` now.
    #[wasm_bindgen(js_name = presencePlan)]
    #[allow(clippy::cast_precision_loss)]
    pub fn presence_plan(&self, busy: bool, now: f64) -> Result<JsValue, JsValue> {
        let now = ms(now);
        let status = if busy { Status::Busy } else { Status::Online };
        let plan = PresencePlan::new(
            self.profile
                .contacts
                .iter()
                .map(|(_, c)| (c.public_key(), c)),
            status,
            now,
        )
        .map_err(js_error)?;
        to_js(&PlanView {
            announce: plan.announce.iter().map(|c| c.to_base64url()).collect(),
            subscribe: plan
                .subscribe
                .iter()
                .map(|(c, k, s)| {
                    (
                        c.to_base64url(),
                        k.to_base64url(),
                        match s {
                            Status::Online => "online",
                            Status::Busy => "busy",
                        },
                    )
                })
                .collect(),
            next_change_ms: PresencePlan::<PublicKey>::next_change_ms(now) as f64,
        })
    }

    /// The channel this tab sends ring messages to `contact` on (one it announces).
    #[wasm_bindgen(js_name = ringChannel)]
    pub fn ring_channel(&self, contact: &str, now: f64) -> Result<String, JsValue> {
        let c = self.contact(contact)?;
        c.announce_channel(sotto_contacts::presence::day_of(ms(now)), Status::Online)
            .map(|id| id.to_base64url())
            .map_err(js_error)
    }

    fn contact(&self, text: &str) -> Result<&Contact, JsValue> {
        let k = key(text)?;
        let id = self
            .profile
            .contacts
            .find_key(&k)
            .ok_or_else(|| js_error(ContactsError::UnknownContact))?;
        self.profile.contacts.get(id).map_err(js_error)
    }

    #[wasm_bindgen(js_name = setBusy)]
    pub fn set_busy(&mut self, busy: bool) {
        self.phone.set_busy(busy);
    }

    /// Rings `contact` with `roomLink`; the call id is the first action's `call`.
    pub fn call(&mut self, contact: &str, room_link: &str, now: f64) -> Result<JsValue, JsValue> {
        let c = self.contact(contact)?.clone();
        let mut id = [0u8; 16];
        rand_core::Rng::fill_bytes(&mut rng(), &mut id);
        let list = self
            .phone
            .call(&mut rng(), &c, CallId(id), room_link.to_owned(), ms(now))
            .map_err(js_error)?;
        let call = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&call, &"call".into(), &b64(&id).into());
        let _ = js_sys::Reflect::set(&call, &"actions".into(), &actions(list)?);
        Ok(call.into())
    }

    pub fn cancel(&mut self, call: &str, now: f64) -> Result<JsValue, JsValue> {
        let list = self
            .phone
            .cancel(&mut rng(), call_id(call)?, ms(now))
            .map_err(js_error)?;
        actions(list)
    }

    pub fn accept(&mut self, call: &str, now: f64) -> Result<JsValue, JsValue> {
        let list = self
            .phone
            .accept(&mut rng(), call_id(call)?, ms(now))
            .map_err(js_error)?;
        actions(list)
    }

    pub fn decline(&mut self, call: &str, now: f64) -> Result<JsValue, JsValue> {
        let list = self
            .phone
            .decline(&mut rng(), call_id(call)?, ms(now))
            .map_err(js_error)?;
        actions(list)
    }

    /// A notify payload that arrived on a channel subscribed for `contact`.
    #[wasm_bindgen(js_name = onRing)]
    pub fn on_ring(&mut self, contact: &str, payload: &str, now: f64) -> Result<JsValue, JsValue> {
        let c = self.contact(contact)?.clone();
        let Ok(bytes) = unb64(payload, sotto_contacts::sealed::MAX_SEALED_RING_LEN) else {
            self.phone.ignored += 1;
            return actions(Vec::new());
        };
        let list = self
            .phone
            .on_sealed(&mut rng(), &c, &bytes, ms(now))
            .map_err(js_error)?;
        actions(list)
    }

    /// The invite of `call` was delivered to nobody: no answer, and a missed-call notice to post.
    pub fn unreachable(&mut self, call: &str, now: f64) -> Result<JsValue, JsValue> {
        let list = self
            .phone
            .unreachable(&mut rng(), &self.profile.identity, call_id(call)?, ms(now))
            .map_err(js_error)?;
        actions(list)
    }

    /// `[[mailbox, contact key]]`: where each contact's offline messages for us may wait.
    pub fn inboxes(&self, now: f64) -> Result<JsValue, JsValue> {
        let mut list = Vec::new();
        for (_, c) in self.profile.contacts.iter() {
            let key = c.public_key().to_base64url();
            for m in c.inboxes(ms(now)).map_err(js_error)? {
                list.push((m.to_base64url(), key.clone()));
            }
        }
        to_js(&list)
    }

    /// Opens an offline message from `contact` (taken from one of its inboxes).
    #[wasm_bindgen(js_name = openOffline)]
    #[allow(clippy::cast_precision_loss)]
    pub fn open_offline(&self, contact: &str, body: &str) -> Result<JsValue, JsValue> {
        let c = self.contact(contact)?;
        let bytes = unb64(body, sotto_contacts::sealed::MAX_SEALED_OFFLINE_LEN)?;
        let view = match c
            .open_offline(&self.profile.identity, &bytes)
            .map_err(js_error)?
        {
            OfflineMessage::MissedCall { sent_at_ms, call } => OfflineView {
                kind: "missed-call",
                sent_at: sent_at_ms as f64,
                call: Some(b64(&call.0)),
                text: None,
            },
            OfflineMessage::Text { sent_at_ms, text } => OfflineView {
                kind: "text",
                sent_at: sent_at_ms as f64,
                call: None,
                text: Some(text),
            },
        };
        to_js(&view)
    }

    pub fn tick(&mut self, now: f64) -> Result<JsValue, JsValue> {
        let list = self.phone.tick(&mut rng(), ms(now)).map_err(js_error)?;
        actions(list)
    }

    /// Ring messages that did not open or were not acted on.
    pub fn ignored(&self) -> u32 {
        self.phone.ignored
    }
}

//! What the server sees: three identities pair through links, announce presence, ring and leave
//! offline messages through the worker's real state machines (sotto-signaling's PresenceHub and
//! Mailbox). Everything sent to or stored by that "server" is recorded; no identity key, display
//! name, link secret, room link, message text or contact relation may appear in it, and one
//! day's ids must share nothing with the next day's.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]
use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use sotto_contacts::pairing::{start_pairing, InviteBook};
use sotto_contacts::presence::DAY_MS;
use sotto_contacts::ring::{CallId, DeviceId, IncomingRing, RingAction, RingBody};
use sotto_contacts::{
    Contact, ContactLink, DisplayName, Identity, KdfParams, MailboxId, OfflineMessage,
    OutgoingRing, PendingInvite, PresencePlan, Status,
};
use sotto_protocol::presence::PresenceServerMessage;
use sotto_signaling::mailbox::{Mailbox, MailboxAction, MailboxLimits};
use sotto_signaling::{Action, ConnId, Frame, Limits, PresenceHub};

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// The untrusted server: its state machines and a transcript of every byte it received or
/// stored.
struct Server {
    mailboxes: BTreeMap<String, Mailbox>,
    hub: PresenceHub,
    transcript: Vec<u8>,
    /// Every id and body the server saw, decoded from base64url: checked byte by byte too.
    decoded: Vec<u8>,
    ids_seen: BTreeSet<String>,
}

impl Server {
    fn new() -> Self {
        Self {
            mailboxes: BTreeMap::new(),
            hub: PresenceHub::new(Limits::default()),
            transcript: Vec::new(),
            decoded: Vec::new(),
            ids_seen: BTreeSet::new(),
        }
    }

    fn put(&mut self, mailbox: MailboxId, sealed: &[u8], now: u64) {
        let id = mailbox.to_base64url();
        let body = URL_SAFE_NO_PAD.encode(sealed);
        self.transcript
            .extend_from_slice(format!("POST /api/mailbox/{id} {body}\n").as_bytes());
        self.ids_seen.insert(id.clone());
        self.decoded.extend_from_slice(mailbox.as_bytes());
        self.decoded.extend_from_slice(sealed);
        let mailbox = self
            .mailboxes
            .entry(id)
            .or_insert_with(|| Mailbox::new(MailboxLimits::default(), now));
        let (actions, result) = mailbox.put(&body, now);
        result.unwrap();
        for a in actions {
            if let MailboxAction::Store { key, body } = a {
                self.transcript
                    .extend_from_slice(format!("STORE {key} {body}\n").as_bytes());
            }
        }
    }

    fn take(&mut self, mailbox: MailboxId, now: u64) -> Vec<Vec<u8>> {
        let id = mailbox.to_base64url();
        self.transcript
            .extend_from_slice(format!("POST /api/mailbox/{id}/take\n").as_bytes());
        self.ids_seen.insert(id.clone());
        let Some(m) = self.mailboxes.get_mut(&id) else {
            return Vec::new();
        };
        let (bodies, _) = m.take(now).unwrap();
        bodies
            .iter()
            .map(|b| URL_SAFE_NO_PAD.decode(b).unwrap())
            .collect()
    }

    fn presence(&mut self, conn: ConnId, text: &str, now: u64) -> Vec<(Vec<ConnId>, String, bool)> {
        self.transcript.extend_from_slice(text.as_bytes());
        self.transcript.push(b'\n');
        // The channel ids in it, decoded.
        for id in text.split('"').filter(|p| p.len() == 22) {
            if let Ok(raw) = URL_SAFE_NO_PAD.decode(id) {
                self.ids_seen.insert(id.to_owned());
                self.decoded.extend_from_slice(&raw);
            }
        }
        self.hub
            .message(conn, Frame::Text(text), now)
            .into_iter()
            .filter_map(|a| match a {
                Action::Send {
                    to,
                    msg:
                        PresenceServerMessage::Presence {
                            channel, online, ..
                        },
                } => Some((to, channel.as_str().to_owned(), online)),
                _ => None,
            })
            .collect()
    }
}

fn list(ty: &str, ids: &[String]) -> String {
    let quoted: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
    format!(
        r#"{{"v":2,"type":"{ty}","channels":[{}]}}"#,
        quoted.join(",")
    )
}

/// Pairs `maker` (who made the link) and `user` through the server's mailboxes.
fn pair_via_server(
    server: &mut Server,
    maker: &Identity,
    user: &Identity,
    now: u64,
) -> (Contact, Contact) {
    let mut book = InviteBook::default();
    let (link, invite) = PendingInvite::create(&mut rng(), maker, now);
    book.add(invite);
    // The link travels out of band (QR code); the server never sees it.
    let link = ContactLink::parse(&link.to_url("https://sotto.example/add")).unwrap();
    let (outgoing, request) = start_pairing(&mut rng(), user, &link).unwrap();
    server.put(request.mailbox, &request.bytes, now);
    let mailbox = book.request_mailboxes()[0];
    let requests = server.take(mailbox, now + 1);
    let (user_at_maker, accept) = book
        .accept(&mut rng(), maker, mailbox, &requests[0])
        .unwrap();
    server.put(accept.mailbox, &accept.bytes, now + 2);
    let accepts = server.take(outgoing.reply_mailbox(), now + 3);
    let maker_at_user = outgoing.finish(user, &accepts[0]).unwrap();
    (user_at_maker, maker_at_user)
}

#[test]
fn the_server_sees_no_keys_names_secrets_or_relations() {
    let names = ["Alice Liddell", "Bob Marley", "Carol Danvers"];
    let ids: Vec<Identity> = names
        .iter()
        .map(|n| Identity::generate(&mut rng(), DisplayName::new(n).unwrap()).unwrap())
        .collect();
    let (alice, bob, carol) = (&ids[0], &ids[1], &ids[2]);
    let mut server = Server::new();
    let day = 20_415u64;
    let now = day * DAY_MS + DAY_MS / 2;

    // Pairing: Alice-Bob, Alice-Carol, Bob-Carol.
    let (bob_at_alice, alice_at_bob) = pair_via_server(&mut server, alice, bob, now);
    let (carol_at_alice, _alice_at_carol) = pair_via_server(&mut server, alice, carol, now);
    let (carol_at_bob, bob_at_carol) = pair_via_server(&mut server, bob, carol, now);
    assert_eq!(
        bob_at_alice.pairwise().bytes(),
        alice_at_bob.pairwise().bytes()
    );

    // Presence on day d: everybody announces and subscribes; Bob hears Alice come online.
    let contacts: [Vec<&Contact>; 3] = [
        vec![&bob_at_alice, &carol_at_alice],
        vec![&alice_at_bob, &carol_at_bob],
        vec![&bob_at_carol],
    ];
    let run_presence = |server: &mut Server, now: u64| -> (BTreeSet<String>, Vec<ConnId>) {
        let mut day_ids = BTreeSet::new();
        let mut conns = Vec::new();
        for cs in &contacts {
            let conn = server.hub.allocate_conn();
            server.hub.open(conn, now);
            let plan =
                PresencePlan::new(cs.iter().copied().enumerate(), Status::Online, now).unwrap();
            let ann: Vec<String> = plan.announce.iter().map(|c| c.to_base64url()).collect();
            let sub: Vec<String> = plan
                .subscribe
                .iter()
                .map(|(c, _, _)| c.to_base64url())
                .collect();
            day_ids.extend(ann.iter().cloned());
            day_ids.extend(sub.iter().cloned());
            server.presence(conn, &list("subscribe", &sub), now);
            server.presence(conn, &list("announce", &ann), now);
            conns.push(conn);
        }
        (day_ids, conns)
    };
    let (today_ids, conns) = run_presence(&mut server, now);
    // Alice leaves: Bob's subscription to Alice's channel reports offline.
    let alice_channel = alice_at_bob
        .subscribe_channel(u32::try_from(day).unwrap(), Status::Online)
        .unwrap()
        .to_base64url();
    let offline: Vec<_> = server
        .hub
        .closed(conns[0])
        .into_iter()
        .filter_map(|a| match a {
            Action::Send {
                to,
                msg:
                    PresenceServerMessage::Presence {
                        channel, online, ..
                    },
            } => Some((to, channel.as_str().to_owned(), online)),
            _ => None,
        })
        .collect();
    assert!(
        offline.contains(&(vec![conns[1]], alice_channel.clone(), false)),
        "{offline:?}"
    );

    // Ringing: Alice calls Bob; the invite and the accept travel sealed through mailboxes.
    let room_link = "https://sotto.example/#c2VjcmV0LXJvb20tc2VjcmV0LXJvb20tc2VjcmV0IQ";
    let (mut caller, actions) =
        OutgoingRing::start(CallId([7; 16]), DeviceId([1; 8]), room_link.into(), now).unwrap();
    for a in &actions {
        if let RingAction::Send(m) = a {
            server.put(
                bob_at_alice.outbox(now).unwrap(),
                &bob_at_alice.seal_ring(&mut rng(), m).unwrap(),
                now,
            );
        }
    }
    let inbox = alice_at_bob.inboxes(now).unwrap()[0];
    let sealed = server.take(inbox, now + 5);
    let invite = alice_at_bob.open_ring(&sealed[0]).unwrap();
    assert!(matches!(&invite.body, RingBody::Invite { room_link: l, .. } if l == room_link));
    let (mut tab, _) = IncomingRing::on_invite(&invite, DeviceId([2; 8]), false, now + 5).unwrap();
    for a in tab.accept(now + 6) {
        if let RingAction::Send(m) = a {
            server.put(
                alice_at_bob.outbox(now).unwrap(),
                &alice_at_bob.seal_ring(&mut rng(), &m).unwrap(),
                now + 6,
            );
        }
    }
    for sealed in server.take(bob_at_alice.inboxes(now).unwrap()[0], now + 7) {
        let msg = bob_at_alice.open_ring(&sealed).unwrap();
        let actions = caller.on_message(&msg, now + 7);
        assert!(actions
            .iter()
            .any(|a| matches!(a, RingAction::JoinRoom { .. })));
    }

    // An offline message from Carol to Bob.
    let text = "Missed you: call me back about the Zanzibar trip";
    let msg = OfflineMessage::Text {
        sent_at_ms: now,
        text: text.into(),
    };
    server.put(
        bob_at_carol.outbox(now).unwrap(),
        &bob_at_carol.seal_offline(&mut rng(), carol, &msg).unwrap(),
        now,
    );
    let got = server.take(
        carol_at_bob.inboxes(now + 3 * DAY_MS).unwrap()[3],
        now + 3 * DAY_MS,
    );
    assert_eq!(carol_at_bob.open_offline(bob, &got[0]).unwrap(), msg);

    // A backup file never goes to the server, but check the transcript holds nothing of it
    // either (it would be a bug to upload it).
    let backup = alice
        .export_backup(
            &mut rng(),
            "passphrase",
            KdfParams {
                m_cost_kib: 64,
                t_cost: 1,
                p_cost: 1,
            },
        )
        .unwrap();

    // Presence on day d+1: a fresh server connection set; no id repeats.
    let tomorrow = now + DAY_MS;
    let (tomorrow_ids, _) = run_presence(&mut server, tomorrow);
    assert!(
        today_ids.is_disjoint(&tomorrow_ids),
        "an id repeated across days"
    );

    // What must not appear, in every encoding the server could see.
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for (id, name) in ids.iter().zip(names) {
        let pk = id.public_key();
        secrets.push((format!("{name}'s key"), pk.as_bytes().to_vec()));
        secrets.push((
            format!("{name}'s key b64url"),
            pk.to_base64url().into_bytes(),
        ));
        secrets.push((
            format!("{name}'s key b64"),
            STANDARD.encode(pk.as_bytes()).into_bytes(),
        ));
        secrets.push((
            format!("{name}'s key hex"),
            pk.as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into_bytes(),
        ));
        secrets.push((name.to_string(), name.as_bytes().to_vec()));
        // Parts of 6 letters or more: a shorter word turns up by chance in base64url text.
        for part in name.split(' ').filter(|p| p.len() >= 6) {
            secrets.push((part.to_string(), part.as_bytes().to_vec()));
        }
    }
    for c in [&bob_at_alice, &carol_at_alice, &carol_at_bob] {
        secrets.push(("a pairwise secret".into(), c.pairwise().bytes().to_vec()));
        secrets.push((
            "a pairwise secret b64url".into(),
            URL_SAFE_NO_PAD.encode(c.pairwise().bytes()).into_bytes(),
        ));
    }
    secrets.push(("the room link".into(), room_link.as_bytes().to_vec()));
    secrets.push((
        "the room secret".into(),
        b"c2VjcmV0LXJvb20tc2VjcmV0LXJvb20tc2VjcmV0IQ".to_vec(),
    ));
    secrets.push(("the offline text".into(), b"Zanzibar".to_vec()));
    secrets.push(("the backup".into(), backup[..40].to_vec()));
    let seen = [server.transcript.as_slice(), server.decoded.as_slice()].concat();
    for (what, bytes) in &secrets {
        assert!(
            !server
                .transcript
                .windows(bytes.len())
                .any(|w| w == bytes.as_slice()),
            "the server saw {what}"
        );
        // Not even an 8-byte piece of a key or secret.
        if bytes.len() == 32 {
            for piece in bytes.windows(8) {
                assert!(
                    !seen.windows(8).any(|w| w == piece),
                    "the server saw part of {what}"
                );
            }
        }
    }

    // Relations: the ids of different pairs share nothing, and no id is a function of a key
    // the server could try: every id the server saw is distinct from every public key prefix.
    for id in &server.ids_seen {
        let raw = URL_SAFE_NO_PAD.decode(id).unwrap();
        for identity in &ids {
            assert!(!identity
                .public_key()
                .as_bytes()
                .windows(4)
                .any(|w| raw.windows(4).any(|v| v == w)));
        }
    }
    assert!(
        server.transcript.len() > 3_000,
        "the transcript recorded little: {}",
        server.transcript.len()
    );
}

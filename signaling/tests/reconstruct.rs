//! After hibernation the adapter rebuilds the room from the per-socket records it persisted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use sotto_protocol::room::ServerMessage;
use sotto_signaling::room::RoomAction;
use sotto_signaling::{Action, ConnId, Frame, Limits, RoomRecord, RoomRoster};

/// Plays the adapter: keeps the latest persisted record per connection.
fn apply(store: &mut std::collections::BTreeMap<ConnId, RoomRecord>, actions: &[RoomAction]) {
    for a in actions {
        match a {
            Action::Persist { conn, record } => {
                store.insert(*conn, record.clone());
            }
            Action::Close { conn, .. } => {
                store.remove(conn);
            }
            Action::Send { .. } | Action::Relay { .. } => {}
        }
    }
}

fn join(peer: &str) -> String {
    format!(r#"{{"v":2,"type":"join","peer":"{peer}","identity":"AAAA"}}"#)
}

#[test]
fn rebuilt_room_has_the_same_roster_and_keeps_relaying() {
    let limits = Limits::default();
    let mut store = std::collections::BTreeMap::new();
    let mut room = RoomRoster::new(limits.clone());
    let mut conns = Vec::new();
    for (i, p) in ["alice", "bob", "carol"].iter().enumerate() {
        let c = room.allocate_conn();
        apply(&mut store, &room.open(c, i as u64));
        apply(
            &mut store,
            &room.message(c, Frame::Text(&join(p)), i as u64),
        );
        conns.push(c);
    }
    let pending = room.allocate_conn();
    apply(&mut store, &room.open(pending, 5));
    // carol leaves before hibernation.
    let out = room.message(conns[2], Frame::Text(r#"{"v":2,"type":"leave"}"#), 6);
    apply(&mut store, &out);
    // Records survive a JSON round trip (attachments are structured clones of them).
    let records: Vec<RoomRecord> = store
        .values()
        .map(|r| serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap())
        .collect();

    let (mut rebuilt, rejected) = RoomRoster::from_records(limits.clone(), records, 20_000);
    assert!(rejected.is_empty());
    assert_eq!(rebuilt.roster(), room.roster());
    assert_eq!(rebuilt.connection_count(), 3);
    // New connection ids do not collide with old ones.
    assert!(rebuilt.allocate_conn() > pending);
    // Relaying works with the rebuilt state, `from` from the record.
    let out = rebuilt.message(
        conns[1],
        Frame::Text(r#"{"v":2,"type":"signal","to":"alice","payload":"p"}"#),
        20_001,
    );
    let sent: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            Action::Relay { to, text } => Some((*to, ServerMessage::parse(text).unwrap())),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1, "{out:?}");
    assert_eq!(sent[0].0, conns[0]);
    assert!(
        matches!(&sent[0].1, ServerMessage::Signal { from, .. } if from.as_str() == "bob"),
        "{sent:?}"
    );
    // The unjoined socket still times out on its original schedule.
    let out = rebuilt.tick(5 + limits.join_timeout_ms);
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Close { conn, .. } if *conn == pending)));
    // Nobody is idled out early: last_seen is taken at its latest possible value.
    assert!(rebuilt.tick(limits.idle_timeout_ms + 1).is_empty());
}

#[test]
fn conflicting_records_are_rejected() {
    let rec = |conn: u64, peer: Option<&str>| RoomRecord {
        conn: ConnId(conn),
        connected_at_ms: 0,
        last_seen_ms: 0,
        peer: peer.map(|p| {
            serde_json::from_str(&format!(r#"{{"peer":"{p}","identity":"AAAA"}}"#)).unwrap()
        }),
    };
    let (room, rejected) = RoomRoster::from_records(
        Limits::with_max_peers(2),
        vec![
            rec(3, Some("a")),
            rec(1, Some("a")),
            rec(2, Some("b")),
            rec(4, Some("c")),
            rec(5, None),
        ],
        0,
    );
    assert_eq!(rejected, vec![ConnId(3), ConnId(4)]);
    assert_eq!(room.joined_count(), 2);
    assert_eq!(room.connection_count(), 3);
}

#[test]
fn last_seen_is_persisted_at_most_every_interval() {
    let limits = Limits::default();
    let mut room = RoomRoster::new(limits.clone());
    let c = room.allocate_conn();
    room.open(c, 0);
    let persisted = |out: &[RoomAction]| {
        out.iter()
            .filter(|a| matches!(a, Action::Persist { .. }))
            .count()
    };
    let ping = r#"{"v":2,"type":"ping"}"#;
    assert_eq!(persisted(&room.message(c, Frame::Text(ping), 1_000)), 0);
    assert_eq!(
        persisted(&room.message(c, Frame::Text(ping), limits.persist_interval_ms)),
        1
    );
    assert_eq!(
        persisted(&room.message(c, Frame::Text(ping), limits.persist_interval_ms + 1)),
        0
    );
}

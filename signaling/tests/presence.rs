//! The presence hub: announce/subscribe, online/offline fan-out, limits, rebuild.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use sotto_protocol::presence::PresenceServerMessage;
use sotto_protocol::ChannelId;
use sotto_signaling::presence::PresenceAction;
use sotto_signaling::{Action, CloseCode, ConnId, Frame, Limits, PresenceHub, PresenceRecord};

fn ch(n: u32) -> String {
    format!("channel{n:015}")
}
fn msg(ty: &str, chans: &[String]) -> String {
    let list: Vec<String> = chans.iter().map(|c| format!("\"{c}\"")).collect();
    format!(r#"{{"v":2,"type":"{ty}","channels":[{}]}}"#, list.join(","))
}
fn presence(actions: &[PresenceAction]) -> Vec<(Vec<ConnId>, String, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                to,
                msg:
                    PresenceServerMessage::Presence {
                        channel, online, ..
                    },
            } => Some((to.clone(), channel.as_str().to_owned(), *online)),
            _ => None,
        })
        .collect()
}
fn errors(actions: &[PresenceAction]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                msg: PresenceServerMessage::Error { code, .. },
                ..
            } => Some(code.clone()),
            _ => None,
        })
        .collect()
}
fn open(hub: &mut PresenceHub) -> ConnId {
    let c = hub.allocate_conn();
    hub.open(c, 0);
    c
}

#[test]
fn online_offline_fan_out() {
    let mut hub = PresenceHub::new(Limits::default());
    let watcher = open(&mut hub);
    let alice = open(&mut hub);
    let alice2 = open(&mut hub);
    let out = hub.message(watcher, Frame::Text(&msg("subscribe", &[ch(1), ch(2)])), 1);
    assert_eq!(
        presence(&out),
        vec![(vec![watcher], ch(1), false), (vec![watcher], ch(2), false)]
    );
    let out = hub.message(alice, Frame::Text(&msg("announce", &[ch(1)])), 2);
    assert_eq!(presence(&out), vec![(vec![watcher], ch(1), true)]);
    // A second announcer of the same channel changes nothing.
    assert!(presence(&hub.message(alice2, Frame::Text(&msg("announce", &[ch(1)])), 3)).is_empty());
    assert!(presence(&hub.closed(alice)).is_empty());
    // The last one going away sends offline.
    assert_eq!(
        presence(&hub.closed(alice2)),
        vec![(vec![watcher], ch(1), false)]
    );
    assert!(!hub.is_online(&ChannelId::parse(&ch(1)).unwrap()));
    // No history: the hub forgot the channel's announcers.
    assert_eq!(hub.channel_count(), 2);
}

#[test]
fn announce_and_subscribe_replace_the_previous_list() {
    let mut hub = PresenceHub::new(Limits::default());
    let w = open(&mut hub);
    let a = open(&mut hub);
    hub.message(w, Frame::Text(&msg("subscribe", &[ch(1), ch(2)])), 0);
    hub.message(a, Frame::Text(&msg("announce", &[ch(1)])), 0);
    let out = hub.message(a, Frame::Text(&msg("announce", &[ch(2)])), 0);
    assert_eq!(
        presence(&out),
        vec![(vec![w], ch(1), false), (vec![w], ch(2), true)]
    );
    // Unsubscribed channels stop reporting.
    hub.message(w, Frame::Text(&msg("subscribe", &[ch(1)])), 0);
    assert!(presence(&hub.message(a, Frame::Text(&msg("announce", &[])), 0)).is_empty());
    assert_eq!(hub.channel_count(), 1);
}

#[test]
fn limits_and_errors() {
    let limits = Limits {
        max_presence_channels: 3,
        max_presence_connections: 2,
        ..Limits::default()
    };
    let mut hub = PresenceHub::new(limits);
    let a = open(&mut hub);
    let _b = open(&mut hub);
    let c = hub.allocate_conn();
    let out = hub.open(c, 0);
    assert_eq!(errors(&out), vec!["presence-full"]);
    assert!(out.iter().any(|x| matches!(
        x,
        Action::Close {
            code: CloseCode::Full,
            ..
        }
    )));
    let out = hub.message(
        a,
        Frame::Text(&msg("announce", &[ch(1), ch(2), ch(3), ch(4)])),
        0,
    );
    assert_eq!(errors(&out), vec!["presence-full"]);
    let too_many: Vec<String> = (0..33).map(ch).collect();
    assert_eq!(
        errors(&hub.message(a, Frame::Text(&msg("announce", &too_many)), 0)),
        vec!["too-many-channels"]
    );
    assert_eq!(
        errors(&hub.message(a, Frame::Text(r#"{"v":2,"type":"join"}"#), 0)),
        vec!["unknown-type"]
    );
    assert_eq!(
        errors(&hub.message(a, Frame::Binary(b"\xff"), 0)),
        vec!["binary-frame"]
    );
    // Duplicates in one list count once.
    let out = hub.message(
        a,
        Frame::Text(&msg("announce", &[ch(1), ch(1), ch(1), ch(2)])),
        0,
    );
    assert!(errors(&out).is_empty());
}

#[test]
fn join_and_idle_timeouts() {
    let limits = Limits::default();
    let mut hub = PresenceHub::new(limits.clone());
    let silent = open(&mut hub);
    let active = open(&mut hub);
    let w = open(&mut hub);
    hub.message(active, Frame::Text(&msg("announce", &[ch(1)])), 1);
    hub.message(w, Frame::Text(&msg("subscribe", &[ch(1)])), 1);
    let out = hub.tick(limits.join_timeout_ms);
    assert_eq!(errors(&out), vec!["join-timeout"]);
    assert!(out
        .iter()
        .any(|x| matches!(x, Action::Close { conn, code: CloseCode::Timeout } if *conn == silent)));
    for t in (15_000..=60_000).step_by(15_000) {
        hub.message(w, Frame::Text(r#"{"v":2,"type":"ping"}"#), t);
    }
    let out = hub.tick(1 + limits.idle_timeout_ms);
    assert_eq!(presence(&out), vec![(vec![w], ch(1), false)]);
    assert_eq!(hub.connection_count(), 1);
}

#[test]
fn rebuild_from_records() {
    let mut hub = PresenceHub::new(Limits::default());
    let mut store = std::collections::BTreeMap::<ConnId, PresenceRecord>::new();
    let apply = |out: Vec<PresenceAction>,
                 store: &mut std::collections::BTreeMap<ConnId, PresenceRecord>| {
        for a in out {
            if let Action::Persist { conn, record } = a {
                store.insert(conn, record);
            }
        }
    };
    let w = hub.allocate_conn();
    apply(hub.open(w, 0), &mut store);
    let a = hub.allocate_conn();
    apply(hub.open(a, 0), &mut store);
    apply(
        hub.message(w, Frame::Text(&msg("subscribe", &[ch(1)])), 1),
        &mut store,
    );
    apply(
        hub.message(a, Frame::Text(&msg("announce", &[ch(1)])), 2),
        &mut store,
    );
    let mut rebuilt = PresenceHub::from_records(Limits::default(), store.into_values(), 30_000);
    assert!(rebuilt.is_online(&ChannelId::parse(&ch(1)).unwrap()));
    assert_eq!(presence(&rebuilt.closed(a)), vec![(vec![w], ch(1), false)]);
    assert!(rebuilt.allocate_conn() > a);
}

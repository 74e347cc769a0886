//! A fake WebRTC: one `FakePc` per connection the cores create. It keeps JSEP signaling
//! states, refuses what a browser refuses (a description in the wrong state, a remote
//! description from another peer connection than the one it has, a candidate before a remote
//! description), records whether local media and transforms were attached before any
//! description was applied, and connects two peer connections when they hold each other's
//! current descriptions and candidates and their link is up.
use std::collections::BTreeSet;

use sotto_call::input::{PcState, SdpKind};
use sotto_call::{ConnId, IceCandidate, MediaKind};
use sotto_protocol::PeerId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Stable,
    HaveLocalOffer,
    HaveRemoteOffer,
}

/// A session description the fake made or was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desc {
    pub kind: SdpKind,
    /// The peer connection that made it (stands for its DTLS fingerprint).
    pub origin: u64,
    pub ufrag: String,
}

/// Parses a description the fake made; `None` for anything else (a forged one).
pub fn parse_desc(kind: SdpKind, sdp: &str) -> Option<Desc> {
    let origin = sdp
        .lines()
        .find_map(|l| l.strip_prefix("o=- "))?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let ufrag = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))?
        .trim()
        .to_owned();
    Some(Desc {
        kind,
        origin,
        ufrag,
    })
}

/// What an applied description must look like after the core tuned it.
pub fn is_tuned(sdp: &str) -> bool {
    sdp.contains("cbr=1") && !sdp.to_ascii_lowercase().contains("audio-level")
}

#[derive(Debug, Clone)]
pub struct FakePc {
    pub uid: u64,
    pub client: usize,
    pub conn: ConnId,
    pub remote_peer: PeerId,
    pub closed: bool,
    pub attached: bool,
    /// A description was applied before local media and transforms were attached.
    pub order_violations: u32,
    /// A description was applied that was not tuned for audio privacy.
    pub untuned: u32,
    pub sig: Sig,
    pub local: Option<Desc>,
    /// The local description of the last stable state (what a rollback returns to).
    pub stable_local: Option<Desc>,
    pub remote: Option<Desc>,
    /// The remote description of the last stable state (ICE and DTLS run on the stable pair
    /// while a renegotiation is under way).
    pub stable_remote: Option<Desc>,
    /// The ufrag of the remote offer the last answer was made for.
    answered_ufrag: Option<String>,
    ufrags_made: u32,
    pub remote_candidates: BTreeSet<String>,
    pub state: PcState,
    pub ever_connected: bool,
    /// When the current state's timer runs out (connecting -> connected, disconnected ->
    /// failed, checking -> failed).
    pub timer: Option<u64>,
    /// The timer leads to `connected` (else to `failed`).
    pub timer_to_connect: bool,
    /// The ICE credentials (local, remote) checks last ran for.
    pub checked: Option<(String, String)>,
    pub dc_open: bool,
    pub sent: [u64; 2],
    pub seen: [u64; 2],
    pub blocked: BTreeSet<MediaKind>,
    /// A browser that skips the sender transform (the invariant must catch it).
    pub skips_transform: bool,
    /// Gathers relayed candidates (a TURN allocation) instead of host ones.
    pub relay: bool,
    /// Every remote candidate added, as given.
    pub candidates_added: Vec<String>,
    pub descriptions_applied: u32,
}

pub fn kind_index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

impl FakePc {
    pub fn new(uid: u64, client: usize, conn: ConnId, remote_peer: PeerId) -> Self {
        Self {
            uid,
            client,
            conn,
            remote_peer,
            closed: false,
            attached: false,
            order_violations: 0,
            untuned: 0,
            sig: Sig::Stable,
            local: None,
            stable_local: None,
            remote: None,
            stable_remote: None,
            answered_ufrag: None,
            ufrags_made: 0,
            remote_candidates: BTreeSet::new(),
            state: PcState::New,
            ever_connected: false,
            timer: None,
            timer_to_connect: false,
            checked: None,
            dc_open: false,
            sent: [0; 2],
            seen: [0; 2],
            blocked: BTreeSet::new(),
            skips_transform: false,
            relay: false,
            candidates_added: Vec::new(),
            descriptions_applied: 0,
        }
    }

    fn fresh_ufrag(&mut self) -> String {
        self.ufrags_made += 1;
        format!("u{}x{}", self.uid, self.ufrags_made)
    }

    /// The description `createOffer` / `createAnswer` would make (untuned, as a browser's).
    pub fn create(&mut self, kind: SdpKind, ice_restart: bool) -> Result<String, &'static str> {
        let ufrag = match kind {
            SdpKind::Offer => {
                if self.sig == Sig::HaveRemoteOffer {
                    return Err("createOffer in have-remote-offer");
                }
                match (&self.stable_local, ice_restart) {
                    (Some(d), false) => d.ufrag.clone(),
                    _ => self.fresh_ufrag(),
                }
            }
            SdpKind::Answer => {
                if self.sig != Sig::HaveRemoteOffer {
                    return Err("createAnswer without a remote offer");
                }
                let remote_ufrag = self.remote.as_ref().map(|d| d.ufrag.clone());
                match (&self.stable_local, remote_ufrag == self.answered_ufrag) {
                    (Some(d), true) => d.ufrag.clone(),
                    _ => self.fresh_ufrag(),
                }
            }
        };
        Ok(format!(
            "v=0\r\no=- {uid} 2 IN IP4 127.0.0.1\r\ns=-\r\na=ice-ufrag:{ufrag}\r\na=fingerprint:sha-256 F{uid}\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
a=extmap:10 http://www.webrtc.org/experiments/rtp-hdrext/csrc-audio-level\r\n\
a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n",
            uid = self.uid
        ))
    }

    fn applying(&mut self, sdp: &str) {
        self.descriptions_applied += 1;
        if !self.attached {
            self.order_violations += 1;
        }
        if !is_tuned(sdp) {
            self.untuned += 1;
        }
    }

    pub fn set_local(&mut self, kind: SdpKind, sdp: &str) -> Result<(), &'static str> {
        self.applying(sdp);
        let desc = parse_desc(kind, sdp).ok_or("not a description")?;
        if desc.origin != self.uid {
            return Err("not this connection's description");
        }
        match (kind, self.sig) {
            (SdpKind::Offer, Sig::Stable) => self.sig = Sig::HaveLocalOffer,
            (SdpKind::Answer, Sig::HaveRemoteOffer) => {
                self.sig = Sig::Stable;
                self.answered_ufrag = self.remote.as_ref().map(|d| d.ufrag.clone());
                self.stable_local = Some(desc.clone());
                self.stable_remote = self.remote.clone();
            }
            _ => return Err("setLocalDescription in the wrong state"),
        }
        self.local = Some(desc);
        Ok(())
    }

    pub fn set_remote(&mut self, kind: SdpKind, sdp: &str) -> Result<(), &'static str> {
        self.applying(sdp);
        let desc = parse_desc(kind, sdp).ok_or("not a description")?;
        if self
            .remote
            .as_ref()
            .is_some_and(|r| r.origin != desc.origin)
        {
            // a different peer connection (another DTLS fingerprint) on this one
            return Err("the remote fingerprint changed");
        }
        match (kind, self.sig) {
            (SdpKind::Offer, Sig::Stable) => self.sig = Sig::HaveRemoteOffer,
            (SdpKind::Answer, Sig::HaveLocalOffer) => {
                self.sig = Sig::Stable;
                self.stable_local = self.local.clone();
                self.stable_remote = Some(desc.clone());
            }
            _ => return Err("setRemoteDescription in the wrong state"),
        }
        if self.remote.as_ref().is_some_and(|r| r.ufrag != desc.ufrag) {
            self.remote_candidates.clear();
        }
        self.remote = Some(desc);
        Ok(())
    }

    pub fn rollback(&mut self) -> Result<(), &'static str> {
        if self.sig != Sig::HaveLocalOffer {
            return Err("rollback without a local offer");
        }
        self.sig = Sig::Stable;
        self.local = self.stable_local.clone();
        Ok(())
    }

    pub fn add_candidate(&mut self, c: &IceCandidate) -> Result<(), &'static str> {
        if self.remote.is_none() {
            return Err("addIceCandidate before a remote description");
        }
        let ufrag = c
            .candidate
            .strip_prefix("candidate:")
            .and_then(|r| r.split(' ').next())
            .ok_or("not a candidate")?;
        self.remote_candidates.insert(ufrag.to_owned());
        self.candidates_added.push(c.candidate.clone());
        Ok(())
    }

    /// The candidates this connection gathers after a local description.
    pub fn candidates(&self) -> Vec<IceCandidate> {
        let Some(local) = &self.local else {
            return Vec::new();
        };
        let kind = if self.relay {
            "relay raddr 0.0.0.0 rport 0"
        } else {
            "host"
        };
        (1..=2)
            .map(|i| IceCandidate {
                candidate: format!(
                    "candidate:{} 1 udp 2122260223 10.0.{}.{i} 5000 typ {kind}",
                    local.ufrag, self.client
                ),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
            })
            .collect()
    }
}

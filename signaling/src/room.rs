//! The state of one consult room and the rules of its protocol, free of sockets and buses: each operation
//! changes the state and says which messages go to whom. The hub stamps, logs and delivers them.

use serde::{Deserialize, Serialize};

use crate::protocol::{PeerInfo, Resume, ServerMsg};
use crate::token::RoomClaims;

/// Who a message is for, resolved against the room after the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Peer(String),
    /// Every admitted peer.
    Admitted,
    /// Every admitted peer but one.
    AdmittedExcept(String),
    /// Every connected peer, admitted or waiting.
    Everyone,
}

pub type Out = Vec<(Target, ServerMsg)>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub peer_id: String,
    /// The token subject: one live socket per identity.
    pub identity: String,
    pub role: String,
    pub name: String,
    pub admitted: bool,
    /// When the socket dropped without `leave` (ms); the peer may resume until the window closes.
    pub dropped_at: Option<i64>,
    /// The node the peer's socket is on.
    pub node: String,
}

impl Peer {
    pub fn info(&self) -> PeerInfo {
        PeerInfo { peer_id: self.peer_id.clone(), role: self.role.clone(), name: self.name.clone(), admitted: self.admitted }
    }

    pub fn is_host(&self) -> bool {
        self.role == "doctor"
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    pub peers: Vec<Peer>,
    pub ended: bool,
    /// Identities a host has admitted: the same person rejoining (new socket, another node) skips the lobby.
    #[serde(default)]
    pub admitted_identities: Vec<String>,
}

/// Refusals a peer is told about with an `error` frame (the socket stays open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotAdmitted,
    UnknownPeer,
    NotHost,
    Ended,
    /// The shared room store (Redis) is not answering.
    Unavailable,
}

impl Refusal {
    pub fn message(&self) -> ServerMsg {
        match self {
            Self::NotAdmitted => ServerMsg::error("not_admitted", "Wait until the doctor admits you."),
            Self::UnknownPeer => ServerMsg::error("unknown_peer", "No such peer in this room; the message was dropped."),
            Self::NotHost => ServerMsg::error("forbidden", "Only the doctor may do this."),
            Self::Ended => ServerMsg::error("ended", "This consult has ended."),
            Self::Unavailable => ServerMsg::error("unavailable", "Signalling is briefly unavailable; reconnect and resume."),
        }
    }
}

/// What a join did, for the hub to answer with `joined` (and replay after a resume).
#[derive(Debug, PartialEq)]
pub struct Joined {
    pub peer_id: String,
    /// The client asked to resume and may: replay what it missed after this seq.
    pub resumed_after: Option<u64>,
    /// The client asked to resume and may not: tell it `resume_failed` before the fresh `joined`.
    pub resume_failed: bool,
    /// An older socket of the same identity that this join replaces.
    pub replaced: Option<Peer>,
    pub admitted: bool,
    pub polite: bool,
    /// Who the joiner sees in `joined`.
    pub peers: Vec<PeerInfo>,
    pub out: Out,
}

impl RoomState {
    pub fn peer(&self, peer_id: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.peer_id == peer_id)
    }

    fn peer_mut(&mut self, peer_id: &str) -> Option<&mut Peer> {
        self.peers.iter_mut().find(|p| p.peer_id == peer_id)
    }

    /// Recipients of `target` (peer ids), among peers with a live socket or inside their resume window.
    pub fn resolve(&self, target: &Target) -> Vec<String> {
        let ids = |f: &dyn Fn(&Peer) -> bool| self.peers.iter().filter(|p| f(p)).map(|p| p.peer_id.clone()).collect();
        match target {
            Target::Peer(id) => self.peer(id).map(|p| vec![p.peer_id.clone()]).unwrap_or_default(),
            Target::Admitted => ids(&|p| p.admitted),
            Target::AdmittedExcept(id) => ids(&|p| p.admitted && &p.peer_id != id),
            Target::Everyone => ids(&|_| true),
        }
    }

    /// A socket joins with a verified token. `new_peer_id` is used unless the join resumes a session.
    pub fn join(&mut self, claims: &RoomClaims, resume: Option<&Resume>, new_peer_id: String, node: &str) -> Result<Joined, Refusal> {
        if self.ended {
            return Err(Refusal::Ended);
        }
        let mut out = Out::new();
        let mut resume_failed = false;
        if let Some(resume) = resume {
            let resumable = self.peer(&resume.peer_id).is_some_and(|p| p.identity == claims.sub);
            if resumable {
                let peer = self.peer_mut(&resume.peer_id).expect("checked above");
                peer.dropped_at = None;
                peer.node = node.to_owned();
                let (peer_id, admitted) = (peer.peer_id.clone(), peer.admitted);
                return Ok(Joined {
                    peers: self.visible_to(&peer_id),
                    polite: self.polite(&peer_id),
                    peer_id,
                    resumed_after: Some(resume.last_seq),
                    resume_failed: false,
                    replaced: None,
                    admitted,
                    out,
                });
            }
            resume_failed = true;
        }
        // One socket per identity: a second join replaces the first, which others see leave.
        let replaced = self.peers.iter().position(|p| p.identity == claims.sub).map(|i| self.peers.remove(i));
        if let Some(old) = &replaced {
            out.push((Target::Everyone, ServerMsg::PeerLeft { peer_id: old.peer_id.clone(), reason: "replaced".into() }));
        }
        let admitted = claims.is_host() || self.admitted_identities.contains(&claims.sub);
        let peer = Peer {
            peer_id: new_peer_id.clone(),
            identity: claims.sub.clone(),
            role: claims.role.clone(),
            name: claims.name.clone(),
            admitted,
            dropped_at: None,
            node: node.to_owned(),
        };
        let info = peer.info();
        // One slot at a time: a room has two or three peers, and spare slots would be kept for its whole life.
        self.peers.reserve_exact(1);
        self.peers.push(peer);
        if admitted {
            out.push((Target::AdmittedExcept(new_peer_id.clone()), ServerMsg::PeerJoined { peer: info }));
        } else {
            // Hosts see who waits in the lobby so they can admit them.
            for host in self.peers.iter().filter(|p| p.is_host() && p.admitted) {
                out.push((Target::Peer(host.peer_id.clone()), ServerMsg::PeerJoined { peer: info.clone() }));
            }
        }
        Ok(Joined {
            peers: self.visible_to(&new_peer_id),
            polite: self.polite(&new_peer_id),
            peer_id: new_peer_id,
            resumed_after: None,
            resume_failed,
            replaced,
            admitted,
            out,
        })
    }

    /// Admitted peers see everyone; hosts also see the lobby; a waiting peer sees the admitted ones.
    fn visible_to(&self, peer_id: &str) -> Vec<PeerInfo> {
        let me = self.peer(peer_id);
        let host = me.is_some_and(Peer::is_host);
        self.peers.iter().filter(|p| p.peer_id != peer_id && (p.admitted || host)).map(Peer::info).collect()
    }

    /// Per pair, the peer admitted later is the polite one: so a peer is polite when anyone was admitted before it.
    fn polite(&self, peer_id: &str) -> bool {
        let me = self.peer(peer_id);
        match me {
            Some(p) if p.admitted => self.peers.iter().take_while(|q| q.peer_id != peer_id).any(|q| q.admitted),
            // Waiting peers are admitted by a host who is already in: they will be the later one.
            _ => true,
        }
    }

    /// A host lets a waiting peer in.
    pub fn admit(&mut self, by: &str, target: &str) -> Result<Out, Refusal> {
        if !self.peer(by).is_some_and(|p| p.is_host() && p.admitted) {
            return Err(Refusal::NotHost);
        }
        let Some(peer) = self.peer_mut(target) else { return Err(Refusal::UnknownPeer) };
        if peer.admitted {
            return Ok(Out::new());
        }
        peer.admitted = true;
        let info = peer.info();
        let identity = peer.identity.clone();
        if !self.admitted_identities.contains(&identity) {
            self.admitted_identities.push(identity);
        }
        // The admitted peer moves to the end of the admission order: it is the polite one toward all present.
        let i = self.peers.iter().position(|p| p.peer_id == target).expect("found above");
        let moved = self.peers.remove(i);
        self.peers.push(moved);
        Ok(vec![
            (Target::Peer(target.to_owned()), ServerMsg::Admitted {}),
            (Target::AdmittedExcept(target.to_owned()), ServerMsg::PeerJoined { peer: info }),
        ])
    }

    /// Offers, answers and candidates flow only between admitted peers of this room.
    pub fn check_relay(&self, from: &str, to: &str) -> Result<(), Refusal> {
        match self.peer(from) {
            Some(p) if p.admitted => {}
            _ => return Err(Refusal::NotAdmitted),
        }
        match self.peer(to) {
            Some(p) if p.admitted && to != from => Ok(()),
            _ => Err(Refusal::UnknownPeer),
        }
    }

    pub fn check_chat(&self, from: &str) -> Result<(), Refusal> {
        match self.peer(from) {
            Some(p) if p.admitted => Ok(()),
            _ => Err(Refusal::NotAdmitted),
        }
    }

    /// The peer left on purpose, or its resume window closed.
    pub fn remove(&mut self, peer_id: &str, reason: &str) -> Out {
        let Some(i) = self.peers.iter().position(|p| p.peer_id == peer_id) else { return Out::new() };
        let peer = self.peers.remove(i);
        let target = if peer.admitted { Target::Everyone } else { Target::Admitted };
        let visible: Vec<String> = self.resolve(&target);
        if visible.is_empty() {
            return Out::new();
        }
        vec![(target, ServerMsg::PeerLeft { peer_id: peer.peer_id, reason: reason.into() })]
    }

    /// The socket dropped without `leave`: keep the peer for the resume window.
    pub fn dropped(&mut self, peer_id: &str, now_ms: i64) {
        if let Some(p) = self.peer_mut(peer_id) {
            p.dropped_at = Some(now_ms);
        }
    }

    /// Removes peers whose resume window closed before `now_ms`.
    pub fn expire(&mut self, now_ms: i64, window_ms: i64) -> Out {
        let expired: Vec<String> =
            self.peers.iter().filter(|p| p.dropped_at.is_some_and(|t| now_ms - t >= window_ms)).map(|p| p.peer_id.clone()).collect();
        expired.iter().flat_map(|id| self.remove(id, "timeout")).collect()
    }

    /// A host ends the consult for everyone.
    pub fn end(&mut self, by: &str) -> Result<Out, Refusal> {
        if !self.peer(by).is_some_and(|p| p.is_host() && p.admitted) {
            return Err(Refusal::NotHost);
        }
        self.ended = true;
        Ok(vec![(Target::Everyone, ServerMsg::Ended { reason: "ended_by_doctor".into() })])
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, role: &str) -> RoomClaims {
        RoomClaims {
            iss: "vaidya".into(),
            aud: "vaidya-signal".into(),
            sub: sub.into(),
            room: "r".into(),
            role: role.into(),
            name: sub.to_uppercase(),
            iat: 0,
            exp: i64::MAX,
        }
    }

    fn setup() -> (RoomState, String, String) {
        let mut room = RoomState::default();
        let doctor = room.join(&claims("doc", "doctor"), None, "p-doc".into(), "n1").unwrap();
        let patient = room.join(&claims("pat", "patient"), None, "p-pat".into(), "n1").unwrap();
        (room, doctor.peer_id, patient.peer_id)
    }

    #[test]
    fn doctor_is_admitted_patient_waits_and_doctor_hears_of_them() {
        let mut room = RoomState::default();
        let doctor = room.join(&claims("doc", "doctor"), None, "p-doc".into(), "n1").unwrap();
        assert!(doctor.admitted);
        assert!(!doctor.polite);
        let patient = room.join(&claims("pat", "patient"), None, "p-pat".into(), "n1").unwrap();
        assert!(!patient.admitted);
        assert!(patient.polite);
        assert_eq!(patient.peers.len(), 1, "the waiting patient sees the doctor");
        assert_eq!(patient.out, vec![(Target::Peer("p-doc".into()), ServerMsg::PeerJoined { peer: room.peer("p-pat").unwrap().info() })]);
        assert!(!room.peer("p-pat").unwrap().info().admitted, "the doctor sees the patient is in the lobby");
    }

    #[test]
    fn relay_needs_admission_on_both_sides() {
        let (mut room, doc, pat) = setup();
        assert_eq!(room.check_relay(&pat, &doc), Err(Refusal::NotAdmitted));
        assert_eq!(room.check_relay(&doc, &pat), Err(Refusal::UnknownPeer), "not to the lobby either");
        assert_eq!(room.check_chat(&pat), Err(Refusal::NotAdmitted));
        let out = room.admit(&doc, &pat).unwrap();
        assert_eq!(out[0], (Target::Peer(pat.clone()), ServerMsg::Admitted {}));
        let ServerMsg::PeerJoined { peer } = &out[1].1 else { panic!("the doctor hears of the admission: {out:?}") };
        assert!(peer.admitted, "so the doctor's page knows it may now connect to them");
        assert!(room.check_relay(&pat, &doc).is_ok());
        assert!(room.check_relay(&doc, &pat).is_ok());
        assert_eq!(room.check_relay(&doc, "p-nobody"), Err(Refusal::UnknownPeer));
        assert_eq!(room.check_relay(&doc, &doc), Err(Refusal::UnknownPeer));
    }

    #[test]
    fn only_hosts_admit_and_end() {
        let (mut room, doc, pat) = setup();
        assert_eq!(room.admit(&pat, &pat), Err(Refusal::NotHost));
        assert_eq!(room.end(&pat), Err(Refusal::NotHost));
        assert_eq!(room.admit(&doc, "p-nobody"), Err(Refusal::UnknownPeer));
        let out = room.end(&doc).unwrap();
        assert_eq!(out, vec![(Target::Everyone, ServerMsg::Ended { reason: "ended_by_doctor".into() })]);
        assert_eq!(room.join(&claims("late", "patient"), None, "p-late".into(), "n1"), Err(Refusal::Ended));
    }

    #[test]
    fn resume_keeps_the_peer_and_needs_the_same_identity() {
        let (mut room, doc, pat) = setup();
        room.admit(&doc, &pat).unwrap();
        room.dropped(&pat, 1_000);
        let stolen =
            room.join(&claims("mallory", "patient"), Some(&Resume { peer_id: pat.clone(), last_seq: 3 }), "p-m".into(), "n1").unwrap();
        assert!(stolen.resume_failed, "someone else's peer_id cannot be resumed");
        assert_eq!(stolen.peer_id, "p-m");
        assert!(!stolen.admitted);
        let back = room.join(&claims("pat", "patient"), Some(&Resume { peer_id: pat.clone(), last_seq: 3 }), "p-new".into(), "n2").unwrap();
        assert_eq!(back.peer_id, pat);
        assert_eq!(back.resumed_after, Some(3));
        assert!(back.admitted, "a resumed peer stays admitted");
        assert_eq!(room.peer(&pat).unwrap().node, "n2");
        assert!(room.expire(1_000_000, 30_000).is_empty(), "a resumed peer does not expire");
    }

    #[test]
    fn dropped_peers_expire_after_the_window() {
        let (mut room, doc, pat) = setup();
        room.admit(&doc, &pat).unwrap();
        room.dropped(&pat, 1_000);
        assert!(room.expire(30_999, 30_000).is_empty());
        let out = room.expire(31_000, 30_000);
        assert_eq!(out, vec![(Target::Everyone, ServerMsg::PeerLeft { peer_id: pat.clone(), reason: "timeout".into() })]);
        assert!(room.peer(&pat).is_none());
    }

    #[test]
    fn a_second_join_of_one_identity_replaces_the_first() {
        let (mut room, doc, pat) = setup();
        room.admit(&doc, &pat).unwrap();
        let again = room.join(&claims("pat", "patient"), None, "p-pat2".into(), "n1").unwrap();
        assert_eq!(again.replaced.as_ref().map(|p| p.peer_id.as_str()), Some(pat.as_str()));
        assert_eq!(again.out[0], (Target::Everyone, ServerMsg::PeerLeft { peer_id: pat.clone(), reason: "replaced".into() }));
        assert_eq!(room.peers.len(), 2);
        assert!(again.admitted, "the doctor already admitted this person: no second lobby");
        let stranger = room.join(&claims("stranger", "patient"), None, "p-s".into(), "n1").unwrap();
        assert!(!stranger.admitted);
    }

    #[test]
    fn politeness_is_decided_per_admission_order() {
        let mut room = RoomState::default();
        let pat = room.join(&claims("pat", "patient"), None, "p-pat".into(), "n1").unwrap();
        let doc = room.join(&claims("doc", "doctor"), None, "p-doc".into(), "n1").unwrap();
        assert!(!doc.polite, "the first admitted peer is impolite");
        assert_eq!(doc.peers.len(), 1, "a host sees the lobby");
        room.admit(&doc.peer_id, &pat.peer_id).unwrap();
        assert!(room.polite(&pat.peer_id), "admitted after the doctor: polite");
        let interpreter = room.join(&claims("int", "interpreter"), None, "p-int".into(), "n1").unwrap();
        room.admit(&doc.peer_id, &interpreter.peer_id).unwrap();
        assert!(room.polite(&interpreter.peer_id));
    }

    #[test]
    fn leaving_tells_those_who_could_see_the_peer() {
        let (mut room, doc, pat) = setup();
        let out = room.remove(&pat, "left");
        assert_eq!(out, vec![(Target::Admitted, ServerMsg::PeerLeft { peer_id: pat, reason: "left".into() })]);
        assert!(room.remove(&doc, "left").is_empty(), "nobody left to tell");
        assert!(room.is_empty());
    }
}

//! The webrtc-rs side of a peer: the peer connection (loopback-only when asked), its callbacks, the data channel,
//! and a synthetic VP8 track whose RTP the other side counts.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use webrtc::api::APIBuilder;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_VP8, MediaEngine};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_state::RTCDataChannelState;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::interceptor::registry::Registry;
use webrtc::media::Sample;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;
use webrtc::track::track_local::track_local_static_sample::TrackLocalStaticSample;

use super::{PeerOptions, Result, Shared};
use crate::ice::IceServer;
use crate::protocol::Candidate;

/// One synthetic video frame every this often.
const FRAME_INTERVAL: Duration = Duration::from_millis(20);
/// Filler bytes per frame: one RTP packet each.
const FRAME_BYTES: usize = 600;

/// A peer connection with the default codecs and interceptors, using the room's ICE servers.
pub(super) async fn peer_connection(options: &PeerOptions, ice_servers: &[IceServer]) -> Result<RTCPeerConnection> {
    let mut media = MediaEngine::default();
    media.register_default_codecs()?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    let mut settings = SettingEngine::default();
    if options.loopback_only {
        settings.set_include_loopback_candidate(true);
        settings.set_network_types(vec![NetworkType::Udp4]);
        settings.set_ip_filter(Box::new(|ip| ip.is_loopback()));
        settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
        // A check often arrives before the trickled candidate it comes from, making it peer-reflexive: by default
        // such a pair waits 1 s before it may be selected, which on loopback is most of the join time.
        settings.set_prflx_acceptance_min_wait(Some(Duration::ZERO));
    }
    let api = APIBuilder::new().with_media_engine(media).with_interceptor_registry(registry).with_setting_engine(settings).build();
    let config = RTCConfiguration {
        ice_servers: ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            .collect(),
        ..Default::default()
    };
    Ok(api.new_peer_connection(config).await?)
}

/// Connection state, local candidates, remote data channels and remote tracks flow into `shared`.
/// Callbacks hold the shared state weakly: the peer connection must not keep itself alive.
pub(super) fn wire(shared: &Arc<Shared>) {
    let pc = &shared.pc;
    let weak = Arc::downgrade(shared);
    pc.on_peer_connection_state_change(Box::new(move |state| {
        if let Some(shared) = weak.upgrade() {
            shared.state.send_replace(state);
        }
        Box::pin(async {})
    }));

    let weak = Arc::downgrade(shared);
    pc.on_ice_candidate(Box::new(move |candidate| {
        let weak = weak.clone();
        Box::pin(async move {
            let (Some(shared), Some(candidate)) = (weak.upgrade(), candidate) else { return };
            let Ok(init) = candidate.to_json() else { return };
            let Some(to) = shared.remote.lock().expect("remote").clone() else { return };
            let wire = Candidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_m_line_index: init.sdp_mline_index,
                username_fragment: init.username_fragment,
            };
            shared.send(serde_json::json!({"type": "candidate", "to": to, "candidate": wire}));
        })
    }));

    let weak = Arc::downgrade(shared);
    pc.on_data_channel(Box::new(move |dc| {
        if let Some(shared) = weak.upgrade() {
            hook_channel(&shared, dc);
        }
        Box::pin(async {})
    }));

    let weak = Arc::downgrade(shared);
    pc.on_track(Box::new(move |track, _receiver, _transceiver| {
        if let Some(shared) = weak.upgrade() {
            let counter = shared.rtp_packets.clone();
            shared.spawn(async move {
                while track.read_rtp().await.is_ok() {
                    counter.send_modify(|n| *n += 1);
                }
            });
        }
        Box::pin(async {})
    }));
}

/// The offerer's data channel, made before the offer so it is negotiated with it.
pub(super) async fn open_channel(shared: &Arc<Shared>) -> Result<()> {
    let dc = shared.pc.create_data_channel("chat", None).await?;
    hook_channel(shared, dc);
    Ok(())
}

/// Incoming text goes to `data_in`; the channel is published once open.
fn hook_channel(shared: &Arc<Shared>, dc: Arc<RTCDataChannel>) {
    let data_in = shared.data_in.clone();
    dc.on_message(Box::new(move |msg| {
        if msg.is_string {
            let _ = data_in.send(String::from_utf8_lossy(&msg.data).into_owned());
        }
        Box::pin(async {})
    }));
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let opened = Arc::downgrade(&dc);
    dc.on_open(Box::new(move || {
        if let (Some(shared), Some(dc)) = (weak.upgrade(), opened.upgrade()) {
            shared.channel.send_replace(Some(dc));
        }
        Box::pin(async {})
    }));
    if dc.ready_state() == RTCDataChannelState::Open {
        shared.channel.send_replace(Some(dc));
    }
}

/// Adds the synthetic VP8 track and starts pumping frames (dropped by the track until it is bound by negotiation).
pub(super) async fn add_media(shared: &Arc<Shared>) -> Result<()> {
    let codec = RTCRtpCodecCapability { mime_type: MIME_TYPE_VP8.to_owned(), clock_rate: 90_000, ..Default::default() };
    let track = Arc::new(TrackLocalStaticSample::new(codec, "video".to_owned(), "vaidya-peer".to_owned()));
    let sender = shared.pc.add_track(track.clone()).await?;
    // RTCP must be read for the interceptors (NACK, reports) to run.
    shared.spawn(async move { while sender.read_rtcp().await.is_ok() {} });
    shared.spawn(async move {
        let mut tick = tokio::time::interval(FRAME_INTERVAL);
        let frame = Bytes::from(vec![0x5a; FRAME_BYTES]);
        loop {
            tick.tick().await;
            let sample = Sample { data: frame.clone(), timestamp: SystemTime::now(), duration: FRAME_INTERVAL, ..Default::default() };
            if track.write_sample(&sample).await.is_err() {
                break;
            }
        }
    });
    Ok(())
}

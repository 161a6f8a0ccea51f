//! A WebSocket client for tests of `/ws/signal`: send JSON, receive JSON with a deadline, observe closes.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::TestApp;

pub struct WsClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The last `seq` received, for resume.
    pub last_seq: u64,
}

/// What came next on a socket.
#[derive(Debug)]
pub enum Next {
    Json(Value),
    Closed(Option<u16>),
    Timeout,
}

impl TestApp {
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }

    /// Opens `/ws/signal` without joining.
    pub async fn ws_connect(&self) -> WsClient {
        let (ws, _) = connect_async(self.ws_url("/ws/signal")).await.expect("websocket connects");
        WsClient { ws, last_seq: 0 }
    }

    /// Mints a room token with the service's key, as the consult service will.
    pub fn room_token(&self, room: &str, who: &str, role: &str) -> String {
        vaidya_signaling::token::mint(&self.registry.tokens, room, who, role, &format!("{role} {who}"), 600)
    }

    /// Opens `/ws/events` as the holder of `token`, from after `last_seq` if given; returns the client and its `ready` frame.
    pub async fn open_events(&self, token: &str, last_seq: Option<i64>) -> (WsClient, Value) {
        let (ws, _) = connect_async(self.ws_url("/ws/events")).await.expect("websocket connects");
        let mut client = WsClient { ws, last_seq: 0 };
        let mut auth = json!({"type": "auth", "token": token});
        if let Some(n) = last_seq {
            auth["last_seq"] = json!(n);
        }
        client.send(auth).await;
        let ready = client.expect("ready").await;
        (client, ready)
    }

    /// Connects and joins; returns the client and its `joined` frame.
    pub async fn ws_join(&self, room: &str, who: &str, role: &str) -> (WsClient, Value) {
        let mut client = self.ws_connect().await;
        client.send(json!({"type": "join", "token": self.room_token(room, who, role)})).await;
        let joined = client.expect("joined").await;
        (client, joined)
    }
}

impl TestApp {
    /// A doctor on this node admits a patient who joined on `patient_node` (this node too, or another):
    /// returns (doctor, doctor peer id, patient, patient peer id), each side having read up to the admission.
    pub async fn consult_with(&self, patient_node: &TestApp, room: &str) -> (WsClient, String, WsClient, String) {
        let (mut doctor, joined) = self.ws_join(room, "doc-1", "doctor").await;
        let doctor_id = joined["peer_id"].as_str().unwrap().to_owned();
        let (mut patient, joined) = patient_node.ws_join(room, "pat-1", "patient").await;
        let patient_id = joined["peer_id"].as_str().unwrap().to_owned();
        patient.expect("waiting").await;
        doctor.expect("peer_joined").await;
        doctor.send(json!({"type": "admit", "peer_id": patient_id})).await;
        patient.expect("admitted").await;
        doctor.expect("peer_joined").await;
        (doctor, doctor_id, patient, patient_id)
    }
}

impl WsClient {
    pub async fn send(&mut self, value: Value) {
        self.ws.send(Message::Text(value.to_string().into())).await.expect("frame sent");
    }

    pub async fn send_raw(&mut self, msg: Message) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.ws.send(msg).await
    }

    /// The next JSON frame, close, or a timeout after `secs`.
    pub async fn next_within(&mut self, secs: f64) -> Next {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Next::Timeout,
                Ok(None) => return Next::Closed(None),
                Ok(Some(Err(_))) => return Next::Closed(None),
                Ok(Some(Ok(Message::Text(text)))) => {
                    let value: Value = serde_json::from_str(&text).expect("server frames are JSON");
                    if let Some(seq) = value["seq"].as_u64() {
                        assert!(seq == 0 || seq > self.last_seq, "seq must increase: {seq} after {}", self.last_seq);
                        self.last_seq = self.last_seq.max(seq);
                    }
                    return Next::Json(value);
                }
                Ok(Some(Ok(Message::Close(frame)))) => return Next::Closed(frame.map(|f: CloseFrame| f.code.into())),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next frame, which must be of `kind`.
    #[track_caller]
    pub fn expect(&mut self, kind: &str) -> impl Future<Output = Value> + '_ {
        let kind = kind.to_owned();
        async move {
            match self.next_within(5.0).await {
                Next::Json(v) if v["type"] == kind.as_str() => v,
                other => panic!("expected `{kind}`, got {other:?}"),
            }
        }
    }

    /// Skips frames until one of `kind` arrives.
    pub async fn wait_for(&mut self, kind: &str) -> Value {
        loop {
            match self.next_within(5.0).await {
                Next::Json(v) if v["type"] == kind => return v,
                Next::Json(_) => continue,
                other => panic!("expected `{kind}`, got {other:?}"),
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed(&mut self, within_secs: f64) -> Option<u16> {
        loop {
            match self.next_within(within_secs).await {
                Next::Closed(code) => return code,
                Next::Json(_) => continue,
                Next::Timeout => panic!("socket still open after {within_secs} s"),
            }
        }
    }

    /// Asserts nothing arrives for a moment.
    pub async fn quiet(&mut self, secs: f64) {
        match self.next_within(secs).await {
            Next::Timeout => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }
}

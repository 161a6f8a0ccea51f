//! The floor of the signalling comparison: the barest relay one can write with tokio-tungstenite (default settings,
//! no authentication, rooms, sequence numbers, rate limits or resume), speaking the part of PeerJS's protocol the
//! bench's clients use, run as a child process on the servers' CPU. A latency tail it shows in the same rounds comes
//! from the machine (the core stalled, the load generator late), not from what a server does per message. It is a
//! reference, not a bound: it uses the system allocator where `vaidya` uses mimalloc, and in a quiet round either
//! may come out ahead.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response};

use crate::http::Error;
use crate::server::{Baseline, free_port, pinned_command, spawn_logged};
use crate::wsclient::peerjs_open;

#[derive(Args, Debug)]
pub struct FloorArgs {
    /// Loopback port to listen on.
    #[arg(long)]
    port: u16,
}

/// Every registered client's queue, by id.
type Clients = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>>;

/// The part of a relayed frame the relay reads: where it goes.
#[derive(Deserialize)]
struct Addressed<'a> {
    dst: &'a str,
}

/// Serves until killed.
pub async fn serve(args: FloorArgs) -> Result<bool, Error> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, args.port)).await?;
    let clients = Clients::default();
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(client(tcp, clients.clone()));
    }
}

/// One client: registered under the `id` of its upgrade request, then every frame it sends is forwarded unchanged
/// to the client its `dst` names.
async fn client(tcp: TcpStream, clients: Clients) {
    let _ = tcp.set_nodelay(true);
    let mut id = None;
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, Registering(&mut id)).await else { return };
    let Some(id) = id else { return };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _ = tx.send(Message::text(r#"{"type":"OPEN"}"#));
    clients.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), tx);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.send(frame).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(frame)) = stream.next().await {
        if let Message::Text(text) = &frame
            && let Ok(to) = serde_json::from_str::<Addressed>(text.as_str())
            && let Some(peer) = clients.lock().unwrap_or_else(|e| e.into_inner()).get(to.dst)
        {
            let _ = peer.send(frame.clone());
        }
    }
    clients.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    writer.abort();
}

/// Reads the client's id from its upgrade request (`/peerjs?key=..&id=ID&token=..`).
struct Registering<'a>(&'a mut Option<String>);

impl Callback for Registering<'_> {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        *self.0 = request.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("id=")).map(str::to_owned));
        Ok(response)
    }
}

/// Starts the floor relay as a child process of this bench, pinned to `cpus`, and waits until it registers a client.
pub async fn start(cpus: Option<&str>, log_file: PathBuf) -> Result<Baseline, Error> {
    let addr = free_port()?;
    let mut command = pinned_command(&std::env::current_exe()?, cpus);
    command.args(["floor-relay", "--port", &addr.port().to_string()]);
    let mut child = spawn_logged(command, &log_file, "the floor relay")?;
    for attempt in 0..100 {
        if let Some(status) = child.try_wait()? {
            return Err(format!("the floor relay exited ({status}); see {}", log_file.display()).into());
        }
        if peerjs_open(addr, &format!("ready-probe-{attempt}")).await.is_ok() {
            return Ok(Baseline { child, addr, log_file });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("the floor relay was not listening within 10 s; see {}", log_file.display()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsclient::{Kind, stamp};

    #[tokio::test]
    async fn forwards_a_frame_unchanged_to_the_client_it_names_and_drops_one_to_nobody() {
        let addr = free_port().unwrap();
        tokio::spawn(serve(FloorArgs { port: addr.port() }));
        let mut a = loop {
            match peerjs_open(addr, "a").await {
                Ok(ws) => break ws,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let mut b = peerjs_open(addr, "b").await.unwrap();
        a.send(Message::text(Kind::Floor.frame("nobody", 1, "x"))).await.unwrap();
        let frame = Kind::Floor.frame("b", 42, "pad");
        a.send(Message::text(frame.clone())).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), b.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(got.to_text().unwrap(), frame);
        assert_eq!(stamp(got.to_text().unwrap()), Some(42));
        let nothing_more = tokio::time::timeout(Duration::from_millis(200), a.next()).await;
        assert!(nothing_more.is_err(), "the sender got {nothing_more:?}");
    }
}

//! A minimal keep-alive HTTP/1 client: one TCP connection per load task, requests sent one after another.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What a load task sends: built once per request, cheap to clone headers into.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub bearer: Option<HeaderValue>,
    pub json: Option<Bytes>,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Self {
        Self { method: Method::GET, path: path.into(), bearer: None, json: None }
    }

    pub fn post_json(path: impl Into<String>, body: &serde_json::Value) -> Self {
        Self { method: Method::POST, path: path.into(), bearer: None, json: Some(Bytes::from(body.to_string())) }
    }

    pub fn with_bearer(mut self, header: HeaderValue) -> Self {
        self.bearer = Some(header);
        self
    }
}

/// `Authorization: Bearer TOKEN`, built once and cloned into every request.
pub fn bearer(token: &str) -> Result<HeaderValue, Error> {
    Ok(HeaderValue::from_str(&format!("Bearer {token}"))?)
}

/// One open connection to the server under test.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    /// Connects; the bench only ever talks to the loopback server it started.
    pub async fn open(addr: SocketAddr) -> Result<Self, Error> {
        if !addr.ip().is_loopback() {
            return Err(format!("refusing to load {addr}: the bench only targets loopback").into());
        }
        let stream = TcpStream::connect(addr).await?;
        // Small requests and answers: do not let Nagle hold them back.
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the server or this side closes; errors show up on the next send.
            let _ = connection.await;
        });
        Ok(Self { sender, host: HeaderValue::from_str(&addr.to_string())? })
    }

    /// Sends one request and reads the whole answer, so the connection can be reused.
    pub async fn send(&mut self, call: &Call) -> Result<(StatusCode, Bytes), Error> {
        let mut builder = Request::builder().method(call.method.clone()).uri(call.path.as_str()).header(HOST, self.host.clone());
        if let Some(bearer) = &call.bearer {
            builder = builder.header(AUTHORIZATION, bearer.clone());
        }
        let body = match &call.json {
            Some(json) => {
                builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Full::new(json.clone())
            }
            None => Full::new(Bytes::new()),
        };
        self.sender.ready().await?;
        let response = self.sender.send_request(builder.body(body)?).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }
}

/// Sends `call` and parses its JSON answer, failing unless the status is `expect`.
pub async fn call_json(conn: &mut Conn, call: &Call, expect: StatusCode) -> Result<serde_json::Value, Error> {
    call_as(conn, call, expect).await
}

/// Sends `call` and reads the fields of its JSON answer that `T` names, failing unless the status is `expect`: the
/// hot loops skip the rest of the body instead of building a tree of it (which cost the load a third of its CPU).
pub async fn call_as<T: serde::de::DeserializeOwned>(conn: &mut Conn, call: &Call, expect: StatusCode) -> Result<T, Error> {
    let (status, body) = conn.send(call).await?;
    if status != expect {
        return Err(format!("{} answered {status}: {}", call.path, String::from_utf8_lossy(&body)).into());
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Logs in; returns the `Authorization` header of the access token.
pub async fn login(conn: &mut Conn, username: &str, password: &str) -> Result<HeaderValue, Error> {
    let tokens = call_json(
        conn,
        &Call::post_json("/api/v1/auth/login", &serde_json::json!({"username": username, "password": password})),
        StatusCode::OK,
    )
    .await?;
    bearer(tokens["access_token"].as_str().ok_or("no access token")?)
}

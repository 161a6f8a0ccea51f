//! The PeerJS server (npm `peer`, installed under `bench/peerjs/`) as a child process, the baseline vaidya's
//! signalling is measured against.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::http::{Call, Conn, Error};

/// How to start the PeerJS server.
pub struct Launch<'a> {
    pub node: &'a Path,
    /// `node_modules/peer/dist/bin/peerjs.js`.
    pub script: &'a Path,
    pub cpus: Option<&'a str>,
    pub log_file: PathBuf,
}

/// The running `node` child; killed when stopped or dropped.
pub struct PeerJs {
    child: Child,
    pub addr: SocketAddr,
    log_file: PathBuf,
}

impl PeerJs {
    pub async fn start(launch: Launch<'_>) -> Result<Self, Error> {
        if !launch.script.is_file() {
            return Err(format!("{} not found: run `npm ci --prefix bench/peerjs` or pass --peerjs-script", launch.script.display()).into());
        }
        let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?;
        let log = std::fs::File::create(&launch.log_file)?;
        let mut command = match launch.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(launch.node);
                c
            }
            None => Command::new(launch.node),
        };
        command
            .arg(launch.script)
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string(), "--key", "peerjs"])
            // Room for every idle socket; clients that stop sending HEARTBEAT are dropped after alive_timeout, and
            // this bench's receivers send none, so give them ten minutes (no workload runs that long).
            .args(["--concurrent_limit", "1000000", "--alive_timeout", "600000"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| format!("cannot start {}: {e}", launch.node.display()))?;
        let mut server = Self { child, addr, log_file: launch.log_file };
        server.wait_ready(Duration::from_secs(30)).await?;
        Ok(server)
    }

    /// Polls `GET /` (the server's description) until it answers 200.
    async fn wait_ready(&mut self, limit: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!("the PeerJS server exited ({status}); see {}", self.log_file.display()).into());
            }
            if let Ok(mut conn) = Conn::open(self.addr).await
                && let Ok((status, _)) = conn.send(&Call::get("/")).await
                && status.is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("the PeerJS server was not ready within {limit:?}; see {}", self.log_file.display()).into())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) -> Result<(), Error> {
        self.child.kill().await?;
        let _ = std::fs::remove_file(&self.log_file);
        Ok(())
    }
}

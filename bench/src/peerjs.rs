//! The PeerJS server (npm `peer`, installed under `bench/peerjs/`) as a child process, the baseline vaidya's
//! signalling is measured against.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Child;

use crate::http::Error;
use crate::server::{free_port, pinned_command, wait_ready};

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
        let addr = free_port()?;
        let log = std::fs::File::create(&launch.log_file)?;
        let mut command = pinned_command(launch.node, launch.cpus);
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
        // `GET /` answers with the server's description once it listens.
        wait_ready(&mut server.child, server.addr, "/", Duration::from_secs(30), "the PeerJS server", &server.log_file).await?;
        Ok(server)
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

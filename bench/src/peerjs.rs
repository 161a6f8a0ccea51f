//! The PeerJS server (npm `peer`, installed under `bench/peerjs/`) as a child process, the baseline vaidya's
//! signalling is measured against.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::http::Error;
use crate::server::{Baseline, free_port, pinned_command, spawn_logged, wait_ready};

/// How to start the PeerJS server.
pub struct Launch<'a> {
    pub node: &'a Path,
    /// `node_modules/peer/dist/bin/peerjs.js`.
    pub script: &'a Path,
    pub cpus: Option<&'a str>,
    pub log_file: PathBuf,
}

/// Starts the PeerJS server and waits until it answers.
pub async fn start(launch: Launch<'_>) -> Result<Baseline, Error> {
    if !launch.script.is_file() {
        return Err(format!("{} not found: run `npm ci --prefix bench/peerjs` or pass --peerjs-script", launch.script.display()).into());
    }
    let addr = free_port()?;
    let mut command = pinned_command(launch.node, launch.cpus);
    command
        .arg(launch.script)
        .args(["--host", "127.0.0.1", "--port", &addr.port().to_string(), "--key", "peerjs"])
        // Room for every idle socket; clients that stop sending HEARTBEAT are dropped after alive_timeout, and
        // this bench's receivers send none, so give them ten minutes (no workload runs that long).
        .args(["--concurrent_limit", "1000000", "--alive_timeout", "600000"]);
    let child = spawn_logged(command, &launch.log_file, &launch.node.display().to_string())?;
    let mut server = Baseline { child, addr, log_file: launch.log_file };
    // `GET /` answers with the server's description once it listens.
    wait_ready(&mut server.child, server.addr, "/", Duration::from_secs(30), "the PeerJS server", &server.log_file).await?;
    Ok(server)
}

//! Resident memory of a process from `/proc/PID/status`, and the open-file limit the idle-connection workload needs.

use crate::http::Error;

/// Resident memory of one process, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rss {
    /// All resident pages (`VmRSS`), including the mapped binary and libraries.
    pub total_kib: u64,
    /// Anonymous resident pages only (`RssAnon`): heap, stacks, socket buffers held in user space.
    pub anon_kib: u64,
}

/// Reads `VmRSS` and `RssAnon` of `pid`.
pub fn rss(pid: u32) -> Option<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(Rss { total_kib: field("VmRSS:")?, anon_kib: field("RssAnon:").unwrap_or(0) })
}

/// The soft limit on open files of this process.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Makes sure this process (and the servers it starts, which inherit the limit) may open `needed` files,
/// raising the limit with `prlimit` when it is lower (raising the hard limit needs root).
pub fn ensure_open_files(needed: u64) -> Result<(), Error> {
    let current = open_file_limit().unwrap_or(0);
    if current >= needed {
        return Ok(());
    }
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={needed}:{needed}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let now = open_file_limit().unwrap_or(0);
    if now >= needed {
        eprintln!("[signal] open-file limit raised from {current} to {now}");
        Ok(())
    } else {
        Err(format!(
            "the open-file limit is {now} but the idle workload needs about {needed}: run `ulimit -n {needed}` (as root if the hard \
             limit is lower) or pass a smaller --idle"
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory() {
        let me = rss(std::process::id()).unwrap();
        assert!(me.total_kib > 0 && me.anon_kib <= me.total_kib);
    }
}

//! Keeps the kernel's roaming threads off the servers' cores while the signalling figures are taken, as
//! `cset shield --kthread=on` does, and puts them back afterwards.
//!
//! A kernel thread that may run on any CPU (DAMON's `kdamond` on this kind of machine) takes a core for 1–4 ms at a
//! time, several times a second, and is not preempted meanwhile: a server on that core answers nothing until it is done.
//! At 10,000 messages a second those stalls alone reach about 1% of the messages, so they, not the server, would set a
//! p99. Moved to the load generator's cores they cost the measurement nothing, because arrivals are stamped by the
//! kernel ([`crate::rxstamp`]) and the sender does not burst after a stall of its own. Per-CPU kernel threads cannot
//! move and stay; user processes are left alone.
//!
//! The shield also asks the kernel for no idle-state exit latency (`/dev/cpu_dma_latency` held at 0, as `cyclictest`
//! does), so an idle core polls instead of halting: on a virtual machine a halted CPU waits for its host to run it
//! again when a message arrives, a delay that belongs to neither server.

use std::fs::File;
use std::io::Write;
use std::process::{Command, Stdio};

/// Kernel threads moved, with the CPU lists they had, and the latency request; restored on drop.
pub struct Shield {
    moved: Vec<Moved>,
    /// Open while the request holds; closing it withdraws the request.
    no_idle_latency: Option<File>,
}

struct Moved {
    pid: u32,
    name: String,
    cpus: String,
}

/// `PF_KTHREAD` in `/proc/PID/stat`'s flags field.
const PF_KTHREAD: u64 = 0x0020_0000;

impl Shield {
    /// Moves every kernel thread allowed on more than one CPU to `load_cpus` (a `taskset -c` list).
    pub fn raise(load_cpus: &str) -> Self {
        let mut moved = Vec::new();
        for (pid, name) in roaming_kernel_threads() {
            let Some(cpus) = cpus_allowed(pid) else { continue };
            // Threads the kernel keeps where they are (unbound workqueues) refuse, and stay.
            if taskset(pid, load_cpus) {
                moved.push(Moved { pid, name, cpus });
            }
        }
        Self { moved, no_idle_latency: hold_no_idle_latency() }
    }

    /// Whether idle cores poll for the run (the request needs root).
    pub fn polls_when_idle(&self) -> bool {
        self.no_idle_latency.is_some()
    }

    /// The names of the threads moved, for the report.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.moved.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

impl Drop for Shield {
    fn drop(&mut self) {
        for m in &self.moved {
            // A thread that has exited meanwhile has nothing to restore.
            taskset(m.pid, &m.cpus);
        }
    }
}

/// The PM QoS request for a 0 µs idle exit latency: a 32-bit value written to the device, held while the file is open.
fn hold_no_idle_latency() -> Option<File> {
    let mut file = File::options().write(true).open("/dev/cpu_dma_latency").ok()?;
    file.write_all(&0i32.to_ne_bytes()).ok()?;
    Some(file)
}

/// Children of `kthreadd` (pid 2) that are kernel threads allowed on more than one CPU: `(pid, name)`.
fn roaming_kernel_threads() -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (name, ppid, flags) = parse_stat(&stat)?;
            let roams = ppid == 2 && flags & PF_KTHREAD != 0 && cpus_allowed(pid).is_some_and(|c| spans_several(&c));
            roams.then_some((pid, name))
        })
        .collect()
}

/// Name, parent pid and flags from a `/proc/PID/stat` line (the name may hold spaces and parentheses).
fn parse_stat(stat: &str) -> Option<(String, u32, u64)> {
    let name = stat.get(stat.find('(')? + 1..stat.rfind(')')?)?.to_owned();
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    // After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags.
    Some((name, fields.get(1)?.parse().ok()?, fields.get(6)?.parse().ok()?))
}

fn cpus_allowed(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).map(|l| l.trim().to_owned())
}

/// Whether a CPU list such as `0-1` or `3` names more than one CPU.
fn spans_several(list: &str) -> bool {
    list.contains(',') || list.split('-').nth(1).is_some_and(|hi| list.split('-').next() != Some(hi))
}

fn taskset(pid: u32, cpus: &str) -> bool {
    Command::new("taskset")
        .args(["-p", "-c", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_kernel_threads_stat_line() {
        let stat = "107 (kdamond.0) I 2 0 0 0 -1 2129984 0 0 0 0 1 1710 0 0 20 0 1 0 25 0 0";
        assert_eq!(parse_stat(stat), Some(("kdamond.0".to_owned(), 2, 2_129_984)));
        assert_ne!(2_129_984 & PF_KTHREAD, 0);
        let odd = "4243 (memfd:sealed (x)) S 1 4243 4243 0 -1 4194560 0";
        assert_eq!(parse_stat(odd), Some(("memfd:sealed (x)".to_owned(), 1, 4_194_560)));
    }

    #[test]
    fn tells_a_single_cpu_from_several() {
        assert!(spans_several("0-1"));
        assert!(spans_several("0,2"));
        assert!(!spans_several("1"));
        assert!(!spans_several("3-3"));
    }
}

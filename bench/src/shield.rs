//! Keeps the rest of the machine off the servers' cores while the signalling figures are taken, as
//! `cset shield --kthread=on` does, and puts everything back afterwards.
//!
//! Whatever else may run on the servers' core takes it from them: a kernel thread free to roam (DAMON's `kdamond` on
//! this kind of machine holds a core for 1–4 ms several times a second, and is not preempted meanwhile), or one of the
//! machine's own services (a message broker's busy-waiting schedulers). At 10,000 messages a second those stalls reach
//! about 1% of the messages, so they, not the server, would set a p99. Every thread allowed on more than one CPU moves
//! to the load generator's CPUs for the run, where it costs the measurement nothing: arrivals are stamped by the kernel
//! ([`crate::rxstamp`]) and the sender does not burst after a stall of its own. Threads bound to one CPU (per-CPU
//! kernel threads, the servers and this bench, pinned already) stay; so do those the kernel will not move.
//!
//! The shield also asks the kernel for no idle-state exit latency (`/dev/cpu_dma_latency` held at 0, as `cyclictest`
//! does), so an idle core polls instead of halting: on a virtual machine a halted CPU waits for its host to run it
//! again when a message arrives, a delay that belongs to neither server.

use std::fs::File;
use std::io::Write;

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// Threads moved, with the CPUs they had, and the latency request; all undone on drop.
pub struct Shield {
    moved: Vec<Moved>,
    /// Open while the request holds; closing it withdraws the request.
    no_idle_latency: Option<File>,
}

struct Moved {
    tid: Pid,
    process: String,
    kernel: bool,
    cpus: CpuSet,
}

/// `PF_KTHREAD` in `/proc/PID/stat`'s flags field.
const PF_KTHREAD: u64 = 0x0020_0000;

impl Shield {
    /// Moves every thread allowed on more than one CPU to `load_cpus` (a `taskset -c` list such as `1` or `1-3,5`).
    pub fn raise(load_cpus: &str) -> Self {
        let mut moved = Vec::new();
        if let Some(target) = cpu_set(load_cpus) {
            for (tid, process, kernel) in threads() {
                let Ok(cpus) = sched_getaffinity(tid) else { continue };
                // Refusals (threads the kernel keeps where they are, or gone meanwhile) leave the thread as it was.
                if cpus_in(&cpus).len() > 1 && sched_setaffinity(tid, &target).is_ok() {
                    moved.push(Moved { tid, process, kernel, cpus });
                }
            }
        }
        Self { moved, no_idle_latency: hold_no_idle_latency() }
    }

    /// What moved, for the report: the kernel threads by name, the user threads by process.
    pub fn summary(&self) -> String {
        let names = |kernel: bool| {
            let mut names: Vec<&str> = self.moved.iter().filter(|m| m.kernel == kernel).map(|m| m.process.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            names
        };
        let (kernel, user) = (names(true), names(false));
        if kernel.is_empty() && user.is_empty() {
            return "nothing needed moving off the server CPUs".to_owned();
        }
        let threads = self.moved.len();
        format!("{threads} threads moved off the server CPUs for the run (kernel: {}; processes: {})", kernel.join(" "), user.join(" "))
    }

    /// Whether idle cores poll for the run (the request needs root).
    pub fn polls_when_idle(&self) -> bool {
        self.no_idle_latency.is_some()
    }
}

impl Drop for Shield {
    fn drop(&mut self) {
        for m in &self.moved {
            // A thread that has exited meanwhile has nothing to restore.
            let _ = sched_setaffinity(m.tid, &m.cpus);
        }
    }
}

/// The PM QoS request for a 0 µs idle exit latency: a 32-bit value written to the device, held while the file is open.
fn hold_no_idle_latency() -> Option<File> {
    let mut file = File::options().write(true).open("/dev/cpu_dma_latency").ok()?;
    file.write_all(&0i32.to_ne_bytes()).ok()?;
    Some(file)
}

/// Every thread of the machine but this process's own: `(tid, its process's name, whether a kernel thread)`.
fn threads() -> Vec<(Pid, String, bool)> {
    let own = std::process::id();
    let numbered = |dir: &str| -> Vec<u32> {
        std::fs::read_dir(dir).map_or_else(|_| Vec::new(), |d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
    };
    let mut out = Vec::new();
    for pid in numbered("/proc").into_iter().filter(|&p| p != own) {
        let Some((name, flags)) = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parse_stat) else {
            continue;
        };
        let kernel = flags & PF_KTHREAD != 0;
        for tid in numbered(&format!("/proc/{pid}/task")) {
            out.push((Pid::from_raw(tid as i32), name.clone(), kernel));
        }
    }
    out
}

/// Name and flags from a `/proc/PID/stat` line (the name may hold spaces and parentheses).
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let name = stat.get(stat.find('(')? + 1..stat.rfind(')')?)?.to_owned();
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    // After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags.
    Some((name, fields.get(6)?.parse().ok()?))
}

/// The CPUs of a list such as `1`, `0-3` or `1,3-5`; `None` if it names none or is malformed.
fn cpu_set(list: &str) -> Option<CpuSet> {
    let mut set = CpuSet::new();
    let mut any = false;
    for part in list.split(',') {
        let (lo, hi) = match part.trim().split_once('-') {
            Some((lo, hi)) => (lo.parse::<usize>().ok()?, hi.parse::<usize>().ok()?),
            None => {
                let cpu = part.trim().parse::<usize>().ok()?;
                (cpu, cpu)
            }
        };
        for cpu in lo..=hi {
            set.set(cpu).ok()?;
            any = true;
        }
    }
    any.then_some(set)
}

fn cpus_in(set: &CpuSet) -> Vec<usize> {
    (0..CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_stat_line() {
        let stat = "107 (kdamond.0) I 2 0 0 0 -1 2129984 0 0 0 0 1 1710 0 0 20 0 1 0 25 0 0";
        assert_eq!(parse_stat(stat), Some(("kdamond.0".to_owned(), 2_129_984)));
        assert_ne!(2_129_984 & PF_KTHREAD, 0);
        let odd = "4243 (memfd:sealed (x)) S 1 4243 4243 0 -1 4194560 0";
        assert_eq!(parse_stat(odd), Some(("memfd:sealed (x)".to_owned(), 4_194_560)));
        assert_eq!(4_194_560 & PF_KTHREAD, 0);
    }

    #[test]
    fn reads_cpu_lists_as_taskset_writes_them() {
        assert_eq!(cpu_set("1").map(|s| cpus_in(&s)), Some(vec![1]));
        assert_eq!(cpu_set("0-2,5").map(|s| cpus_in(&s)), Some(vec![0, 1, 2, 5]));
        assert_eq!(cpu_set(" 3 ").map(|s| cpus_in(&s)), Some(vec![3]));
        assert!(cpu_set("").is_none());
        assert!(cpu_set("one").is_none());
        assert!(cpu_set("2-x").is_none());
    }

    #[test]
    fn this_threads_own_cpus_can_be_read() {
        let mine = sched_getaffinity(Pid::from_raw(0)).unwrap();
        assert!(!cpus_in(&mine).is_empty());
    }
}

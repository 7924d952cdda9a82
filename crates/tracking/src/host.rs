//! Who holds a run: host facts recorded with every run, and a process identity precise enough
//! to tell at once, on the same host, that a run's process is gone (a reused pid has a
//! different start time).

use std::fs;

use serde::{Deserialize, Serialize};

/// The machine a run ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub name: String,
    pub cpu: String,
    pub gpu: String,
}

impl Host {
    /// This machine, from `/proc` (empty fields where it says nothing).
    pub fn current() -> Self {
        let name = fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            name: if name.is_empty() {
                "unknown".into()
            } else {
                name
            },
            cpu: format!("{model} ({cores} threads)"),
            gpu: gpu_names(),
        }
    }
}

/// NVIDIA GPUs the driver exposes, comma-separated; empty without any.
fn gpu_names() -> String {
    let Ok(entries) = fs::read_dir("/proc/driver/nvidia/gpus") else {
        return String::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("information")).ok())
        .filter_map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("Model:"))
                .map(|m| m.trim().to_string())
        })
        .collect();
    names.sort();
    names.join(", ")
}

/// A process: its pid and its start time (clock ticks after boot, from `/proc/PID/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: u32,
    pub start: u64,
}

impl ProcessId {
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            pid,
            start: start_ticks(pid).unwrap_or(0),
        }
    }

    /// Whether this very process still runs (not merely some process with the same pid).
    pub fn is_alive(&self) -> bool {
        match start_ticks(self.pid) {
            Some(start) => self.start == 0 || start == self.start,
            None => false,
        }
    }
}

/// Field 22 of `/proc/PID/stat`; `None` when there is no such process or it is a zombie.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(ProcessId::current().is_alive());
        assert_ne!(ProcessId::current().start, 0);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let id = ProcessId {
            pid: child.id(),
            start: start_ticks(child.id()).unwrap_or(1),
        };
        child.wait().unwrap();
        assert!(!id.is_alive());
    }

    #[test]
    fn a_reused_pid_with_another_start_time_is_not_the_same_process() {
        let me = ProcessId::current();
        let impostor = ProcessId {
            start: me.start + 1,
            ..me
        };
        assert!(!impostor.is_alive());
    }
}

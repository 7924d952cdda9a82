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
    /// The CPU's [`FLOAT_SIMD_FEATURES`] it has, space-separated, in that list's order
    /// (empty for runs recorded before tagscale kept them).
    pub simd: String,
}

/// The SIMD features (as `/proc/cpuinfo` names them) that decide which kernels a CPU
/// backend picks and so how its floating-point sums are ordered: two hosts that differ in
/// one of them need not give bit-identical results (an AVX-512 host sums 16 lanes at a time,
/// an AVX2 host 8).
pub const FLOAT_SIMD_FEATURES: &[&str] = &[
    "sse4_1",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512dq",
    "avx512bw",
    "avx512vl",
    "avx512_bf16",
    "avx512_fp16",
    "asimd",
    "sve",
];

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
        let flags = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("flags")
                    .or_else(|| l.strip_prefix("Features"))
            })
            .and_then(|l| l.split_once(':'))
            .map_or("", |(_, v)| v);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            name: if name.is_empty() {
                "unknown".into()
            } else {
                name
            },
            cpu: format!("{model} ({cores} threads)"),
            gpu: gpu_names(),
            simd: float_simd(flags),
        }
    }

    /// What differs between this host and `other` that can change floating-point results
    /// (CPU model, SIMD features, GPUs), one phrase each; the host name alone does not.
    /// A side that did not record its SIMD features is not compared on them.
    pub fn float_differences(&self, other: &Host) -> Vec<String> {
        let mut differences = Vec::new();
        if self.cpu != other.cpu {
            differences.push(format!("CPU {} then, {} now", self.cpu, other.cpu));
        }
        if !self.simd.is_empty() && !other.simd.is_empty() && self.simd != other.simd {
            let (lost, gained) = (
                only_in(&self.simd, &other.simd),
                only_in(&other.simd, &self.simd),
            );
            let mut phrase = String::from("SIMD");
            if !lost.is_empty() {
                phrase += &format!(" {} then but not now", lost.join(" "));
            }
            if !gained.is_empty() {
                let sep = if lost.is_empty() { "" } else { ";" };
                phrase += &format!("{sep} {} now but not then", gained.join(" "));
            }
            differences.push(phrase);
        }
        if self.gpu != other.gpu {
            let name = |g: &str| {
                if g.is_empty() {
                    "none".to_string()
                } else {
                    g.to_string()
                }
            };
            differences.push(format!(
                "GPU {} then, {} now",
                name(&self.gpu),
                name(&other.gpu)
            ));
        }
        differences
    }
}

/// The features of space-separated list `a` that `b` lacks.
fn only_in<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
    let theirs: Vec<&str> = b.split_whitespace().collect();
    a.split_whitespace()
        .filter(|f| !theirs.contains(f))
        .collect()
}

/// The [`FLOAT_SIMD_FEATURES`] among a `/proc/cpuinfo` flags line.
fn float_simd(flags: &str) -> String {
    let present: Vec<&str> = flags.split_whitespace().collect();
    FLOAT_SIMD_FEATURES
        .iter()
        .filter(|f| present.contains(f))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
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

    fn host(cpu: &str, simd: &str) -> Host {
        Host {
            name: "node".into(),
            cpu: cpu.into(),
            gpu: String::new(),
            simd: simd.into(),
        }
    }

    #[test]
    fn simd_features_are_read_from_the_flags_line_in_a_fixed_order() {
        let flags = "fpu vme avx2 sse4_2 avx512f fma avx sse4_1 avx512bw";
        assert_eq!(
            float_simd(flags),
            "sse4_1 sse4_2 avx avx2 fma avx512f avx512bw"
        );
        assert_eq!(float_simd(""), "");
        let here = Host::current();
        assert!(
            here.simd
                .split(' ')
                .all(|f| FLOAT_SIMD_FEATURES.contains(&f) || f.is_empty())
        );
    }

    #[test]
    fn float_differences_name_the_cpu_and_the_simd_features_on_each_side() {
        let epyc = "AMD EPYC 9B14 (2 threads)";
        let then = host(epyc, "sse4_2 avx avx2 fma avx512f avx512bw");
        let now = host(epyc, "sse4_2 avx avx2 fma");
        assert_eq!(
            then.float_differences(&now),
            ["SIMD avx512f avx512bw then but not now"]
        );
        assert_eq!(
            now.float_differences(&then),
            ["SIMD avx512f avx512bw now but not then"]
        );
        let other = host("Intel Xeon (2 threads)", "sse4_2 avx2 f16c");
        assert_eq!(
            now.float_differences(&other),
            [
                "CPU AMD EPYC 9B14 (2 threads) then, Intel Xeon (2 threads) now",
                "SIMD avx fma then but not now; f16c now but not then"
            ]
        );
        // Same hardware under another name is no difference; an unrecorded side is not
        // compared on SIMD.
        let renamed = Host {
            name: "other".into(),
            ..now.clone()
        };
        assert!(now.float_differences(&renamed).is_empty());
        assert!(host(epyc, "").float_differences(&then).is_empty());
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

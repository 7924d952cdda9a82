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
    /// The numerical libraries the process had loaded whose version changes results
    /// (`libtorch 2.9.0+cu128 (CUDA 12.8)`); empty for a pure-Rust (flex) process and for runs
    /// recorded before tagscale kept them.
    pub libraries: String,
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
            libraries: fs::read_to_string("/proc/self/maps")
                .map(|maps| loaded_libraries(&maps))
                .unwrap_or_default(),
        }
    }

    /// What differs between this host and `other` that can change floating-point results
    /// (CPU model, SIMD features, GPUs, libtorch), one phrase each; the host name alone does not.
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
        let name = |g: &str| {
            if g.is_empty() {
                "none".to_string()
            } else {
                g.to_string()
            }
        };
        if self.gpu != other.gpu {
            differences.push(format!(
                "GPU {} then, {} now",
                name(&self.gpu),
                name(&other.gpu)
            ));
        }
        if self.libraries != other.libraries {
            differences.push(format!(
                "libraries {} then, {} now",
                name(&self.libraries),
                name(&other.libraries)
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

/// The libtorch a process has mapped (`/proc/self/maps` text), with its version as its
/// installation states it: a libtorch archive's `build-version` beside `lib/`, or PyTorch's
/// `torch/version.py` (version and CUDA). Empty when no libtorch is loaded.
fn loaded_libraries(maps: &str) -> String {
    let Some(lib_dir) = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(std::path::Path::new)
        .find(|p| p.file_name().is_some_and(|n| n == "libtorch_cpu.so"))
        .and_then(std::path::Path::parent)
    else {
        return String::new();
    };
    let Some(root) = lib_dir.parent() else {
        return "libtorch (version unknown)".into();
    };
    if let Ok(version) = fs::read_to_string(root.join("build-version")) {
        return format!("libtorch {}", version.trim());
    }
    let Ok(python) = fs::read_to_string(root.join("version.py")) else {
        return "libtorch (version unknown)".into();
    };
    // `__version__ = '2.9.0+cu128'` and `cuda: Optional[str] = '12.8'` (or `None`).
    let value = |name: &str| {
        python.lines().find_map(|l| {
            let (key, value) = l.split_once('=')?;
            let key = key.split(':').next()?.trim();
            (key == name).then(|| value.trim().trim_matches(['\'', '"']).to_string())
        })
    };
    let version = value("__version__").unwrap_or_else(|| "(version unknown)".into());
    match value("cuda").filter(|c| c != "None") {
        Some(cuda) => format!("libtorch {version} (CUDA {cuda})"),
        None => format!("libtorch {version}"),
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

    fn host(cpu: &str, simd: &str) -> Host {
        Host {
            name: "node".into(),
            cpu: cpu.into(),
            gpu: String::new(),
            simd: simd.into(),
            libraries: String::new(),
        }
    }

    /// What PyTorch's wheel and a libtorch archive each say of themselves, as the run records
    /// it; a process without libtorch (the flex backend) records nothing; another libtorch on
    /// the rerun's side is named as a difference.
    #[test]
    fn libtorch_is_recorded_with_its_version_from_where_it_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("site-packages/torch");
        let archive = dir.path().join("libtorch");
        for root in [&wheel, &archive] {
            fs::create_dir_all(root.join("lib")).unwrap();
        }
        fs::write(
            wheel.join("version.py"),
            "from typing import Optional\n__version__ = '2.9.0+cu128'\ndebug = False\n\
             cuda: Optional[str] = '12.8'\n",
        )
        .unwrap();
        fs::write(archive.join("build-version"), "2.9.0+cpu\n").unwrap();
        let maps = |root: &std::path::Path| {
            format!(
                "7f0000000000-7f0000001000 r--p 00000000 08:01 42 /usr/lib/libc.so.6\n\
                 7f0000002000-7f0000003000 r-xp 00000000 08:01 43 {}\n",
                root.join("lib/libtorch_cpu.so").display()
            )
        };
        assert_eq!(
            loaded_libraries(&maps(&wheel)),
            "libtorch 2.9.0+cu128 (CUDA 12.8)"
        );
        assert_eq!(loaded_libraries(&maps(&archive)), "libtorch 2.9.0+cpu");
        assert_eq!(
            loaded_libraries("7f00-7f01 r--p 0 08:01 42 /usr/lib/libc.so.6\n"),
            ""
        );
        fs::write(
            wheel.join("version.py"),
            "__version__ = '2.9.0+cpu'\ncuda = None\n",
        )
        .unwrap();
        assert_eq!(loaded_libraries(&maps(&wheel)), "libtorch 2.9.0+cpu");

        let epyc = "AMD EPYC 9B14 (2 threads)";
        let (mut then, now) = (host(epyc, "avx2"), host(epyc, "avx2"));
        then.libraries = "libtorch 2.9.0+cpu".into();
        assert_eq!(
            then.float_differences(&now),
            ["libraries libtorch 2.9.0+cpu then, none now"]
        );
        assert!(
            Host::current().libraries.is_empty(),
            "no libtorch in a test of tracking"
        );
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

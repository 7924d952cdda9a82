//! Backends selected at run time (SPEC §6): flex always, libtorch behind `tch`, cuda behind
//! `cuda`. Asking for one this binary was not built with is an error naming the feature.

use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Backend {
    #[serde(rename = "flex")]
    Flex,
    #[serde(rename = "libtorch")]
    Libtorch,
    #[serde(rename = "libtorch-cuda")]
    LibtorchCuda,
    #[serde(rename = "cuda")]
    Cuda,
}

impl Backend {
    pub const ALL: [Backend; 4] = [
        Backend::Flex,
        Backend::Libtorch,
        Backend::LibtorchCuda,
        Backend::Cuda,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Libtorch => "libtorch",
            Backend::LibtorchCuda => "libtorch-cuda",
            Backend::Cuda => "cuda",
        }
    }

    /// The cargo feature that compiles this backend in.
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Backend::Flex => None,
            Backend::Libtorch | Backend::LibtorchCuda => Some("tch"),
            Backend::Cuda => Some("cuda"),
        }
    }

    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Flex => true,
            Backend::Libtorch | Backend::LibtorchCuda => cfg!(feature = "tch"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// Fail with the feature to enable when this binary lacks the backend.
    pub fn check_available(self) -> Result<()> {
        if self.is_compiled() {
            return Ok(());
        }
        let feature = self.feature().unwrap_or_default();
        let hint = match self {
            Backend::Cuda => "rebuild with `--features cuda` (burn-cuda downloads an LLVM bundle at build time, so this needs a networked machine with CUDA)".to_string(),
            _ => format!("rebuild with `cargo build --release --features {feature}` (LibTorch 2.9.0: see the README's libtorch section)"),
        };
        Err(ModelError::BackendUnavailable {
            backend: self.as_str().to_string(),
            hint,
        })
    }

    /// The plain (inference) device of this backend.
    pub fn device(self) -> Result<Device> {
        self.check_available()?;
        Ok(self.build_device())
    }

    #[allow(deprecated)] // burn marks the LibTorch constructors deprecated; they work here.
    fn build_device(self) -> Device {
        match self {
            #[cfg(feature = "tch")]
            Backend::Libtorch => Device::libtorch(),
            #[cfg(feature = "tch")]
            Backend::LibtorchCuda => Device::libtorch_cuda(0),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Device::cuda(0),
            _ => Device::flex(),
        }
    }
}

impl FromStr for Backend {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        Backend::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| ModelError::UnknownBackend(s.to_string()))
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Make the C allocator keep freed memory for reuse: call once at the start of a process that
/// trains. Each training step allocates and frees tensors of many MiB; by default glibc serves
/// blocks over 128 KiB with mmap and returns them to the kernel when freed, so every step
/// faults in (and the kernel zeroes) fresh pages for the same buffers. Serving everything from
/// the heap and never trimming it made flex steps 15–100 % faster here (3 s and 15 s patches;
/// bench/RESULTS.md) for ~13 % more peak memory. Nothing to do outside glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called first thing in main, before
    // the threads that allocate heavily exist (glibc serialises it with allocations anyway).
    unsafe {
        // No mmap'd blocks at all: even the 32 MiB maximum threshold leaves a 15 s batch's
        // tensors to mmap. Large requests of worker threads fall back to the main heap.
        libc::mallopt(libc::M_MMAP_MAX, 0);
        // Trim only above 2 GiB free, and grow the heap in 256 MiB steps.
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

/// Whether `device` is flex (with or without autodiff). The models compute some layers
/// differently there (see the crate README); elsewhere Burn's own layers are faster.
pub fn is_flex(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Flex(_)
    )
}

/// Whether `device` is libtorch's (with or without autodiff), where the models run batch norm
/// on libtorch's native op.
pub fn is_libtorch(device: &Device) -> bool {
    #[cfg(feature = "tch")]
    return matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::LibTorch(_)
    );
    #[cfg(not(feature = "tch"))]
    {
        let _ = device;
        false
    }
}

/// A turn on Burn's random generator, held from seeding to the last draw.
pub type RngTurn = MutexGuard<'static, ()>;

/// Seed `device` and hold the process's one turn on its random generator until the guard is
/// dropped. Burn's CPU backends keep a single generator per process, which initialisers,
/// dropout and `Tensor::random` draw from: two trainings (or tests) seeding and drawing on
/// parallel threads would interleave their draws and neither would be reproducible. A
/// panicked holder leaves nothing to repair (the next holder reseeds), so poison is ignored.
pub fn seed_exclusively(device: &Device, seed: u64) -> RngTurn {
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    turn
}

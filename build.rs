//! Records the code version the binary is built from (git commit, dirty flag and diff,
//! Cargo.lock hash, rustc version), so every run can say what produced it (SPEC §8).

use std::path::Path;
use std::process::Command;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for watched in [
        ".git/HEAD",
        ".git/index",
        "Cargo.lock",
        "src",
        "crates",
        "migrations",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let commit =
        git(&["rev-parse", "HEAD"]).map_or_else(|| "unknown".into(), |s| s.trim().to_string());
    // Untracked files count as dirty too: they may be sources the build picked up.
    let status = git(&["status", "--porcelain", "--untracked-files=normal"]).unwrap_or_default();
    let dirty = !status.trim().is_empty();
    let diff = if dirty {
        git(&["diff", "HEAD"]).unwrap_or_default()
    } else {
        String::new()
    };
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    std::fs::write(Path::new(&out).join("git_diff.txt"), diff).expect("OUT_DIR is writable");
    let lock = std::fs::read(root.join("Cargo.lock")).unwrap_or_default();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=TAGSCALE_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=TAGSCALE_GIT_DIRTY={dirty}");
    println!(
        "cargo:rustc-env=TAGSCALE_CARGO_LOCK_SHA256={}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&lock))
    );
    println!("cargo:rustc-env=TAGSCALE_RUSTC_VERSION={rustc_version}");
}

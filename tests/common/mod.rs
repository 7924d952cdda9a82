//! What the end-to-end tests share: a workspace running the real binary, the smoke grid, and
//! waiting on the store.

#![allow(dead_code)] // each test binary uses its own part

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A workspace: store, data and runs directories.
pub struct Workspace {
    /// Removed on drop; `None` for a shared workspace, which lives as long as the test binary.
    _temporary: Option<tempfile::TempDir>,
    path: PathBuf,
    db: OsString,
}

impl Workspace {
    /// A temporary one with a SQLite store in it.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        Self::at(Some(dir), path)
    }

    /// With the store at `url` (a PostgreSQL database).
    pub fn with_db(url: &str) -> Self {
        Self {
            db: url.into(),
            ..Self::new()
        }
    }

    /// An empty one at `<target>/tmp/<name>`, for tests of one binary that share what it holds
    /// (a static is never dropped, so a fixed place, emptied here, keeps them from piling up).
    pub fn reused(name: &str) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path).unwrap();
        }
        std::fs::create_dir_all(&path).unwrap();
        Self::at(None, path)
    }

    fn at(temporary: Option<tempfile::TempDir>, path: PathBuf) -> Self {
        let db = path.join("tagscale.db").into_os_string();
        Self {
            _temporary: temporary,
            path,
            db,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tagscale"));
        command
            .current_dir(self.path())
            .args(args)
            .arg("--quiet")
            .env("TAGSCALE_DB", &self.db)
            .env("TAGSCALE_DATA", self.path().join("data"))
            .env("TAGSCALE_RUNS", self.path().join("runs"))
            .env_remove("TAGSCALE_LOG");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .expect("the tagscale binary runs")
    }

    pub fn spawn_sweep(&self, extra: &[&str]) -> Child {
        let grid = smoke();
        let mut args = vec!["sweep", grid.to_str().unwrap()];
        args.extend(extra);
        self.command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn runs(&self) -> Vec<Value> {
        let out = self.run(&["runs", "list", "--json"]);
        ok(&out);
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Whether the store exists yet (a sweep just started may not have created it).
    pub fn store_exists(&self) -> bool {
        match tracking::Location::parse(&self.db.to_string_lossy()) {
            Ok(tracking::Location::Sqlite(path)) => path.exists(),
            _ => true,
        }
    }

    pub fn show(&self, id: i64) -> Value {
        let out = self.run(&["runs", "show", &id.to_string(), "--json"]);
        ok(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

pub fn smoke() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/smoke.toml")
}

pub const SMOKE_CELLS: usize = 6;

pub fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn status(run: &Value) -> &str {
    run["status"].as_str().unwrap()
}

/// Cells with their FINISHED runs: exactly one per cell.
pub fn assert_one_finished_per_cell(runs: &[Value]) {
    let mut finished: Vec<i64> = runs
        .iter()
        .filter(|r| status(r) == "FINISHED" && r["rerun_of"].is_null())
        .map(|r| r["cell"].as_i64().unwrap())
        .collect();
    finished.sort_unstable();
    assert_eq!(
        finished,
        (0..SMOKE_CELLS as i64).collect::<Vec<_>>(),
        "{runs:#?}"
    );
}

/// Wait until `pred` holds on the store's runs, or panic after `limit`.
pub fn wait_for(
    ws: &Workspace,
    limit: Duration,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        // Reading commands refuse a store that does not exist yet.
        let runs = if ws.store_exists() {
            ws.runs()
        } else {
            Vec::new()
        };
        if pred(&runs) {
            return runs;
        }
        assert!(
            start.elapsed() < limit,
            "timed out waiting for {what}: {runs:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn process_exists(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

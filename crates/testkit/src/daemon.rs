//! What both servers need: a scratch directory per test process, system accounts to run
//! daemons as, daemons that end with the test process, free ports and readiness polling.

use std::ffi::CString;
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A directory for one server of this test process, `$TMPDIR/tagscale-testkit-<pid>-<name>`.
/// Directories of test processes that are gone are removed first.
pub fn scratch_dir(name: &str) -> PathBuf {
    let temp = std::env::temp_dir();
    remove_stale_scratch(&temp);
    let dir = temp.join(format!("tagscale-testkit-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    set_mode(&dir, 0o755);
    dir
}

fn remove_stale_scratch(temp: &Path) {
    let Ok(entries) = fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("tagscale-testkit-") else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|pid| !process_exists(pid)) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn process_exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// A system account daemons run as when the tests run as root.
#[derive(Debug, Clone, Copy)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// Whether the account `name` exists.
pub fn has_account(name: &str) -> bool {
    let Ok(c_name) = CString::new(name) else {
        return false;
    };
    // SAFETY: getpwnam returns NULL or a pointer to a static record, only compared here.
    !unsafe { libc::getpwnam(c_name.as_ptr()) }.is_null()
}

impl Account {
    /// The account `name`, or a panic saying which package creates it.
    pub fn named(name: &str, package: &str) -> Self {
        let c_name = CString::new(name).expect("account names have no NUL");
        // SAFETY: getpwnam returns NULL or a pointer to a static record we copy at once; the
        // test processes that call this do so from one thread (inside a OnceLock).
        let entry = unsafe { libc::getpwnam(c_name.as_ptr()) };
        if entry.is_null() {
            panic!("no `{name}` account on this machine: install Debian's `{package}`");
        }
        // SAFETY: checked non-null above.
        let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
        Self { uid, gid }
    }

    /// Give `path` to this account.
    pub fn own(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .unwrap_or_else(|e| panic!("cannot chown {}: {e}", path.display()));
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `command` run to completion as `account` (or as ourselves); panics with its output on
/// failure, naming `what`.
pub fn run_as(mut command: Command, account: Option<Account>, what: &str) {
    become_in_child(&mut command, account, false);
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Start a long-running daemon (in the foreground, as `account` if given) whose output goes to
/// `log`. It is spawned from a thread that waits on it, with SIGTERM as its parent-death signal,
/// so it ends when this test process does, however that happens.
pub fn spawn_daemon(mut command: Command, account: Option<Account>, log: &Path) {
    let out = fs::File::create(log)
        .unwrap_or_else(|e| panic!("cannot create the log {}: {e}", log.display()));
    let err = out.try_clone().expect("a log file handle can be cloned");
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .current_dir(log.parent().unwrap_or(Path::new("/")));
    become_in_child(&mut command, account, true);
    let (started, spawned) = mpsc::channel();
    std::thread::spawn(move || match command.spawn() {
        Ok(mut child) => {
            let _ = started.send(Ok(()));
            let _ = child.wait();
        }
        Err(e) => {
            let _ = started.send(Err(format!("cannot start {command:?}: {e}")));
        }
    });
    match spawned.recv() {
        Ok(Ok(())) => {}
        Ok(Err(message)) => panic!("{message}"),
        Err(_) => panic!("the daemon thread ended before starting its daemon"),
    }
}

/// In the child, before exec: drop to `account`, then (credential changes clear it) ask for
/// SIGTERM when the spawning thread ends.
fn become_in_child(command: &mut Command, account: Option<Account>, die_with_parent: bool) {
    // SAFETY: only async-signal-safe calls (setgroups, setgid, setuid, prctl) run in the child.
    unsafe {
        command.pre_exec(move || {
            if let Some(account) = account
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(account.gid) != 0
                    || libc::setuid(account.uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            if die_with_parent && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the loopback interface has a free port")
}

/// Poll `ready` every 200 ms for up to `limit`; panic with `what` and the log's tail if it
/// never holds.
pub fn wait_until(what: &str, limit: Duration, log: &Path, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    panic!(
        "{what} was not ready after {limit:?}; {}:\n{}",
        log.display(),
        tail.join("\n")
    );
}

/// The first of `candidates` that exists, or a panic naming the package that provides it.
pub fn find_binary(candidates: &[PathBuf], package: &str) -> PathBuf {
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!("none of {candidates:?} exists: install Debian's `{package}` (.ci/run does)")
        })
}

//! A throwaway PostgreSQL server on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::daemon::{self, Account};

/// A PostgreSQL server private to this test process (user `tagscale`, trust authentication,
/// 127.0.0.1 only; durability settings off, since nothing here outlives the tests).
pub struct Postgres {
    bin: PathBuf,
    port: u16,
    next_database: AtomicU32,
}

impl Postgres {
    /// The server of this test process, started on first use.
    pub fn shared() -> &'static Postgres {
        static SERVER: OnceLock<Postgres> = OnceLock::new();
        SERVER.get_or_init(Postgres::start)
    }

    fn start() -> Self {
        let bin = bin_dir();
        let dir = daemon::scratch_dir("postgres");
        let account = daemon::is_root().then(|| Account::named("postgres", "postgresql"));
        if let Some(account) = account {
            account.own(&dir);
        }
        let data = dir.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-U", "tagscale", "-A", "trust", "-E", "UTF8", "--no-sync"])
            // A natural-language collation, like most production servers, so tests catch any
            // ORDER BY that would differ from SQLite's bytewise order.
            .args(["--locale-provider=icu", "--icu-locale=en-US"])
            .arg("-D")
            .arg(&data);
        daemon::run_as(initdb, account, "initdb");

        let port = daemon::free_port();
        let log = dir.join("postgres.log");
        let mut server = Command::new(bin.join("postgres"));
        server.arg("-D").arg(&data).arg("-k").arg(&dir).args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]);
        daemon::spawn_daemon(server, account, &log);
        let ready = bin.join("pg_isready");
        daemon::wait_until("PostgreSQL", Duration::from_secs(60), &log, || {
            Command::new(&ready)
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        });
        Self {
            bin,
            port,
            next_database: AtomicU32::new(0),
        }
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://tagscale@127.0.0.1:{}/{name}", self.port)
    }

    /// A new, empty database, for one test.
    pub fn new_database(&self) -> String {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{n}");
        let mut createdb = Command::new(self.bin.join("createdb"));
        createdb.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "tagscale",
            &name,
        ]);
        daemon::run_as(createdb, None, "createdb");
        self.url(&name)
    }
}

/// `$TAGSCALE_PG_BIN`, else the newest `/usr/lib/postgresql/<version>/bin` (Debian's layout).
fn bin_dir() -> PathBuf {
    let initdb = find_initdb().unwrap_or_else(|| {
        panic!("no PostgreSQL initdb under /usr/lib/postgresql: install Debian's `postgresql`")
    });
    initdb
        .parent()
        .map_or_else(|| PathBuf::from("/usr/bin"), Path::to_path_buf)
}

/// `$TAGSCALE_PG_BIN/initdb`, or the newest `/usr/lib/postgresql/<version>/bin/initdb`.
pub(crate) fn find_initdb() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TAGSCALE_PG_BIN") {
        return Some(PathBuf::from(dir).join("initdb"));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, e.path().join("bin").join("initdb")))
        })
        .filter(|(_, initdb)| initdb.is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, initdb)| initdb)
}

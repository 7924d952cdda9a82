//! Errors of the run store.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error("run store {url}: {source}")]
    Database {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("run store {url}: applying migrations failed: {source}")]
    Migrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error(
        "unsupported store URL `{0}`: use a SQLite path, sqlite://PATH or postgres://USER@HOST:PORT/DB"
    )]
    UnsupportedUrl(String),
    #[error("cannot start the run store's async runtime: {0}")]
    Runtime(String),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("no run with id {0} in the store")]
    NoSuchRun(i64),
    #[error("no sweep with id {0} in the store")]
    NoSuchSweep(i64),
    #[error(
        "the run store {path} is damaged ({reason}): restore it from a copy (`sqlite3 {path} \
         .recover` may save its runs), or move it and any -wal / -shm file beside it away to \
         start a new store"
    )]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "the run store {path} cannot be read ({reason}); a -wal file deleted while another \
         process has the store open does this: stop every tagscale process using the store, \
         then run `tagscale db check`"
    )]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "{path} was deleted or replaced while this process had the store open; {}: stop \
         every tagscale process using the store, then run `tagscale db check`",
        if *rescued {
            "what this process wrote was copied into the database file, and it writes no more"
        } else {
            "what this process wrote since its last checkpoint may be lost, and it writes no more"
        }
    )]
    WalLost { path: PathBuf, rescued: bool },
    #[error(
        "the run store {url} has schema version {found}, this build needs {expected}: run \
         `tagscale db migrate` (or any command that writes) to upgrade it"
    )]
    Outdated {
        url: String,
        found: i64,
        expected: i64,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("the store holds a value it cannot read: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, TrackingError>;

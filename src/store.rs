//! Opening the run store named by `--db` / `TAGSCALE_DB`, with that named in any error.

use anyhow::{Context, Result, bail};
use tracking::Store;

/// Open (creating if needed) the store.
pub fn open(db: &str) -> Result<Store> {
    Store::open(db).with_context(|| {
        format!(
            "opening the run store `{}` (--db / TAGSCALE_DB)",
            tracking::redact_password(db)
        )
    })
}

/// Open a store that must already exist: the commands that only read runs (`runs`, `report`,
/// `tag`, `rerun`, `sweep status`) would otherwise create an empty store at a mistyped path
/// and report "no runs".
pub fn open_existing(db: &str) -> Result<Store> {
    if let Ok(tracking::Location::Sqlite(path)) = tracking::Location::parse(db)
        && !path.exists()
    {
        bail!(
            "no run store at {} (--db / TAGSCALE_DB): check the path, or run a sweep to create one",
            path.display()
        );
    }
    open(db)
}

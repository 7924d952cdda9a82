//! `tagscale ui`: the web dashboard over the store (the dashboard crate), read-only.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

#[derive(Args)]
pub struct UiArgs {
    /// Address to listen on; anything but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// A token every request must carry (needed off loopback).
    #[arg(long, env = "TAGSCALE_UI_TOKEN", conflicts_with = "token_file")]
    token: Option<String>,
    /// Read the token from this file (its first line).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Open the dashboard in the desktop's browser once it listens.
    #[arg(long)]
    open: bool,
}

pub fn run(args: UiArgs, db: &str) -> Result<()> {
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string(),
        ),
        None => args.token,
    };
    let config = dashboard::Config {
        bind: args.bind,
        token,
        runs_root: runner::env::absolute(&runner::env::runs_root()),
        data_root: runner::env::absolute(&runner::env::data_root()),
    };
    // Checked before the store is opened, so a refused bind says so first.
    config.check()?;
    let store = tracking::Store::open_read_only(db)?;
    let query = config
        .token
        .as_ref()
        .map_or(String::new(), |t| format!("?token={t}"));
    let url_of = |addr: SocketAddr| format!("http://{addr}/{query}");
    if !config.bind.ip().is_loopback() {
        tracing::warn!(
            "the dashboard listens on {}: other hosts can reach it with the token",
            config.bind
        );
    }
    let open = args.open;
    dashboard::serve(store, config, |addr| {
        // The one line a script waits for.
        println!("dashboard: {}", url_of(addr));
        if open {
            let _ = std::process::Command::new("xdg-open")
                .arg(url_of(addr))
                .spawn();
        }
    })?;
    Ok(())
}

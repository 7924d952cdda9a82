//! # dashboard — `tagscale ui`, a local web dashboard over the run store
//!
//! A web server (axum) that reads the store through [`tracking`] opened read-only, so it never
//! holds a lock a sweep waits on, and renders every page on the server (maud escapes every
//! value it interpolates), so the pages work with JavaScript off; the one script, embedded
//! like the stylesheet, only refreshes the live parts of a sweep's page. Pages: the sweeps,
//! a sweep (its grid, its cells live, the Δ-table and learning curves of [`reports`]), all
//! runs (filtered, sorted and paged in SQL, or their seeds pooled per sweep cell config), a
//! run (config, code, host, hashes, curves, per-tag figures, artifacts, log tail, the rerun
//! command), a comparison of runs or of seed groups, and a sweep's test tracks to listen to
//! beside the tags a deep model and GBT give them.
//!
//! Security: loopback by default; any other address needs a token ([`Config::check`]), taken
//! from `Authorization: Bearer`, a `?token=` link (which sets a cookie) or that cookie on every
//! request; artifacts are served only when recorded in the store and inside the runs root;
//! every response carries a restrictive Content-Security-Policy.
//!
//! ```no_run
//! let store = tracking::Store::open_read_only("tagscale.db")?;
//! let config = dashboard::Config {
//!     bind: "127.0.0.1:8080".parse()?,
//!     token: None,
//!     runs_root: "runs".into(),
//!     data_root: "data".into(),
//! };
//! dashboard::serve(store, config, |addr| println!("http://{addr}/"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod analyses;
mod chart;
mod groups;
mod listen;
mod pages;
mod security;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tracking::Store;

/// Where the dashboard listens and what it serves.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Required on every request when set; required to be set off loopback.
    pub token: Option<String>,
    /// Artifacts are served only from inside this directory.
    pub runs_root: PathBuf,
    /// Where imported datasets live (`$TAGSCALE_DATA`), for the Listen page's audio.
    pub data_root: PathBuf,
}

impl Config {
    /// Refuse an address other hosts can reach without a token.
    /// A token travels in a link, a header and a cookie as it is, so it is limited to
    /// characters none of them needs to escape.
    pub fn check(&self) -> Result<(), DashboardError> {
        if !self.bind.ip().is_loopback() && self.token.as_deref().is_none_or(str::is_empty) {
            return Err(DashboardError::TokenRequired(self.bind));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if self
            .token
            .as_deref()
            .is_some_and(|t| t.is_empty() || !t.chars().all(plain))
        {
            return Err(DashboardError::BadToken);
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(
        "{0} is reachable from other hosts: give a token (--token or --token-file) that every \
         request must carry, or bind to 127.0.0.1"
    )]
    TokenRequired(SocketAddr),
    #[error("a token must be non-empty and made of letters, digits and - . _ ~ only")]
    BadToken,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the dashboard server failed: {0}")]
    Server(std::io::Error),
}

/// What every handler shares.
pub(crate) struct AppState {
    pub store: Store,
    pub config: Config,
    pub datasets: listen::Datasets,
    pub analyses: Arc<analyses::Analyses>,
}

pub(crate) type Shared = Arc<AppState>;

/// Serve until the process ends; `ready` is called with the bound address (port 0 picks one).
pub fn serve(
    store: Store,
    config: Config,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), DashboardError> {
    config.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DashboardError::Server)?;
    let bind = config.bind;
    let state = Arc::new(AppState {
        store,
        config,
        datasets: listen::Datasets::default(),
        analyses: Arc::default(),
    });
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| DashboardError::Bind { addr: bind, source })?;
        let addr = listener.local_addr().map_err(DashboardError::Server)?;
        ready(addr);
        axum::serve(listener, router(state))
            .await
            .map_err(DashboardError::Server)
    })
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/sweeps", get(pages::sweeps))
        .route("/sweeps/rows", get(pages::sweep_rows))
        .route("/sweeps/{id}", get(pages::sweep))
        .route("/sweeps/{id}/cells", get(pages::sweep_cells))
        .route("/sweeps/{id}/analysis", get(pages::sweep_analysis))
        .route(
            "/sweeps/{id}/learning_curves.svg",
            get(pages::learning_curves),
        )
        .route("/runs", get(pages::runs))
        .route("/runs/{id}", get(pages::run))
        .route("/runs/{id}/artifacts/{name}", get(pages::artifact))
        .route("/runs/{id}/audio/{track}", get(listen::audio))
        .route("/sweeps/{id}/listen", get(listen::listen))
        .route("/compare", get(pages::compare))
        .route("/assets/style.css", get(pages::style))
        .route("/assets/live.js", get(pages::script))
        .route("/assets/favicon.svg", get(pages::favicon))
        // Browsers ask for it whatever the page links.
        .route("/favicon.ico", get(pages::favicon))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
}

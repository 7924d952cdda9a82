//! The pages. Each handler reads the store on a blocking thread and renders HTML with maud,
//! which escapes every interpolated value.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use reports::Analysis;
use reports::data::{CellAxes, METRICS};
use serde_json::Value;
use tracking::keys::{artifact, metric, split};
use tracking::{
    CellSpec, EpochMetric, FinalMetric, RunFilter, RunOrder, RunRecord, Status, Store, format_time,
    now_ms,
};

use crate::Shared;
use crate::analyses::{self, View};
use crate::chart::{self, Series};
use crate::groups;
use crate::security::inside_root;

/// Runs per page of the runs table.
const PAGE_SIZE: usize = 50;
/// The highest page number a URL may ask for.
pub(crate) const MAX_PAGE: usize = 1 << 31;
/// How much of a log the run page shows (its end).
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// A page that could not be rendered: its status and the reason, shown escaped.
pub struct PageError(pub StatusCode, pub String);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = layout("Error", html! { p.error { (self.1) } });
        (self.0, body).into_response()
    }
}

impl From<tracking::TrackingError> for PageError {
    fn from(e: tracking::TrackingError) -> Self {
        let status = match e {
            tracking::TrackingError::NoSuchRun(_) | tracking::TrackingError::NoSuchSweep(_) => {
                StatusCode::NOT_FOUND
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        PageError(status, e.to_string())
    }
}

impl From<reports::ReportError> for PageError {
    fn from(e: reports::ReportError) -> Self {
        PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

pub(crate) type Page = Result<Markup, PageError>;

/// Run `read` against the server's state off the async threads (the store blocks).
pub(crate) async fn with_app<T: Send + 'static>(
    state: &Shared,
    read: impl FnOnce(&Shared) -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || read(&state))
        .await
        .map_err(|e| PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// [`with_app`] for pages that need only the store and the configuration.
pub(crate) async fn with_store<T: Send + 'static>(
    state: &Shared,
    read: impl FnOnce(&Store, &crate::Config) -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    with_app(state, move |app| read(&app.store, &app.config)).await
}

pub(crate) fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — tagscale" }
                link rel="icon" type="image/svg+xml" href="/assets/favicon.svg";
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/live.js" defer {}
            }
            body {
                nav { a href="/sweeps" { "Sweeps" } a href="/runs" { "Runs" } }
                main { h1 { (title) } (body) }
            }
        }
    }
}

fn status_cell(status: Status) -> Markup {
    html! { span class={ "status-" (status.as_str()) } { (status.as_str()) } }
}

fn time_or_dash(ms: Option<i64>) -> String {
    ms.map_or_else(|| "—".into(), format_time)
}

fn figure(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.4}"))
}

pub async fn home() -> Redirect {
    Redirect::to("/sweeps")
}

pub async fn not_found() -> PageError {
    PageError(StatusCode::NOT_FOUND, "no such page".into())
}

pub async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/style.css"),
    )
}

pub async fn favicon() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        include_str!("assets/favicon.svg"),
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/live.js"),
    )
}

// ---- sweeps ----------------------------------------------------------------------------

pub async fn sweeps(State(state): State<Shared>) -> Page {
    let rows = with_store(&state, |store, _| sweep_rows_markup(store)).await?;
    Ok(layout(
        "Sweeps",
        html! {
            table #sweeps {
                thead { tr {
                    th.num { "sweep" } th { "experiment" } th { "grid" } th { "sha256" }
                    th.num { "cells" } th { "finished" } th { "running" } th { "failed" }
                    th { "killed" } th { "not run" } th { "created" } th { "started" } th { "ended" }
                } }
                tbody data-refresh="/sweeps/rows" { (rows) }
            }
        },
    ))
}

pub async fn sweep_rows(State(state): State<Shared>) -> Page {
    with_store(&state, |store, _| sweep_rows_markup(store)).await
}

fn sweep_rows_markup(store: &Store) -> Page {
    let sweeps = store.sweep_summaries()?;
    // Cells not run yet count: a sweep starting (building its cache) has no runs yet.
    let active: usize = sweeps
        .iter()
        .map(|s| s.counts.running + s.counts.queued + s.counts.not_run)
        .sum();
    Ok(html! {
        @for (i, s) in sweeps.iter().enumerate() {
            tr data-active=[(i == 0).then_some(active)] {
                td.num { a href={ "/sweeps/" (s.id) } { (s.id) } }
                td { (s.experiment) }
                td { code { (s.grid_path) } }
                td { code { (s.spec_sha256.get(..12).unwrap_or(&s.spec_sha256)) } }
                td.num { (s.cells) }
                td.num { (s.counts.finished) }
                td.num { (s.counts.running + s.counts.queued) }
                td.num { (s.counts.failed) }
                td.num { (s.counts.killed) }
                td.num { (s.counts.not_run) }
                td { (format_time(s.created_at)) }
                td { (time_or_dash(s.started_at)) }
                td { (time_or_dash(s.ended_at)) }
            }
        }
        @if sweeps.is_empty() {
            tr data-active="0" { td colspan="13" { "no sweeps in this store yet" } }
        }
    })
}

pub async fn sweep(State(state): State<Shared>, UrlPath(id): UrlPath<i64>) -> Page {
    with_app(&state, move |app| {
        let store = &app.store;
        let record = store.sweep(id)?;
        let (cells, active) = cells_markup(store, id)?;
        let analysis = analysis_markup(app, id, active)?;
        Ok(layout(
            &format!("Sweep {id}: {}", record.experiment),
            html! {
                @if !record.description.is_empty() { p { (record.description) } }
                p.muted {
                    "grid " code { (record.grid_path) } ", sha256 " code { (record.spec_sha256) }
                    ", created " (format_time(record.created_at))
                    " — " a href={ "/runs?sweep=" (id) } { "its runs" }
                    " — " a href={ "/sweeps/" (id) "/listen" } { "listen to its test tracks" }
                }
                h2 { "Cells" }
                table #cells {
                    thead { tr {
                        th.num { "cell" } th { "model" } th.num { "train size" } th { "backend" }
                        th.num { "seed" } th.num { "run" } th { "status" } th.num { "step" }
                        th.num { "valid loss" } th.num { "valid ROC-AUC" } th { "ETA" }
                        th.num { "test ROC-AUC" } th.num { "test PR-AUC" } th.num { "test RMSE" }
                    } }
                    tbody data-refresh={ "/sweeps/" (id) "/cells" } { (cells) }
                }
                div #analysis data-refresh={ "/sweeps/" (id) "/analysis" } { (analysis) }
                h2 { "Grid" }
                pre { (record.spec_toml) }
            },
        ))
    })
    .await
}

pub async fn sweep_cells(State(state): State<Shared>, UrlPath(id): UrlPath<i64>) -> Page {
    with_store(&state, move |store, _| Ok(cells_markup(store, id)?.0)).await
}

/// The sweep page's analysis part (the live refresh fetches it alone).
pub async fn sweep_analysis(State(state): State<Shared>, UrlPath(id): UrlPath<i64>) -> Page {
    with_app(&state, move |app| {
        let record = app.store.sweep(id)?;
        let active = still_active(&app.store.cell_runs(&record)?);
        analysis_markup(app, id, active)
    })
    .await
}

pub async fn learning_curves(
    State(state): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Response, PageError> {
    let svg = with_app(&state, move |app| {
        let analysis = match analysis_view(app, id, IMAGE_WAIT)? {
            View::Fresh(a) | View::Updating(Some(a)) => a.value,
            View::Updating(None) => {
                return Err(PageError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the learning curves are still being computed".into(),
                ));
            }
        };
        Ok(analysis.learning_curves_svg()?)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// How long a page waits for a sweep's analysis before showing it as being computed.
const PAGE_WAIT: Duration = Duration::from_millis(200);
/// How long the learning-curves image waits for it.
const IMAGE_WAIT: Duration = Duration::from_secs(60);

/// The analysis of sweep `id`'s cells as they are now, waited for at most `wait`.
fn analysis_view(app: &Shared, id: i64, wait: Duration) -> Result<View<Analysis>, PageError> {
    let stamp = analyses::stamp(&app.store, id)?;
    let shared = Arc::clone(app);
    let compute = move || Analysis::compute(&shared.store, id).map_err(|e| e.to_string());
    (app.analyses)
        .view(id, stamp, wait, compute)
        .map_err(|e| PageError(StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// The Δ-table, learning curves and crossover of sweep `id`; while they are computed, the
/// previous ones (if any) under a note. It stays live (`data-active`) while it is computed
/// or cells may still change it.
fn analysis_markup(app: &Shared, id: i64, active_cells: usize) -> Page {
    let view = analysis_view(app, id, PAGE_WAIT)?;
    let (shown, updating) = match &view {
        View::Fresh(a) => (Some(a), false),
        View::Updating(previous) => (previous.as_ref(), true),
    };
    Ok(html! {
        div data-active=(active_cells + usize::from(updating)) {
            @if updating {
                p.muted.updating {
                    "Computing the test-set intervals and the learning-curve fits of the cells as "
                    "they are now"
                    @if shown.is_some() { "; shown meanwhile: those of an earlier state of the cells" }
                    ". This part of the page updates itself (or reload it)."
                }
            }
            @if let Some(a) = shown {
                h2 { "Δ-table (test set)" }
                (delta_table(&a.value.rows))
                h2 { "Learning curves" }
                img.curves src={ "/sweeps/" (id) "/learning_curves.svg?v=" (a.number) }
                    alt="learning curves: each metric against the training-set size";
                @if !a.value.answers.is_empty() {
                    h2 { "Where the deep models overtake GBT" }
                    ul { @for answer in &a.value.answers { li { (answer) } } }
                }
            }
        }
    })
}

/// The cells' rows: status, progress of running runs (newest evaluation, ETA), test figures;
/// and how many cells are queued, running or not run yet.
fn cells_markup(store: &Store, id: i64) -> Result<(Markup, usize), PageError> {
    let record = store.sweep(id)?;
    let cells = store.cell_runs(&record)?;
    let ids: Vec<i64> = cells
        .iter()
        .filter_map(|(_, r)| r.as_ref().map(|r| r.id))
        .collect();
    let latest = store.latest_epochs(&ids)?;
    let tests = store.macro_metrics(&ids, split::TEST)?;
    let active = still_active(&cells);
    let axes = cells
        .iter()
        .map(|(cell, _)| CellAxes::of(cell))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = html! {
        @for (i, ((cell, run), axes)) in cells.iter().zip(&axes).enumerate() {
            @let epoch = run.as_ref().and_then(|r| latest.get(&r.id));
            @let test = run.as_ref().and_then(|r| tests.get(&r.id));
            tr data-active=[(i == 0).then_some(active)] {
                td.num { (cell.index) }
                td { (axes.model) }
                td.num { (axes.train_size) }
                td { (axes.backend()) }
                td.num { (axes.seed) }
                @match run {
                    Some(r) => {
                        td.num { a href={ "/runs/" (r.id) } { (r.id) } }
                        td { (status_cell(r.status)) }
                    }
                    None => { td.num { "—" } td.muted { "not run" } }
                }
                td.num { (epoch_value(epoch, split::TRAIN, metric::STEP).map_or_else(|| "—".into(), |s| format!("{s:.0}"))) }
                td.num { (figure(epoch_value(epoch, split::VALID, metric::LOSS))) }
                td.num { (figure(epoch_value(epoch, split::VALID, metric::ROC_AUC))) }
                td { (eta(run.as_ref(), epoch, axes.max_steps())) }
                @for m in METRICS {
                    td.num { (figure(test.and_then(|t| macro_of(t, m.key())))) }
                }
            }
        }
    };
    Ok((rows, active))
}

/// Cells whose run may still change: queued, running, or not run yet (a starting sweep has
/// not claimed them yet) — what keeps a sweep page live.
fn still_active(cells: &[(CellSpec, Option<RunRecord>)]) -> usize {
    cells
        .iter()
        .filter(|(_, r)| {
            r.as_ref()
                .is_none_or(|r| matches!(r.status, Status::Queued | Status::Running))
        })
        .count()
}

pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        v => v.to_string(),
    }
}

fn epoch_value(epoch: Option<&Vec<EpochMetric>>, split: &str, key: &str) -> Option<f64> {
    epoch?
        .iter()
        .find(|m| m.split == split && m.key == key)
        .map(|m| m.value)
}

fn macro_of(metrics: &[FinalMetric], key: &str) -> Option<f64> {
    metrics
        .iter()
        .find(|m| m.key == key && m.tag.is_none())
        .map(|m| m.value)
}

/// A running run's time to its step budget at its pace so far (early stopping may end it
/// sooner, hence "≤").
fn eta(run: Option<&RunRecord>, epoch: Option<&Vec<EpochMetric>>, budget: Option<u64>) -> String {
    let Some(run) = run.filter(|r| r.status == Status::Running) else {
        return String::new();
    };
    let (Some(started), Some(step), Some(budget)) = (
        run.started_at,
        epoch_value(epoch, split::TRAIN, metric::STEP),
        budget.map(|b| b as f64),
    ) else {
        return String::new();
    };
    let elapsed = (now_ms() - started) as f64 / 1000.0;
    if step <= 0.0 {
        return String::new();
    }
    let left = (budget - step).max(0.0) * elapsed / step;
    format!("≤ {:.0} min", (left / 60.0).ceil())
}

fn delta_table(rows: &[reports::table::Row]) -> Markup {
    html! {
        table #delta {
            thead { tr {
                th.num { "train size" } th { "system" }
                @for m in METRICS { th.num { (m.label()) } }
                th.num { "seeds" }
            } }
            tbody {
                @for row in rows {
                    tr {
                        td.num { (row.size) }
                        td { (row.label) }
                        @for i in 0..METRICS.len() {
                            td.num {
                                @if row.best[i] { b.best { (reports::table::cell_text(row, i)) } }
                                @else { (reports::table::cell_text(row, i)) }
                            }
                        }
                        td.num { (row.entry.seeds) }
                    }
                }
            }
        }
        @if let Some(legend) = reports::table::legend(rows) { p.muted { (legend) } }
    }
}

// ---- runs ------------------------------------------------------------------------------

/// The runs table's query: filters, sort and page, as the URL carries them.
fn run_filter(q: &HashMap<String, String>) -> Result<RunFilter, PageError> {
    let text = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let number = |k: &str| -> Result<Option<i64>, PageError> {
        text(k)
            .map(|v| {
                v.parse().map_err(|_| {
                    PageError(
                        StatusCode::BAD_REQUEST,
                        format!("`{k}` must be a whole number, not `{v}`"),
                    )
                })
            })
            .transpose()
    };
    let status = text("status")
        .map(|s| {
            s.parse::<Status>()
                .map_err(|e| PageError(StatusCode::BAD_REQUEST, e))
        })
        .transpose()?;
    Ok(RunFilter {
        status,
        model: text("model"),
        train_size: number("size")?,
        backend: text("backend"),
        seed: number("seed")?,
        sweep: number("sweep")?,
        dataset_hash: text("dataset"),
        code: text("code"),
        text: text("q"),
    })
}

pub async fn runs(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Page {
    let filter = run_filter(&q)?;
    let order = q
        .get("sort")
        .and_then(|s| RunOrder::parse(s))
        .unwrap_or_default();
    let descending = q.get("desc").is_some_and(|v| v == "1");
    // Bounded so that no page number from a URL can overflow the offset or the links.
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
        .min(MAX_PAGE);
    if q.get("group").is_some_and(|g| g == groups::SEEDS) {
        return groups::grouped_runs(&state, filter, page, q).await;
    }
    let query = q.clone();
    with_store(&state, move |store, _| {
        let found = store.runs_page(&filter, order, descending, page * PAGE_SIZE, PAGE_SIZE)?;
        let ids: Vec<i64> = found.runs.iter().map(|r| r.id).collect();
        let tests = store.macro_metrics(&ids, split::TEST)?;
        let pages = found.total.div_ceil(PAGE_SIZE).max(1);
        let link = |changes: &[(&str, String)]| runs_link(&query, changes);
        Ok(layout(
            "Runs",
            html! {
                form.filters method="get" action="/runs" {
                    select name="status" {
                        option value="" { "any status" }
                        @for s in Status::ALL {
                            option value=(s.as_str()) selected[filter.status == Some(s)] { (s.as_str()) }
                        }
                    }
                    @for (name, label) in [("model", "model"), ("size", "train size"), ("backend", "backend"),
                                           ("seed", "seed"), ("sweep", "sweep"), ("dataset", "dataset hash"),
                                           ("code", "commit"), ("q", "config contains")] {
                        input type="text" name=(name) placeholder=(label)
                            value=(query.get(name).cloned().unwrap_or_default());
                    }
                    @if let Some(group) = query.get("group") { input type="hidden" name="group" value=(group); }
                    button type="submit" { "Filter" }
                    " " a href="/runs" { "clear" }
                }
                p.muted #count {
                    (found.total) " runs — page " (page + 1) " of " (pages) " · "
                    a href=(link(&[("group", groups::SEEDS.into()), ("page", String::new())])) { "group seeds" }
                }
                form method="get" action="/compare" {
                    table #runs {
                        thead { tr {
                            th { "compare" }
                            @for (o, label) in [(RunOrder::Id, "id"), (RunOrder::Model, "model"),
                                                (RunOrder::TrainSize, "train size"), (RunOrder::Backend, "backend"),
                                                (RunOrder::Seed, "seed"), (RunOrder::Status, "status"),
                                                (RunOrder::Started, "started"), (RunOrder::Duration, "duration")] {
                                th { a href=(link(&[("sort", o.as_str().into()),
                                        ("desc", if order == o && !descending { "1".into() } else { String::new() }),
                                        ("page", String::new())])) { (label) } }
                            }
                            th.num { "sweep" } th.num { "cell" }
                            @for m in METRICS { th.num { "test " (m.label()) } }
                        } }
                        tbody {
                            @for r in &found.runs {
                                @let test = tests.get(&r.id);
                                tr {
                                    td { input type="checkbox" name="run" value=(r.id); }
                                    td.num { a href={ "/runs/" (r.id) } { (r.id) } }
                                    td { (r.axes.model) }
                                    td.num { (r.axes.train_size) }
                                    td { (r.axes.backend) }
                                    td.num { (r.axes.seed) }
                                    td { (status_cell(r.status)) }
                                    td { (time_or_dash(r.started_at)) }
                                    td.num { (duration(r)) }
                                    td.num { (r.sweep.map_or("—".into(), |s| s.to_string())) }
                                    td.num { (r.cell.map_or("—".into(), |c| c.to_string())) }
                                    @for m in METRICS {
                                        td.num { (figure(test.and_then(|t| macro_of(t, m.key())))) }
                                    }
                                }
                            }
                        }
                    }
                    button type="submit" { "Compare the checked runs" }
                }
                p {
                    @if page > 0 { a href=(link(&[("page", (page - 1).to_string())])) { "← previous" } " " }
                    @if page + 1 < pages { a href=(link(&[("page", (page + 1).to_string())])) { "next →" } }
                }
            },
        ))
    })
    .await
}

/// `/runs?…` with the current query and `changes` applied (an empty value removes a key).
pub(crate) fn runs_link(query: &HashMap<String, String>, changes: &[(&str, String)]) -> String {
    let mut params: BTreeMap<&str, &str> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (k, v) in changes {
        if v.is_empty() {
            params.remove(k);
        } else {
            params.insert(k, v);
        }
    }
    let encoded: Vec<String> = params
        .iter()
        .filter(|(k, v)| !v.is_empty() && **k != "token")
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect();
    format!("/runs?{}", encoded.join("&"))
}

pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn duration(run: &RunRecord) -> String {
    match (run.started_at, run.ended_at) {
        (Some(s), Some(e)) => format!("{:.1} s", (e - s) as f64 / 1000.0),
        (Some(_), None) => "running".into(),
        _ => "—".into(),
    }
}

// ---- one run ---------------------------------------------------------------------------

pub async fn run(
    State(state): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> Page {
    let order = TagOrder::parse(&q)?;
    with_store(&state, move |store, config| {
        let run = store.run(id)?;
        let epochs = store.epoch_metrics(id)?;
        let metrics = store.run_metrics(id)?;
        let artifacts = store.artifacts(id)?;
        let reruns = store.reruns_of(id)?;
        let resolved: Value = serde_json::from_str(&run.config_json).unwrap_or(Value::Null);
        let pretty = serde_json::to_string_pretty(&resolved).unwrap_or_else(|_| run.config_json.clone());
        let log = log_tail(&run, &config.runs_root);
        Ok(layout(
            &format!("Run {id}: {} n={} {} seed {}", run.axes.model, run.axes.train_size, run.axes.backend, run.axes.seed),
            html! {
                table #summary {
                    tr { th { "status" } td { (status_cell(run.status)) } }
                    @if let Some(error) = &run.error { tr { th { "why it stopped" } td { (error) } } }
                    @if let Some(reason) = stop_reason(&metrics) { tr { th { "training" } td { (reason) } } }
                    tr { th { "sweep / cell" } td {
                        @if let Some(s) = run.sweep { a href={ "/sweeps/" (s) } { "sweep " (s) } }
                        @else { "—" }
                        @if let Some(c) = run.cell { " cell " (c) }
                    } }
                    @if let Some(original) = run.rerun_of {
                        tr { th { "rerun of" } td { a href={ "/runs/" (original) } { "run " (original) } } }
                    }
                    @if !reruns.is_empty() {
                        tr { th { "reruns" } td { @for r in &reruns { a href={ "/runs/" (r) } { "run " (r) } " " } } }
                    }
                    tr { th { "created / started / ended" } td {
                        (format_time(run.created_at)) " / " (time_or_dash(run.started_at)) " / " (time_or_dash(run.ended_at))
                    } }
                    tr { th { "code" } td { code { (run.code.short()) } " — " (run.code.rustc_version)
                        ", cargo features: " (if run.code.cargo_features.is_empty() { "none" } else { &run.code.cargo_features }) } }
                    tr { th { "host" } td { (run.host.name) " — " (run.host.cpu) " — " (run.host.simd)
                        @if !run.host.gpu.is_empty() { " — " (run.host.gpu) }
                        @if !run.host.libraries.is_empty() { " — " (run.host.libraries) } ", " (run.threads) " threads" } }
                    tr { th { "dataset / subset" } td { code { (run.dataset_hash.as_deref().unwrap_or("—")) } " / "
                        code { (run.subset_hash.as_deref().unwrap_or("—")) } } }
                    tr { th { "config hash" } td { code { (run.config_hash) } } }
                    tr { th { "re-run it" } td { code #rerun { "tagscale rerun " (id) " --verify" } } }
                }
                h2 { "Training" }
                (training_charts(&epochs))
                h2 { "Test figures" }
                (figures_table(id, &metrics, order))
                h2 { "Artifacts" }
                @if artifacts.is_empty() { p.muted { "none recorded (they are recorded when the run finishes)" } }
                @else {
                    table #artifacts {
                        thead { tr { th { "name" } th { "path" } th.num { "bytes" } th { "sha256" } } }
                        tbody { @for a in &artifacts { tr {
                            td { a href={ "/runs/" (id) "/artifacts/" (url_encode(&a.name)) } { (a.name) } }
                            td { code { (a.path) } } td.num { (a.size) }
                            td { code { (a.sha256.get(..16).unwrap_or(&a.sha256)) } }
                        } } }
                    }
                }
                h2 { "Config" }
                pre #config { (pretty) }
                @if !run.code.git_diff.is_empty() {
                    details { summary { "Uncommitted changes it ran with (git diff)" } pre { (run.code.git_diff) } }
                }
                h2 { "Log (end)" }
                pre #log { (log) }
            },
        ))
    })
    .await
}

fn stop_reason(metrics: &[FinalMetric]) -> Option<String> {
    let value = |key: &str| {
        metrics
            .iter()
            .find(|m| m.split == split::TRAIN && m.key == key && m.tag.is_none())
            .map(|m| m.value)
    };
    use tracking::keys::training;
    Some(training::describe_stop(
        value(training::STOPPED_EARLY)?,
        value(training::EVALUATIONS)?,
        value(training::STEPS)?,
    ))
}

fn training_charts(epochs: &[EpochMetric]) -> Markup {
    let series = |split: &str, key: &str, label: &str| Series {
        label: label.into(),
        points: points_by_step(epochs, split, key),
    };
    html! {
        (chart::lines("loss", "step", &[
            series(split::TRAIN, metric::LOSS, "train loss"),
            series(split::VALID, metric::LOSS, "valid loss"),
        ]))
        (chart::lines("validation ROC-AUC / PR-AUC", "step", &[
            series(split::VALID, metric::ROC_AUC, "valid ROC-AUC"),
            series(split::VALID, metric::PR_AUC, "valid PR-AUC"),
        ]))
    }
}

/// `(step, value)` of one split and key per evaluation.
pub(crate) fn points_by_step(epochs: &[EpochMetric], split: &str, key: &str) -> Vec<(f64, f64)> {
    let steps: BTreeMap<i64, f64> = epochs
        .iter()
        .filter(|m| m.split == split::TRAIN && m.key == metric::STEP)
        .map(|m| (m.epoch, m.value))
        .collect();
    epochs
        .iter()
        .filter(|m| m.split == split && m.key == key)
        .map(|m| {
            (
                steps.get(&m.epoch).copied().unwrap_or(m.epoch as f64),
                m.value,
            )
        })
        .collect()
}

fn interval_text(m: &FinalMetric) -> String {
    match m.ci {
        Some((low, high)) => format!("{:.4} [{low:.4}, {high:.4}]", m.value),
        None => format!("{:.4}", m.value),
    }
}

/// The macro figures, then one row per tag; the per-tag rows sorted by name.
/// How the run page orders its per-tag rows (`?sort=roc_auc&desc=1`): by tag name, or by one
/// figure with tags lacking it last.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TagOrder {
    by: Option<reports::data::Metric>,
    descending: bool,
}

impl TagOrder {
    fn parse(q: &HashMap<String, String>) -> Result<Self, PageError> {
        let by =
            match q.get("sort").map(String::as_str) {
                None | Some("") | Some("tag") => None,
                Some(key) => Some(METRICS.into_iter().find(|m| m.key() == key).ok_or_else(
                    || {
                        PageError(
                            StatusCode::BAD_REQUEST,
                            format!(
                                "`sort={key}`: the per-tag figures sort by tag, {}",
                                METRICS.map(|m| m.key()).join(", ")
                            ),
                        )
                    },
                )?),
            };
        Ok(Self {
            by,
            descending: q.get("desc").is_some_and(|v| v == "1"),
        })
    }

    /// The header link that sorts by `by`: ascending, or reversed when already so sorted.
    fn link(self, run: i64, by: Option<reports::data::Metric>) -> String {
        let key = by.map_or("tag", |m| m.key());
        let desc = if self.by == by && !self.descending {
            "&desc=1"
        } else {
            ""
        };
        format!("/runs/{run}?sort={key}{desc}#figures")
    }
}

fn figures_table(run: i64, metrics: &[FinalMetric], order: TagOrder) -> Markup {
    let test: Vec<&FinalMetric> = metrics.iter().filter(|m| m.split == split::TEST).collect();
    let prior: Vec<&FinalMetric> = metrics
        .iter()
        .filter(|m| m.split == split::TEST_PRIOR && m.tag.is_none())
        .collect();
    let cell = |tag: Option<&str>, key: &str, from: &[&FinalMetric]| {
        from.iter()
            .find(|m| m.tag.as_deref() == tag && m.key == key)
            .map_or_else(|| "—".to_string(), |m| interval_text(m))
    };
    let mut tags: Vec<&str> = test
        .iter()
        .filter_map(|m| m.tag.as_deref())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if let Some(metric) = order.by {
        let values: HashMap<&str, f64> = test
            .iter()
            .filter(|m| m.key == metric.key())
            .filter_map(|m| Some((m.tag.as_deref()?, m.value)))
            .collect();
        // Tags without the figure (e.g. RMSE of a classification tag) stay last either way.
        tags.sort_by(|a, b| match (values.get(a), values.get(b)) {
            (Some(x), Some(y)) => x.total_cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        if order.descending {
            let known = tags.iter().filter(|t| values.contains_key(*t)).count();
            tags[..known].reverse();
        }
    } else if order.descending {
        tags.reverse();
    }
    let arrow = |by: Option<reports::data::Metric>| match (order.by == by, order.descending) {
        (true, false) => " ↑",
        (true, true) => " ↓",
        _ => "",
    };
    html! {
        @if test.is_empty() { p.muted { "no test figures (yet)" } }
        @else {
            table #figures {
                thead { tr {
                    th { a href=(order.link(run, None)) { "tag" (arrow(None)) } }
                    @for m in METRICS { th.num { a href=(order.link(run, Some(m))) { (m.label()) (arrow(Some(m))) } } }
                } }
                tbody {
                    tr { th { "macro" } @for m in METRICS { td.num { (cell(None, m.key(), &test)) } } }
                    @if !prior.is_empty() {
                        tr.muted { th { "constant (training mean)" } @for m in METRICS { td.num { (cell(None, m.key(), &prior)) } } }
                    }
                    @for tag in &tags {
                        tr.tag { td { (tag) } @for m in METRICS { td.num { (cell(Some(tag), m.key(), &test)) } } }
                    }
                }
            }
        }
    }
}

/// The end of a run's log, read from its artifact directory when that is inside the runs root.
fn log_tail(run: &RunRecord, runs_root: &Path) -> String {
    let Some(dir) = run.artifact_dir.as_deref() else {
        return "(no artifact directory yet)".into();
    };
    let Some(path) = inside_root(runs_root, &Path::new(dir).join(artifact::LOG_FILE)) else {
        return format!("(no log inside the runs root {})", runs_root.display());
    };
    use std::io::{Read, Seek, SeekFrom};
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(&path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

pub async fn artifact(
    State(state): State<Shared>,
    UrlPath((id, name)): UrlPath<(i64, String)>,
) -> Result<Response, PageError> {
    let (file_name, bytes) = with_store(&state, move |store, config| {
        let recorded = store
            .artifacts(id)?
            .into_iter()
            .find(|a| a.name == name)
            .ok_or_else(|| {
                PageError(
                    StatusCode::NOT_FOUND,
                    format!("run {id} has no artifact `{name}`"),
                )
            })?;
        let path = inside_root(&config.runs_root, Path::new(&recorded.path)).ok_or_else(|| {
            PageError(
                StatusCode::FORBIDDEN,
                format!("artifact `{name}` of run {id} is not a file inside the runs root"),
            )
        })?;
        let bytes = std::fs::read(&path).map_err(|e| {
            PageError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{}: {e}", path.display()),
            )
        })?;
        let file_name = path
            .file_name()
            .map_or_else(|| "artifact".into(), |n| n.to_string_lossy().into_owned());
        Ok((file_name, bytes))
    })
    .await?;
    let safe: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

// ---- compare ---------------------------------------------------------------------------

pub async fn compare(State(state): State<Shared>, RawQuery(query): RawQuery) -> Page {
    let query = query.unwrap_or_default();
    let groups = ids_of(&query, "group")?;
    if !groups.is_empty() {
        return groups::compare_groups(&state, groups).await;
    }
    let ids = ids_of(&query, "run")?;
    if ids.len() < 2 {
        return Err(PageError(
            StatusCode::BAD_REQUEST,
            "check two or more runs on the runs page to compare them".into(),
        ));
    }
    with_store(&state, move |store, _| {
        let mut flat = Vec::new();
        let mut epochs = Vec::new();
        for &id in &ids {
            let run = store.run(id)?;
            flat.push(reports::compare::flatten_run(&run, &store.run_metrics(id)?));
            epochs.push(store.epoch_metrics(id)?);
        }
        let differing = reports::compare::differing_keys(&flat);
        let curves = |split: &str, key: &str| -> Vec<Series> {
            ids.iter()
                .zip(&epochs)
                .map(|(id, e)| Series {
                    label: format!("run {id}"),
                    points: points_by_step(e, split, key),
                })
                .collect()
        };
        Ok(layout(
            &format!("Compare runs {}", ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
            html! {
                p.muted { (differing.len()) " differing keys of config, code, host and metrics; equal keys are left out" }
                table #differences {
                    thead { tr { th { "key" } @for id in &ids { th { a href={ "/runs/" (id) } { "run " (id) } } }
                        @if ids.len() == 2 { th.num { "difference" } } } }
                    tbody {
                        @for key in &differing {
                            tr {
                                td { code { (key) } }
                                @for f in &flat { td { (f.get(key).map_or_else(|| "—".into(), text)) } }
                                @if ids.len() == 2 { td.num { (difference(flat[1].get(key), flat[0].get(key))) } }
                            }
                        }
                    }
                }
                h2 { "Curves" }
                (chart::lines("valid loss", "step", &curves(split::VALID, metric::LOSS)))
                (chart::lines("valid ROC-AUC", "step", &curves(split::VALID, metric::ROC_AUC)))
            },
        ))
    })
    .await
}

/// The run ids of every `name=ID` in a query (repeated keys, so not a map).
fn ids_of(query: &str, name: &str) -> Result<Vec<i64>, PageError> {
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .map(|v| {
            v.parse().map_err(|_| {
                PageError(
                    StatusCode::BAD_REQUEST,
                    format!("`{name}={v}` is not a run id"),
                )
            })
        })
        .collect()
}

/// `b − a` of two numbers, blank otherwise.
fn difference(b: Option<&Value>, a: Option<&Value>) -> String {
    match (b.and_then(Value::as_f64), a.and_then(Value::as_f64)) {
        (Some(y), Some(x)) => format!("{:+.4}", y - x),
        _ => String::new(),
    }
}

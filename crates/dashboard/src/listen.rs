//! The Listen page: a sweep's test tracks with an audio player, the human labels and the
//! classification tags a deep model and GBT score highest, side by side (the paper's
//! qualitative comparison, for every test track); and the audio itself — the dataset's file,
//! or a synthetic track rendered to WAV on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use datasets::{Manifest, Source, Split};
use maud::{Markup, html};
use reports::data::SweepData;
use reports::examples::{Showcase, TOP};
use reports::test_set::{POSITIVE, TestSet};
use tracking::keys::model;
use tracking::{RunRecord, Status};

use crate::pages::{Page, PageError, layout, with_app};
use crate::security::inside_root;
use crate::{AppState, Shared};

/// Test tracks per page.
const TRACKS_PER_PAGE: usize = 10;

/// Datasets the audio route has resolved, by the dataset section of a run's config: a
/// synthetic corpus's manifest is generated, an imported one parsed, once per server.
#[derive(Default)]
pub struct Datasets(Mutex<HashMap<String, Arc<Dataset>>>);

pub struct Dataset {
    manifest: Manifest,
    /// The manifest's content hash, compared with the hash a run recorded.
    hash: String,
    by_id: HashMap<String, usize>,
}

fn bad_request(message: String) -> PageError {
    PageError(StatusCode::BAD_REQUEST, message)
}

/// The dataset run `run` trained on, as it is on disk now; refused when its content hash is
/// not the one the run recorded (the tracks would not be the ones it was tested on).
fn dataset_of(app: &AppState, run: &RunRecord) -> Result<Arc<Dataset>, PageError> {
    let config = runner::RunConfig::from_json(&run.config_json)
        .map_err(|e| PageError(StatusCode::CONFLICT, format!("run {}: {e}", run.id)))?;
    let key = serde_json::to_string(&config.dataset).unwrap_or_default();
    let mut cache = app.datasets.0.lock().map_err(|_| {
        PageError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "a lock was poisoned".into(),
        )
    })?;
    let dataset = match cache.get(&key) {
        Some(d) => d.clone(),
        None => {
            let manifest = runner::dataset::manifest_of(&config.dataset, &app.config.data_root)
                .map_err(|e| {
                    PageError(
                        StatusCode::NOT_FOUND,
                        format!("the dataset of run {} is not here: {e}", run.id),
                    )
                })?;
            let dataset = Arc::new(Dataset {
                hash: manifest.content_hash(),
                by_id: (manifest.tracks.iter().enumerate())
                    .map(|(i, t)| (t.id.clone(), i))
                    .collect(),
                manifest,
            });
            cache.insert(key, dataset.clone());
            dataset
        }
    };
    match run.dataset_hash.as_deref() {
        Some(recorded) if recorded != dataset.hash => Err(PageError(
            StatusCode::CONFLICT,
            format!(
                "the dataset on disk (hash {}) is not the one run {} used (hash {recorded})",
                dataset.hash, run.id
            ),
        )),
        _ => Ok(dataset),
    }
}

/// The audio of test track `track` of run `id`'s dataset; a `Range` request gets that part
/// (206), so a browser can seek.
pub async fn audio(
    State(state): State<Shared>,
    UrlPath((id, track)): UrlPath<(i64, String)>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (content_type, bytes) = with_app(&state, move |app| {
        let run = app.store.run(id)?;
        let dataset = dataset_of(app, &run)?;
        let entry = dataset
            .by_id
            .get(&track)
            .map(|&i| &dataset.manifest.tracks[i])
            .filter(|t| t.split == Split::Test)
            .ok_or_else(|| {
                PageError(
                    StatusCode::NOT_FOUND,
                    format!("run {id}'s dataset has no test track `{track}`"),
                )
            })?;
        match &entry.source {
            Source::Synth { seed, index } => {
                let seconds = entry
                    .duration
                    .unwrap_or(runner::dataset::DEFAULT_SYNTH_SECONDS);
                let samples = datasets::synth::render_track(*seed, *index, seconds);
                let wav = datasets::synth::wav_bytes(&samples).map_err(|e| {
                    PageError(StatusCode::INTERNAL_SERVER_ERROR, format!("WAV: {e}"))
                })?;
                Ok(("audio/wav", wav))
            }
            Source::File { .. } => {
                let path = dataset.manifest.audio_path(entry).unwrap_or_default();
                let bytes = std::fs::read(&path).map_err(|e| {
                    PageError(StatusCode::NOT_FOUND, format!("{}: {e}", path.display()))
                })?;
                Ok((audio_type(&path), bytes))
            }
        }
    })
    .await?;
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let len = bytes.len() as u64;
    let kind = (header::CONTENT_TYPE, content_type);
    let ranges = (header::ACCEPT_RANGES, "bytes");
    Ok(match byte_range(asked, len) {
        ByteRange::Whole => ([kind, ranges], bytes).into_response(),
        ByteRange::Part { first, last } => {
            let part = bytes[first as usize..=last as usize].to_vec();
            let content_range = format!("bytes {first}-{last}/{len}");
            let headers = [
                kind,
                ranges,
                (header::CONTENT_RANGE, content_range.as_str()),
            ];
            (StatusCode::PARTIAL_CONTENT, headers, part).into_response()
        }
        ByteRange::Unsatisfiable => {
            let content_range = format!("bytes */{len}");
            let headers = [ranges, (header::CONTENT_RANGE, content_range.as_str())];
            (StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response()
        }
    })
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, PartialEq)]
enum ByteRange {
    /// No range, or one this server does not serve in parts (several ranges, other units,
    /// malformed): the whole body, as RFC 9110 §14.2 allows.
    Whole,
    /// Bytes `first..=last`.
    Part { first: u64, last: u64 },
    /// A range wholly past the end.
    Unsatisfiable,
}

/// One `bytes=` range: `a-b`, `a-` or the suffix `-n` (RFC 9110 §14.1.2).
fn byte_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    let Some((start, end)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last) = match (start.trim(), end.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => return ByteRange::Unsatisfiable,
            Some(n) => (len.saturating_sub(n), len.saturating_sub(1)),
            None => return ByteRange::Whole,
        },
        (a, "") => match number(a) {
            Some(a) => (a, len.saturating_sub(1)),
            None => return ByteRange::Whole,
        },
        (a, b) => match (number(a), number(b)) {
            (Some(a), Some(b)) if a <= b => (a, b.min(len.saturating_sub(1))),
            _ => return ByteRange::Whole,
        },
    };
    if len == 0 || first >= len {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part { first, last }
}

/// The media type a browser needs to play an audio file, from its extension.
fn audio_type(path: &std::path::Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" | "mp4" => "audio/mp4",
        _ => "application/octet-stream",
    }
}

/// One side of the comparison: a run and its saved test set.
struct System {
    run: RunRecord,
    label: String,
    set: Result<TestSet, String>,
}

/// What the Listen page's URL asks for.
struct ListenQuery {
    deep: Option<i64>,
    gbt: Option<i64>,
    tag: Option<String>,
    page: usize,
}

impl ListenQuery {
    fn parse(q: &HashMap<String, String>) -> Result<Self, PageError> {
        let run = |k: &str| -> Result<Option<i64>, PageError> {
            q.get(k)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.parse()
                        .map_err(|_| bad_request(format!("`{k}` must be a run id, not `{v}`")))
                })
                .transpose()
        };
        Ok(Self {
            deep: run("deep")?,
            gbt: run("gbt")?,
            tag: q.get("tag").filter(|t| !t.is_empty()).cloned(),
            page: q
                .get("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0usize)
                .min(crate::pages::MAX_PAGE),
        })
    }
}

fn run_label(run: &RunRecord) -> String {
    format!(
        "run {} — {} n={} {} seed {}",
        run.id, run.axes.model, run.axes.train_size, run.axes.backend, run.axes.seed
    )
}

/// The run `asked` (which must be a finished run of the sweep of the right family), else the
/// showcase's default.
fn choose(
    candidates: &[&RunRecord],
    asked: Option<i64>,
    default: Option<i64>,
    family: &str,
) -> Result<Option<RunRecord>, PageError> {
    match asked {
        Some(id) => candidates
            .iter()
            .find(|r| r.id == id)
            .map(|r| Some((*r).clone()))
            .ok_or_else(|| {
                bad_request(format!(
                    "run {id} is not a finished {family} run of this sweep"
                ))
            }),
        None => {
            Ok(default.and_then(|d| candidates.iter().find(|r| r.id == d).map(|r| (*r).clone())))
        }
    }
}

pub async fn listen(
    State(state): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> Page {
    let query = ListenQuery::parse(&q)?;
    with_app(&state, move |app| {
        let data = SweepData::load_runs(&app.store, id)?;
        let finished: Vec<&RunRecord> = data
            .cells
            .iter()
            .filter_map(|c| c.run.as_ref())
            .filter(|r| r.status == Status::Finished)
            .collect();
        let (gbts, deeps): (Vec<&RunRecord>, Vec<&RunRecord>) =
            finished.iter().partition(|r| r.axes.model == model::GBT);
        let showcase = Showcase::of(&data);
        let default_of = |c: Option<&reports::data::CellResult>| c.and_then(|c| c.run.as_ref()).map(|r| r.id);
        let runs_root = app.config.runs_root.clone();
        let load = |run: RunRecord| System {
            label: run_label(&run),
            set: TestSet::of_run(&app.store, run.id, |p| inside_root(&runs_root, p)),
            run,
        };
        let deep = choose(&deeps, query.deep, default_of(showcase.deep), "deep")?.map(load);
        let gbt = choose(&gbts, query.gbt, default_of(showcase.gbt), model::GBT)?.map(load);
        let systems: Vec<&System> = deep.iter().chain(gbt.iter()).collect();
        let title = format!("Listen: sweep {id}, {}", data.sweep.experiment);
        let Some(reference) = systems.iter().find_map(|s| s.set.as_ref().ok().map(|set| (s, set))) else {
            return Ok(layout(&title, html! {
                p.muted { "No finished run of this sweep has saved test predictions yet." }
                @for s in &systems { @if let Err(e) = &s.set { p.error { (e) } } }
            }));
        };
        let (audio_run, labels) = (reference.0.run.id, reference.1);
        let classification: Vec<&str> = (labels.names.iter().zip(&labels.kinds))
            .filter(|(_, k)| **k == metrics::TagKind::Classification)
            .map(|(n, _)| n.as_str())
            .collect();
        if let Some(tag) = &query.tag
            && !classification.contains(&tag.as_str())
        {
            return Err(bad_request(format!("no classification tag `{tag}` in this sweep's dataset")));
        }
        let tracks: Vec<usize> = (0..labels.tracks.len())
            .filter(|&t| {
                query.tag.as_ref().is_none_or(|tag| labels.positives(t).iter().any(|p| p.tag == tag))
            })
            .collect();
        let pages = tracks.len().div_ceil(TRACKS_PER_PAGE).max(1);
        let shown = tracks.iter().skip(query.page * TRACKS_PER_PAGE).take(TRACKS_PER_PAGE);
        let link = |page: usize| {
            let mut params = vec![format!("page={page}")];
            for (k, v) in [("deep", deep.as_ref()), ("gbt", gbt.as_ref())] {
                if let Some(s) = v { params.push(format!("{k}={}", s.run.id)); }
            }
            if let Some(tag) = &query.tag { params.push(format!("tag={}", crate::pages::url_encode(tag))); }
            format!("/sweeps/{id}/listen?{}", params.join("&"))
        };
        Ok(layout(&title, html! {
            p.muted {
                "Each test track with the classification tags its human labels give (label ≥ " (POSITIVE)
                ") and the " (TOP) " each model scores highest, marked ✓ where the human labels agree; "
                "then the regression tags. By default the deep model (spectrogram, else waveform) and GBT "
                "trained on the largest training set, first seed — the runs of the report's examples.md. "
                a href={ "/sweeps/" (id) } { "Back to the sweep" } "."
            }
            form.filters.listen method="get" action={ "/sweeps/" (id) "/listen" } {
                (run_select("deep", &deeps, deep.as_ref().map(|s| s.run.id)))
                (run_select("gbt", &gbts, gbt.as_ref().map(|s| s.run.id)))
                select name="tag" {
                    option value="" { "every test track" }
                    @for t in &classification {
                        option value=(t) selected[query.tag.as_deref() == Some(*t)] { "labelled " (t) }
                    }
                }
                button type="submit" { "Show" }
            }
            @for s in &systems { @if let Err(e) = &s.set { p.error { (s.label) ": " (e) } } }
            p.muted #track-count { (tracks.len()) " test tracks — page " (query.page + 1) " of " (pages) }
            @for &t in shown { (track_markup(audio_run, labels, t, &systems)) }
            p {
                @if query.page > 0 { a href=(link(query.page - 1)) { "← previous" } " " }
                @if query.page + 1 < pages { a href=(link(query.page + 1)) { "next →" } }
            }
        }))
    })
    .await
}

fn run_select(name: &str, runs: &[&RunRecord], chosen: Option<i64>) -> Markup {
    html! {
        select name=(name) {
            @if runs.is_empty() { option value="" { "no finished " (name) " run" } }
            @for r in runs {
                option value=(r.id) selected[chosen == Some(r.id)] { (run_label(r)) }
            }
        }
    }
}

/// One track: its player, then human labels beside each system's top tags, then the
/// regression tags.
fn track_markup(audio_run: i64, labels: &TestSet, track: usize, systems: &[&System]) -> Markup {
    let id = &labels.tracks[track];
    let human = labels.positives(track);
    let is_positive = |tag: &str| human.iter().any(|h| h.tag == tag);
    let rows_of = |s: &System| -> Vec<Markup> {
        let Ok(set) = &s.set else { return Vec::new() };
        let Some(row) = set.track(id) else {
            return vec![html! { span.muted { "not a test track of this run" } }];
        };
        set.top(row, TOP)
            .iter()
            .map(|t| {
                html! {
                    @if is_positive(t.tag) { span.hit title="in the human labels" { "✓ " (t.tag) } }
                    @else { (t.tag) }
                    " " span.muted { (format!("{:.2}", t.value)) }
                }
            })
            .collect()
    };
    let columns: Vec<Vec<Markup>> = systems.iter().map(|s| rows_of(s)).collect();
    let depth = columns
        .iter()
        .map(Vec::len)
        .chain([human.len()])
        .max()
        .unwrap_or(0);
    let regression = labels.regression(track);
    html! {
        section.track id={ "track-" (id) } {
            h3 { (id) }
            audio controls preload="none" src={ "/runs/" (audio_run) "/audio/" (crate::pages::url_encode(id)) } {}
            table.listen {
                thead { tr {
                    th.num { "rank" } th { "human labels" }
                    @for s in systems { th { a href={ "/runs/" (s.run.id) } { (s.label) } } }
                } }
                tbody {
                    @for rank in 0..depth { tr {
                        td.num { (rank + 1) }
                        td { (human.get(rank).map_or("", |h| h.tag)) }
                        @for column in &columns { td { @if let Some(cell) = column.get(rank) { (cell) } } }
                    } }
                }
            }
            @if !regression.is_empty() {
                table.regression {
                    thead { tr { th { "regression tag" } th.num { "human" }
                        @for s in systems { th.num { (s.run.axes.model) } } } }
                    tbody { @for (tag, truth, _) in &regression { tr {
                        td { (tag) } td.num { (format!("{truth:.2}")) }
                        @for s in systems { td.num { (regression_of(s, id, tag)) } }
                    } } }
                }
            }
        }
    }
}

fn regression_of(system: &System, track: &str, tag: &str) -> String {
    system
        .set
        .as_ref()
        .ok()
        .and_then(|set| {
            let row = set.track(track)?;
            set.regression(row)
                .into_iter()
                .find(|(t, ..)| *t == tag)
                .map(|(_, _, p)| format!("{p:.2}"))
        })
        .unwrap_or_else(|| "—".into())
}

#[cfg(test)]
mod tests {
    use super::{ByteRange, byte_range};

    fn part(first: u64, last: u64) -> ByteRange {
        ByteRange::Part { first, last }
    }

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(byte_range(None, 100), ByteRange::Whole);
        assert_eq!(byte_range(Some("bytes=0-9"), 100), part(0, 9));
        assert_eq!(byte_range(Some("bytes=90-"), 100), part(90, 99));
        assert_eq!(byte_range(Some("bytes=-10"), 100), part(90, 99));
        assert_eq!(byte_range(Some("bytes=-500"), 100), part(0, 99));
        assert_eq!(byte_range(Some("bytes=50-500"), 100), part(50, 99));
        assert_eq!(
            byte_range(Some("bytes=100-"), 100),
            ByteRange::Unsatisfiable
        );
        assert_eq!(byte_range(Some("bytes=-0"), 100), ByteRange::Unsatisfiable);
        assert_eq!(byte_range(Some("bytes=0-"), 0), ByteRange::Unsatisfiable);
        // Served whole: several ranges, other units, malformed or reversed.
        for whole in [
            "bytes=0-1,5-9",
            "items=0-9",
            "bytes=x-9",
            "bytes=9-1",
            "bytes=+1-2",
            "0-9",
        ] {
            assert_eq!(byte_range(Some(whole), 100), ByteRange::Whole, "{whole}");
        }
    }
}

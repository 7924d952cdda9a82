//! Seed groups: the runs table with the seeds of each sweep cell config pooled (mean ± std,
//! n, per test figure; `/runs?group=seeds`), and two or more groups compared
//! (`/compare?group=RUN&group=RUN`, each group named by one of its runs).

use std::collections::HashMap;

use axum::http::StatusCode;
use maud::{Markup, html};
use reports::data::METRICS;
use reports::groups::{GroupSummary, mean_difference};
use tracking::keys::{metric, split};
use tracking::{RunFilter, RunRecord, SeedGroup, Store};

use crate::Shared;
use crate::chart::{self, Series};
use crate::pages::{
    MAX_PAGE, Page, PageError, layout, points_by_step, runs_link, text, with_store,
};

/// Groups per page.
const PAGE_SIZE: usize = 50;

/// The value of `group=` that pools seeds.
pub const SEEDS: &str = "seeds";

/// The runs page grouped: filters as on the runs page, paged over groups.
pub async fn grouped_runs(
    state: &Shared,
    filter: RunFilter,
    page: usize,
    query: HashMap<String, String>,
) -> Page {
    let page = page.min(MAX_PAGE);
    with_store(state, move |store, _| {
        let found = store.seed_groups(&filter, page * PAGE_SIZE, PAGE_SIZE)?;
        let summaries = summarise(store, &found.groups)?;
        let pages = found.total.div_ceil(PAGE_SIZE).max(1);
        let link = |changes: &[(&str, String)]| runs_link(&query, changes);
        Ok(layout(
            "Runs by seed group",
            html! {
                p.muted {
                    "Runs that differ only by seed — the original runs (not reruns) of one sweep with one model, training-set size and backend — pooled: each test figure's mean ± sample std over the group's finished runs, with n. "
                    a href=(link(&[("group", String::new()), ("page", String::new())])) { "show every run" }
                }
                p.muted #count { (found.total) " groups — page " (page + 1) " of " (pages) }
                form method="get" action="/compare" {
                    table #groups {
                        thead { tr {
                            th { "compare" } th.num { "sweep" } th { "model" } th.num { "train size" }
                            th { "backend" } th { "seeds" } th.num { "finished" }
                            @for m in METRICS { th.num { "test " (m.label()) } }
                        } }
                        tbody {
                            @for (g, summary) in found.groups.iter().zip(&summaries) {
                                tr {
                                    td { input type="checkbox" name="group" value=(g.runs[0].id); }
                                    td.num { (g.sweep.map_or("—".into(), |s| s.to_string())) }
                                    td { (g.model) }
                                    td.num { (g.train_size) }
                                    td { (g.backend) }
                                    td { (seeds(g)) }
                                    td.num { (summary.finished) " / " (g.runs.len()) }
                                    @for m in METRICS {
                                        td.num { (summary.figure(m).map_or_else(|| "—".into(), |s| s.text())) }
                                    }
                                }
                            }
                        }
                    }
                    button type="submit" { "Compare the checked groups" }
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

/// Each group's summary, from one query for all their runs' test figures.
fn summarise(store: &Store, groups: &[SeedGroup]) -> Result<Vec<GroupSummary>, PageError> {
    let ids: Vec<i64> = groups
        .iter()
        .flat_map(|g| g.finished().map(|r| r.id))
        .collect();
    let tests = store.macro_metrics(&ids, split::TEST)?;
    Ok(groups
        .iter()
        .map(|g| GroupSummary::of(&g.runs, &tests))
        .collect())
}

/// `1, 2, 3` linked to the runs.
fn seeds(group: &SeedGroup) -> Markup {
    html! {
        @for (i, r) in group.runs.iter().enumerate() {
            @if i > 0 { ", " }
            a href={ "/runs/" (r.id) } title={ "run " (r.id) ", " (r.status.as_str()) } { (r.axes.seed) }
        }
    }
}

/// The groups of `ids` side by side: what their configs differ in besides the seed, each
/// figure's mean ± std (n) and, for two, the difference of the means; every run's validation
/// curves overlaid.
pub async fn compare_groups(state: &Shared, ids: Vec<i64>) -> Page {
    if ids.len() < 2 {
        return Err(PageError(
            StatusCode::BAD_REQUEST,
            "check two or more groups on the grouped runs page to compare them".into(),
        ));
    }
    with_store(state, move |store, _| {
        let mut groups = Vec::new();
        for &id in &ids {
            groups.push(store.seed_group_of(&store.run(id)?)?);
        }
        let summaries = summarise(store, &groups)?;
        let flat: Vec<_> = groups.iter().map(|g| seedless(&g.runs[0])).collect();
        let differing = reports::compare::differing_keys(&flat);
        let mut curves = (Vec::new(), Vec::new());
        for (letter, g) in labels().zip(&groups) {
            for r in &g.runs {
                let epochs = store.epoch_metrics(r.id)?;
                let label = format!("{letter}: run {} (seed {})", r.id, r.axes.seed);
                curves.0.push(Series {
                    label: label.clone(),
                    points: points_by_step(&epochs, split::VALID, metric::LOSS),
                });
                curves.1.push(Series {
                    label,
                    points: points_by_step(&epochs, split::VALID, metric::ROC_AUC),
                });
            }
        }
        let two = groups.len() == 2;
        Ok(layout(
            "Compare seed groups",
            html! {
                table #group-members {
                    thead { tr { th { "group" } th { "sweep · model · train size · backend" } th { "runs (seed)" } th.num { "finished" } } }
                    tbody {
                        @for ((letter, g), s) in labels().zip(&groups).zip(&summaries) {
                            tr {
                                td { (letter) }
                                td { (g.sweep.map_or("no sweep".into(), |s| format!("sweep {s}"))) " · " (g.model) " · " (g.train_size) " · " (g.backend) }
                                td { @for (i, r) in g.runs.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    a href={ "/runs/" (r.id) } { (r.id) } " (" (r.axes.seed) ")"
                                } }
                                td.num { (s.finished) " / " (g.runs.len()) }
                            }
                        }
                    }
                }
                h2 { "Test figures" }
                table #group-figures {
                    thead { tr { th { "figure" } @for letter in labels().take(groups.len()) { th.num { (letter) } }
                        @if two { th.num { "B − A" } } } }
                    tbody {
                        @for m in METRICS {
                            tr {
                                td { (m.label()) }
                                @for s in &summaries { td.num { (s.figure(m).map_or_else(|| "—".into(), |f| f.text())) } }
                                @if two { td.num { (mean_difference(&summaries[0], &summaries[1], m).map_or_else(|| "—".into(), |d| format!("{d:+.4}"))) } }
                            }
                        }
                    }
                }
                h2 { "Configuration" }
                p.muted { (differing.len()) " differing keys of config (seeds left out), code and host, read from each group's first run" }
                table #group-differences {
                    thead { tr { th { "key" } @for letter in labels().take(groups.len()) { th { (letter) } } } }
                    tbody {
                        @for key in &differing {
                            tr {
                                td { code { (key) } }
                                @for f in &flat { td { (f.get(key).map_or_else(|| "—".into(), text)) } }
                            }
                        }
                    }
                }
                h2 { "Curves" }
                (chart::lines("valid loss", "step", &curves.0))
                (chart::lines("valid ROC-AUC", "step", &curves.1))
            },
        ))
    })
    .await
}

/// A, B, C, …, then G27, G28, … past Z.
fn labels() -> impl Iterator<Item = String> {
    (0..).map(|i: u32| match char::from_u32('A' as u32 + i) {
        Some(c) if i < 26 => c.to_string(),
        _ => format!("G{}", i + 1),
    })
}

/// What a group's runs share: the run's config without its seeds, code and host (its status,
/// figures and seed differ between members and are left out).
fn seedless(run: &RunRecord) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut shared = run.clone();
    if let Ok(config) = serde_json::from_str(&run.config_json) {
        shared.config_json = reports::compare::without_seeds(&config).to_string();
    }
    let mut flat = reports::compare::flatten_run(&shared, &[]);
    flat.remove("status");
    flat.remove("config.seed");
    flat
}

//! Queries for browsing a large store (the dashboard): runs filtered, sorted and paged in SQL,
//! sweeps with their cells' states, the newest evaluation of many runs at once. Nothing here
//! loads every run.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::error::Result;
use crate::records::{EpochMetric, FinalMetric, RunRecord, Status, StatusCounts};
use crate::store::{Bind, Store};

/// Which runs a page shows; every field narrows, `None` leaves it open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub status: Option<Status>,
    pub model: Option<String>,
    pub train_size: Option<i64>,
    pub backend: Option<String>,
    pub seed: Option<i64>,
    pub sweep: Option<i64>,
    /// A prefix of the dataset hash.
    pub dataset_hash: Option<String>,
    /// A prefix of the git commit.
    pub code: Option<String>,
    /// Text the resolved config contains (case-insensitive).
    pub text: Option<String>,
}

/// The column a page of runs is sorted by (then by id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunOrder {
    #[default]
    Id,
    Model,
    TrainSize,
    Backend,
    Seed,
    Status,
    Started,
    Duration,
}

impl RunOrder {
    pub const ALL: [RunOrder; 8] = [
        RunOrder::Id,
        RunOrder::Model,
        RunOrder::TrainSize,
        RunOrder::Backend,
        RunOrder::Seed,
        RunOrder::Status,
        RunOrder::Started,
        RunOrder::Duration,
    ];

    /// The name in a URL (`?sort=train_size`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunOrder::Id => "id",
            RunOrder::Model => "model",
            RunOrder::TrainSize => "train_size",
            RunOrder::Backend => "backend",
            RunOrder::Seed => "seed",
            RunOrder::Status => "status",
            RunOrder::Started => "started",
            RunOrder::Duration => "duration",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// The SQL it sorts by: fixed text, never user input. NULLs count as 0 on both dialects.
    fn sql(self) -> &'static str {
        match self {
            RunOrder::Id => "id",
            RunOrder::Model => "model",
            RunOrder::TrainSize => "train_size",
            RunOrder::Backend => "backend",
            RunOrder::Seed => "seed",
            RunOrder::Status => "status",
            RunOrder::Started => "COALESCE(started_at, 0)",
            RunOrder::Duration => "COALESCE(ended_at - started_at, 0)",
        }
    }
}

/// One page of runs and how many match in all.
#[derive(Debug, Clone)]
pub struct RunPage {
    pub runs: Vec<RunRecord>,
    pub total: usize,
}

/// Runs that differ only by their seed: the original runs (a rerun repeats its run's seed, so
/// it is no new sample) of one sweep with one model, training-set size and backend — a grid
/// varies nothing else between its cells.
#[derive(Debug, Clone)]
pub struct SeedGroup {
    pub sweep: Option<i64>,
    pub model: String,
    pub train_size: i64,
    pub backend: String,
    /// By seed, then id.
    pub runs: Vec<RunRecord>,
}

impl SeedGroup {
    /// Its FINISHED runs.
    pub fn finished(&self) -> impl Iterator<Item = &RunRecord> {
        self.runs.iter().filter(|r| r.status == Status::Finished)
    }
}

/// One page of seed groups and how many match in all.
#[derive(Debug, Clone)]
pub struct GroupPage {
    pub groups: Vec<SeedGroup>,
    pub total: usize,
}

/// The columns a seed group shares.
const GROUP_KEY: &str = "sweep_id, model, train_size, backend";

/// A sweep as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepSummary {
    pub id: i64,
    pub experiment: String,
    pub spec_sha256: String,
    pub grid_path: String,
    pub created_at: i64,
    pub cells: usize,
    pub counts: StatusCounts,
    /// The earliest start and the latest end of the runs standing for its cells.
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

impl Store {
    /// The runs matching `filter`, sorted, `limit` of them from `offset`.
    pub fn runs_page(
        &self,
        filter: &RunFilter,
        order: RunOrder,
        descending: bool,
        offset: usize,
        limit: usize,
    ) -> Result<RunPage> {
        let (condition, mut binds) = where_clause(filter);
        let count = self.fetch_built(format!("SELECT COUNT(*) FROM runs{condition}"), &binds)?;
        let total: i64 = match count.first() {
            Some(row) => self.db(row.try_get(0))?,
            None => 0,
        };
        let direction = if descending { "DESC" } else { "ASC" };
        let n = binds.len();
        binds.push(Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        binds.push(Bind::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        // Sorted as ids first: sorting whole rows would carry every run's config and git diff
        // through the sort (tens of KB a run: 0.8 s at 10 000 runs, against 25 ms).
        let sort = format!("{} {direction}, id {direction}", order.sql());
        let runs = self.query_runs_built(
            format!(
                "SELECT * FROM runs WHERE id IN
                   (SELECT id FROM runs{condition} ORDER BY {sort} LIMIT ${} OFFSET ${})
                 ORDER BY {sort}",
                n + 1,
                n + 2
            ),
            &binds,
        )?;
        Ok(RunPage {
            runs,
            total: usize::try_from(total).unwrap_or(0),
        })
    }

    /// The seed groups of the runs matching `filter` (newest sweep first, then by model, size
    /// and backend), `limit` of them from `offset`.
    pub fn seed_groups(
        &self,
        filter: &RunFilter,
        offset: usize,
        limit: usize,
    ) -> Result<GroupPage> {
        let (condition, binds) = where_clause(filter);
        let condition = and(&condition, "rerun_of IS NULL");
        let count = self.fetch_built(
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 AS one FROM runs{condition} GROUP BY {GROUP_KEY}) g"
            ),
            &binds,
        )?;
        let total: i64 = match count.first() {
            Some(row) => self.db(row.try_get(0))?,
            None => 0,
        };
        let mut page_binds = binds.clone();
        let n = page_binds.len();
        page_binds.push(Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        page_binds.push(Bind::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        let keys = self.fetch_built(
            format!(
                "SELECT {GROUP_KEY} FROM runs{condition} GROUP BY {GROUP_KEY}
                 ORDER BY COALESCE(sweep_id, 0) DESC, model, train_size, backend
                 LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            &page_binds,
        )?;
        let mut groups = Vec::with_capacity(keys.len());
        for row in &keys {
            let sweep: Option<i64> = self.db(row.try_get(0))?;
            let model: String = self.db(row.try_get(1))?;
            let train_size: i64 = self.db(row.try_get(2))?;
            let backend: String = self.db(row.try_get(3))?;
            let mut member_binds = binds.clone();
            let mut bind = |value: Bind| {
                member_binds.push(value);
                format!("${}", member_binds.len())
            };
            let sweep_term = match sweep {
                Some(id) => format!("sweep_id = {}", bind(Bind::Int(id))),
                None => "sweep_id IS NULL".to_string(),
            };
            let member = format!(
                "{sweep_term} AND model = {} AND train_size = {} AND backend = {}",
                bind(Bind::Text(model.clone())),
                bind(Bind::Int(train_size)),
                bind(Bind::Text(backend.clone()))
            );
            let runs = self.query_runs_built(
                format!(
                    "SELECT * FROM runs{} ORDER BY seed, id",
                    and(&condition, &member)
                ),
                &member_binds,
            )?;
            groups.push(SeedGroup {
                sweep,
                model,
                train_size,
                backend,
                runs,
            });
        }
        Ok(GroupPage {
            groups,
            total: usize::try_from(total).unwrap_or(0),
        })
    }

    /// The seed group `run` belongs to (itself alone for a rerun, which samples no new seed).
    pub fn seed_group_of(&self, run: &RunRecord) -> Result<SeedGroup> {
        let group = SeedGroup {
            sweep: run.sweep,
            model: run.axes.model.clone(),
            train_size: run.axes.train_size,
            backend: run.axes.backend.clone(),
            runs: vec![run.clone()],
        };
        if run.rerun_of.is_some() {
            return Ok(group);
        }
        let filter = RunFilter {
            sweep: run.sweep,
            model: Some(run.axes.model.clone()),
            train_size: Some(run.axes.train_size),
            backend: Some(run.axes.backend.clone()),
            ..RunFilter::default()
        };
        let page = self.seed_groups(&filter, 0, usize::MAX)?;
        // A run outside any sweep matches the groups of every sweep here: pick its own.
        Ok(page
            .groups
            .into_iter()
            .find(|g| g.sweep == run.sweep)
            .unwrap_or(group))
    }

    /// Every sweep, newest first, with the states of the runs standing for its cells (as
    /// [`Store::cell_runs`] chooses them: a FINISHED original run, else the newest original).
    pub fn sweep_summaries(&self) -> Result<Vec<SweepSummary>> {
        let sweeps = self.fetch_all(
            "SELECT s.id, e.name, s.spec_sha256, s.grid_path, s.created_at
             FROM sweeps s JOIN experiments e ON e.id = s.experiment_id ORDER BY s.id DESC",
            &[],
        )?;
        let cells = self.fetch_all(
            "SELECT c.sweep_id, c.cell, r.status, r.started_at, r.ended_at
             FROM sweep_cells c LEFT JOIN runs r
               ON r.config_hash = c.config_hash AND r.rerun_of IS NULL
             ORDER BY c.sweep_id, c.cell, r.id",
            &[],
        )?;
        // Per sweep and cell, the run standing for it.
        type Standing = (Option<String>, Option<i64>, Option<i64>);
        let mut chosen: BTreeMap<(i64, i64), Standing> = BTreeMap::new();
        for row in &cells {
            let key: (i64, i64) = (self.db(row.try_get(0))?, self.db(row.try_get(1))?);
            let run: Standing = (
                self.db(row.try_get(2))?,
                self.db(row.try_get(3))?,
                self.db(row.try_get(4))?,
            );
            let slot = chosen.entry(key).or_insert((None, None, None));
            let finished = |s: &Standing| s.0.as_deref() == Some(Status::Finished.as_str());
            if !finished(slot) {
                *slot = run;
            }
        }
        sweeps
            .iter()
            .map(|row| {
                let id: i64 = self.db(row.try_get(0))?;
                let mut summary = SweepSummary {
                    id,
                    experiment: self.db(row.try_get(1))?,
                    spec_sha256: self.db(row.try_get(2))?,
                    grid_path: self.db(row.try_get(3))?,
                    created_at: self.db(row.try_get(4))?,
                    cells: 0,
                    counts: StatusCounts::default(),
                    started_at: None,
                    ended_at: None,
                };
                for (_, (status, started, ended)) in chosen.range((id, i64::MIN)..=(id, i64::MAX)) {
                    summary.cells += 1;
                    summary
                        .counts
                        .add(status.as_deref().and_then(|s| s.parse().ok()));
                    summary.started_at = earliest(summary.started_at, *started);
                    summary.ended_at = summary.ended_at.max(*ended);
                }
                Ok(summary)
            })
            .collect()
    }

    /// For each of `ids`, the values of its newest evaluation (empty for a run with none).
    pub fn latest_epochs(&self, ids: &[i64]) -> Result<BTreeMap<i64, Vec<EpochMetric>>> {
        let mut out: BTreeMap<i64, Vec<EpochMetric>> = BTreeMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let (list, binds) = id_list(ids, 0);
        let rows = self.fetch_built(
            format!(
                "SELECT m.run_id, m.epoch, m.split, m.key, m.value, m.is_nan
                 FROM epoch_metrics m JOIN
                   (SELECT run_id, MAX(epoch) AS epoch FROM epoch_metrics
                    WHERE run_id IN ({list}) GROUP BY run_id) newest
                   ON newest.run_id = m.run_id AND newest.epoch = m.epoch
                 ORDER BY m.run_id, m.split, m.key"
            ),
            &binds,
        )?;
        for row in &rows {
            let value: Option<f64> = self.db(row.try_get(4))?;
            let is_nan: i64 = self.db(row.try_get(5))?;
            out.entry(self.db(row.try_get(0))?)
                .or_default()
                .push(EpochMetric {
                    epoch: self.db(row.try_get(1))?,
                    split: self.db(row.try_get(2))?,
                    key: self.db(row.try_get(3))?,
                    value: crate::store::nan_join(value, is_nan),
                });
        }
        Ok(out)
    }

    /// For each of `ids`, its macro figures of one split (a page of runs in one query).
    pub fn macro_metrics(
        &self,
        ids: &[i64],
        split: &str,
    ) -> Result<BTreeMap<i64, Vec<FinalMetric>>> {
        let mut out: BTreeMap<i64, Vec<FinalMetric>> = BTreeMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let (list, mut binds) = id_list(ids, 1);
        binds.insert(0, Bind::Text(split.to_string()));
        let rows = self.fetch_built(
            format!(
                "SELECT run_id, key, value, is_nan, ci_low, ci_high FROM run_metrics
                 WHERE split = $1 AND tag IS NULL AND run_id IN ({list}) ORDER BY run_id, key"
            ),
            &binds,
        )?;
        for row in &rows {
            let value: Option<f64> = self.db(row.try_get(2))?;
            let is_nan: i64 = self.db(row.try_get(3))?;
            let low: Option<f64> = self.db(row.try_get(4))?;
            let high: Option<f64> = self.db(row.try_get(5))?;
            out.entry(self.db(row.try_get(0))?)
                .or_default()
                .push(FinalMetric {
                    split: split.to_string(),
                    key: self.db(row.try_get(1))?,
                    tag: None,
                    value: crate::store::nan_join(value, is_nan),
                    ci: low.zip(high),
                });
        }
        Ok(out)
    }

    /// The ids of the reruns of `id`, oldest first.
    pub fn reruns_of(&self, id: i64) -> Result<Vec<i64>> {
        let rows = self.fetch_all(
            "SELECT id FROM runs WHERE rerun_of = $1 ORDER BY id",
            &[Bind::Int(id)],
        )?;
        rows.iter().map(|r| self.db(r.try_get(0))).collect()
    }
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// `$k+1, $k+2, …` for `ids`, with their binds.
fn id_list(ids: &[i64], already_bound: usize) -> (String, Vec<Bind>) {
    let list = (1..=ids.len())
        .map(|i| format!("${}", already_bound + i))
        .collect::<Vec<_>>()
        .join(", ");
    (list, ids.iter().map(|&id| Bind::Int(id)).collect())
}

/// ` WHERE …` for a filter (empty when it narrows nothing), with its binds in order.
fn where_clause(filter: &RunFilter) -> (String, Vec<Bind>) {
    let mut terms: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let mut term = |sql: &str, value: Bind| {
        binds.push(value);
        terms.push(sql.replace('?', &format!("${}", binds.len())));
    };
    if let Some(status) = filter.status {
        term("status = ?", Bind::Text(status.as_str().into()));
    }
    if let Some(model) = &filter.model {
        term("model = ?", Bind::Text(model.clone()));
    }
    if let Some(size) = filter.train_size {
        term("train_size = ?", Bind::Int(size));
    }
    if let Some(backend) = &filter.backend {
        term("backend = ?", Bind::Text(backend.clone()));
    }
    if let Some(seed) = filter.seed {
        term("seed = ?", Bind::Int(seed));
    }
    if let Some(sweep) = filter.sweep {
        term("sweep_id = ?", Bind::Int(sweep));
    }
    if let Some(hash) = &filter.dataset_hash {
        term(
            "dataset_hash LIKE ? ESCAPE '\\'",
            Bind::Text(format!("{}%", like_escaped(hash))),
        );
    }
    if let Some(commit) = &filter.code {
        term(
            "git_commit LIKE ? ESCAPE '\\'",
            Bind::Text(format!("{}%", like_escaped(commit))),
        );
    }
    if let Some(text) = &filter.text {
        term(
            "LOWER(config_json) LIKE ? ESCAPE '\\'",
            Bind::Text(format!("%{}%", like_escaped(&text.to_lowercase()))),
        );
    }
    if terms.is_empty() {
        (String::new(), binds)
    } else {
        (format!(" WHERE {}", terms.join(" AND ")), binds)
    }
}

/// A ` WHERE …` clause (or none) narrowed by `term`.
fn and(condition: &str, term: &str) -> String {
    if condition.is_empty() {
        format!(" WHERE {term}")
    } else {
        format!("{condition} AND {term}")
    }
}

/// `text` matched literally by LIKE: its wildcards and the escape character escaped.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_bind_every_value_and_escape_wildcards() {
        let filter = RunFilter {
            model: Some("x' OR 1=1 --".into()),
            text: Some("50%_".into()),
            ..RunFilter::default()
        };
        let (sql, binds) = where_clause(&filter);
        assert_eq!(
            sql,
            " WHERE model = $1 AND LOWER(config_json) LIKE $2 ESCAPE '\\'"
        );
        assert_eq!(binds.len(), 2);
        assert!(matches!(&binds[1], Bind::Text(t) if t == "%50\\%\\_%"));
        assert_eq!(where_clause(&RunFilter::default()).0, "");
    }

    #[test]
    fn orders_round_trip_through_their_names() {
        for order in RunOrder::ALL {
            assert_eq!(RunOrder::parse(order.as_str()), Some(order));
        }
        assert_eq!(RunOrder::parse("id; DROP TABLE runs"), None);
    }
}

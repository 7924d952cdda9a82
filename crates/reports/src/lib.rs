//! # reports — Δ-tables and learning curves from the run store
//!
//! Everything here is read from the store alone (SPEC §10), so a report can be regenerated at
//! any time without re-training, and regenerating it from the same store gives the same bytes:
//!
//! - `delta_table.md`, `.tex` (booktabs), `.csv`: per training-set size, GBT, waveform,
//!   spectrogram and Δ (spectrogram − waveform); ROC-AUC, PR-AUC, RMSE; mean ± std over seeds
//!   and 95 % bootstrap intervals ([`uncertainty`]: seeds and test tracks, paired for Δ); the
//!   best system per size in bold when separated from the runner-up, else both tied; cells
//!   that failed are named, not dropped;
//! - `crossover.md` ([`crossover`]): power-law fits of each system's error against size, the
//!   size n* from which a deep model stays below GBT with its bootstrap interval, where Δ
//!   would halve;
//! - `learning_curves.png` / `.svg`: each metric against the training-set size (log axis), a
//!   line per system, the seed spread shaded, the test-set interval as a lighter band, the
//!   fitted power law (solid within the data, dashed beyond);
//! - `training_curves/run-<id>.png`: loss and validation ROC-AUC per evaluation (by step) of
//!   each deep run;
//! - `per_tag.csv`: every tag's figures per cell;
//! - `examples.md`: top tags of a few test tracks — human labels, deep model, GBT;
//! - `index.md`: links to all of it, with the sweep id, code version, cell states, why each
//!   deep run stopped training, and the crossover answer per metric.
//!
//! ```no_run
//! let store = tracking::Store::open("tagscale.db")?;
//! let sweep = store.latest_sweep(None)?.expect("a sweep");
//! let report = reports::write(&store, sweep, "reports/scale".as_ref())?;
//! println!("{} files in {}", report.files.len(), report.dir.display());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod compare;
pub mod crossover;
pub mod data;
pub mod error;
pub mod examples;
pub mod groups;
pub mod plot;
pub mod table;
pub mod terminal;
pub mod test_set;
pub mod uncertainty;

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

use tracking::{StatusCounts, Store, format_time};

pub use data::SweepData;
pub use error::{ReportError, Result};

/// Bootstrap resamples behind the crossover intervals (each refits every curve).
const CROSSOVER_RESAMPLES: usize = 200;

/// Size of the learning-curve figure (three panels) and of a training-curve figure.
const CURVES_SIZE: (u32, u32) = (1500, 480);
const TRAINING_SIZE: (u32, u32) = (1100, 420);

/// A written report.
#[derive(Debug)]
pub struct Report {
    pub dir: PathBuf,
    /// Every file written, relative to `dir`.
    pub files: Vec<PathBuf>,
}

/// Everything a report shows of a sweep, computed once from the store: the cells, the Δ-table
/// rows, the learning-curve fits and the crossover. `write` renders it into files; the
/// dashboard renders the same values into pages.
pub struct Analysis {
    pub data: SweepData,
    pub rows: Vec<table::Row>,
    /// The fitted curves (bootstrap replicates included); empty without test sets.
    pub curves: Vec<uncertainty::Curve>,
    /// One sentence per metric: where a deep model overtakes GBT.
    pub answers: Vec<String>,
    /// `crossover.md`.
    pub crossover_md: String,
}

impl Analysis {
    /// Load the sweep's results and compute the table, the fits and the crossover.
    pub fn compute(store: &Store, sweep: i64) -> Result<Self> {
        let data = SweepData::load(store, sweep)?;
        let tests = uncertainty::TestSets::load(store, &data);
        let rows = table::rows(&data, &tests);
        let sizes = data.sizes();
        let curves = tests
            .curves(&data.systems(), &sizes, CROSSOVER_RESAMPLES)
            .unwrap_or_default();
        let (crossover_md, answers) = crossover::markdown(&curves, sizes.len());
        Ok(Self {
            data,
            rows,
            curves,
            answers,
            crossover_md,
        })
    }

    /// The learning curves (three panels) as SVG text.
    pub fn learning_curves_svg(&self) -> Result<String> {
        self.with_overlays(|overlays| {
            plot::render_svg(CURVES_SIZE, &|root| {
                plot::learning_curves(root, &self.data, overlays)
            })
        })
    }

    /// The learning curves (three panels) as PNG bytes.
    pub fn learning_curves_png(&self) -> Result<Vec<u8>> {
        self.with_overlays(|overlays| {
            plot::render_png(CURVES_SIZE, &|root| {
                plot::learning_curves(root, &self.data, overlays)
            })
        })
    }

    /// Call `draw` with the intervals, fits and crossings the learning curves overlay.
    fn with_overlays<T>(&self, draw: impl FnOnce(&plot::Overlays<'_>) -> T) -> T {
        let laws = crossover::laws(&self.curves);
        let crossings = crossover::crossings(&self.curves);
        let interval = |system: &data::System, size: i64, m: usize| {
            self.rows
                .iter()
                .find(|r| {
                    r.size == size && matches!(&r.kind, table::RowKind::System(s) if s == system)
                })
                .and_then(|r| r.entry.intervals[m])
        };
        let fit = |system: &data::System, m: usize| {
            laws.iter()
                .find(|(s, _)| s == system)
                .and_then(|(_, l)| l[m])
        };
        let crossing = |system: &data::System, m: usize| {
            crossings
                .iter()
                .find(|(s, _)| s == system)
                .and_then(|(_, n)| n[m])
        };
        draw(&plot::Overlays {
            interval: &interval,
            fit: &fit,
            crossing: &crossing,
        })
    }
}

/// Write the report of `sweep` into `out` (created; its `training_curves/` is replaced), staged
/// beside it and moved in once every file is rendered.
pub fn write(store: &Store, sweep: i64, out: &Path) -> Result<Report> {
    let analysis = Analysis::compute(store, sweep)?;
    let (data, rows) = (&analysis.data, &analysis.rows);
    let mut writer = Writer::new(out)?;
    writer.text("crossover.md", &analysis.crossover_md)?;
    writer.text("delta_table.md", &table::markdown(rows))?;
    writer.text("delta_table.tex", &table::latex(rows))?;
    writer.text("delta_table.csv", &table::csv(rows))?;
    writer.text("per_tag.csv", &table::per_tag_csv(data))?;
    writer.bytes("learning_curves.png", &analysis.learning_curves_png()?)?;
    writer.text("learning_curves.svg", &analysis.learning_curves_svg()?)?;
    let mut training = Vec::new();
    for cell in data.cells.iter().filter(|c| !c.epochs.is_empty()) {
        let Some(run) = &cell.run else { continue };
        let title = format!(
            "run {}: {} n={} {} seed {} ({})",
            run.id, cell.model, cell.train_size, cell.backend, cell.seed, run.status
        );
        let png = plot::render_png(TRAINING_SIZE, &|root| {
            plot::training_curves(root, &title, &cell.epochs)
        })?;
        let name = format!("{TRAINING_CURVES}/run-{}.png", run.id);
        writer.bytes(&name, &png)?;
        training.push((run.id, name));
    }
    writer.text("examples.md", &examples::markdown(store, data))?;
    writer.text(
        INDEX,
        &index(data, &table::markdown(rows), &analysis.answers, &training),
    )?;
    let files = writer.publish()?;
    Ok(Report {
        dir: out.to_path_buf(),
        files,
    })
}

/// The report's front page.
fn index(
    data: &SweepData,
    delta_table: &str,
    crossover: &[String],
    training: &[(i64, String)],
) -> String {
    let sweep = &data.sweep;
    let mut out = format!("# {} — sweep {}\n\n", sweep.experiment, sweep.id);
    if !sweep.description.is_empty() {
        let _ = writeln!(out, "{}\n", markdown_text(&sweep.description));
    }
    let counts = StatusCounts::of(data.cells.iter().map(|c| c.run.as_ref()));
    let _ = writeln!(
        out,
        "- sweep: {} (created {})",
        sweep.id,
        format_time(sweep.created_at)
    );
    let _ = writeln!(
        out,
        "- grid: `{}` (sha256 {})",
        sweep.grid_path,
        sweep.spec_sha256.get(..16).unwrap_or(&sweep.spec_sha256)
    );
    let _ = writeln!(out, "- code: {}", data.code_versions().join(", "));
    let _ = writeln!(
        out,
        "- cells: {} — {} finished, {} failed, {} killed, {} running or queued, {} not run",
        data.cells.len(),
        counts.finished,
        counts.failed,
        counts.killed,
        counts.running + counts.queued,
        counts.not_run
    );
    out.push_str("\n## Files\n\n");
    out.push_str(
        "- Δ-table: [Markdown](delta_table.md), [LaTeX](delta_table.tex), [CSV](delta_table.csv)\n",
    );
    out.push_str("- Learning curves: [PNG](learning_curves.png), [SVG](learning_curves.svg)\n");
    out.push_str("- Per-tag figures: [per_tag.csv](per_tag.csv)\n");
    out.push_str("- Examples: [examples.md](examples.md)\n");
    out.push_str("- Learning-curve fits and the crossover: [crossover.md](crossover.md)\n");
    if !training.is_empty() {
        let links: Vec<String> = training
            .iter()
            .map(|(id, path)| format!("[run {id}]({path})"))
            .collect();
        let _ = writeln!(out, "- Training curves: {}", links.join(", "));
    }
    out.push_str("\n## Δ-table (test set)\n\n");
    out.push_str(delta_table);
    out.push_str("\n![learning curves](learning_curves.png)\n");
    if !crossover.is_empty() {
        out.push_str("\n## Where the deep models overtake GBT ([fits](crossover.md))\n\n");
        for sentence in crossover {
            let _ = writeln!(out, "- {sentence}");
        }
    }
    out.push_str("\n## Cells\n\n");
    out.push_str(
        "| cell | model | train size | backend | seed | run | status | stopped | ROC-AUC | PR-AUC | RMSE |\n",
    );
    out.push_str("|---:|---|---:|---|---:|---:|---|---|---:|---:|---:|\n");
    for c in &data.cells {
        let (run, status) = c
            .run
            .as_ref()
            .map_or(("-".to_string(), "not run".to_string()), |r| {
                (r.id.to_string(), r.status.to_string())
            });
        let figures: Vec<String> = data::METRICS
            .iter()
            .map(|&m| c.macro_value(m).map_or("—".into(), |v| format!("{v:.3}")))
            .collect();
        let stopped = c.stop_reason().unwrap_or_else(|| "—".into());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {run} | {status} | {stopped} | {} | {} | {} |",
            c.cell, c.model, c.train_size, c.backend, c.seed, figures[0], figures[1], figures[2]
        );
    }
    let problems: Vec<String> = data
        .cells
        .iter()
        .filter_map(|c| {
            c.problem()
                .map(|p| format!("- cell {}: {}", c.cell, markdown_text(&p)))
        })
        .collect();
    if !problems.is_empty() {
        out.push_str("\n## Cells without results\n\n");
        out.push_str(&problems.join("\n"));
        out.push('\n');
    }
    out
}

/// `text` (a tag, a track id, a description, an error message: anything a user or a dataset
/// chose) as inert Markdown inside a line or a table cell: HTML is shown, not run; Markdown
/// punctuation and `|` are escaped; line breaks become spaces so a table keeps its shape.
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Renders a report into a staging directory beside `out` and moves it into place only when
/// every file is written: a report killed while rendering leaves the previous one untouched,
/// never one that mixes two sweeps. Each file is then renamed into place (atomic per file),
/// `index.md` last; other files in `out` are left alone.
struct Writer {
    out: PathBuf,
    staging: PathBuf,
    files: Vec<PathBuf>,
}

impl Writer {
    fn new(out: &Path) -> Result<Self> {
        fs::create_dir_all(out).map_err(|e| io_error(out, e))?;
        let name = out
            .file_name()
            .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        remove_abandoned_staging(parent, &name);
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
        }
        fs::create_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
        Ok(Self {
            out: out.to_path_buf(),
            staging,
            files: Vec::new(),
        })
    }

    fn bytes(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.staging.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
        }
        fs::write(&path, bytes).map_err(|e| io_error(&path, e))?;
        self.files.push(PathBuf::from(name));
        Ok(())
    }

    fn text(&mut self, name: &str, text: &str) -> Result<()> {
        self.bytes(name, text.as_bytes())
    }

    /// Move the staged files into `out` (the training curves replace the old ones as a
    /// directory) and return them, relative to `out`.
    fn publish(self) -> Result<Vec<PathBuf>> {
        let curves = self.out.join(TRAINING_CURVES);
        let aside = self.staging.join(".replaced");
        let staged_curves = self.staging.join(TRAINING_CURVES);
        if staged_curves.exists() {
            replace_dir(&staged_curves, &curves, &aside)?;
        } else {
            move_aside(&curves, &aside)?;
        }
        let (index, rest): (Vec<&PathBuf>, Vec<&PathBuf>) = self
            .files
            .iter()
            .filter(|f| !f.starts_with(TRAINING_CURVES))
            .partition(|f| f.as_path() == Path::new(INDEX));
        for file in rest.into_iter().chain(index) {
            let target = self.out.join(file);
            fs::rename(self.staging.join(file), &target).map_err(|e| io_error(&target, e))?;
        }
        fs::remove_dir_all(&self.staging).map_err(|e| io_error(&self.staging, e))?;
        Ok(self.files.clone())
    }
}

impl Drop for Writer {
    /// A report that failed part-way leaves nothing staged behind.
    fn drop(&mut self) {
        if self.staging.exists() {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Put the directory `staged` at `target`, replacing the one there even while another
/// process publishes the same report: whatever is in the way is renamed to `aside` (a path of
/// this writer's own, removed with it) and the rename is tried again.
fn replace_dir(staged: &Path, target: &Path, aside: &Path) -> Result<()> {
    const ATTEMPTS: usize = 16;
    for _ in 0..ATTEMPTS {
        match fs::rename(staged, target) {
            Ok(()) => return Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
                ) =>
            {
                move_aside(target, aside)?;
            }
            Err(e) => return Err(io_error(target, e)),
        }
    }
    Err(ReportError::Io {
        path: target.to_path_buf(),
        message: format!("other processes kept replacing it ({ATTEMPTS} attempts)"),
    })
}

/// Rename `target` (if it is there) to `aside` and remove it.
fn move_aside(target: &Path, aside: &Path) -> Result<()> {
    match fs::rename(target, aside) {
        Ok(()) => fs::remove_dir_all(aside).map_err(|e| io_error(aside, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(target, e)),
    }
}

/// The staging directory's subfolder of training curves, and the front page.
const TRAINING_CURVES: &str = "training_curves";
const INDEX: &str = "index.md";

/// Staging directories of reports killed before they were published (their process is gone).
fn remove_abandoned_staging(parent: &Path, name: &str) {
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid).exists() || !Path::new("/proc/self").exists();
        if !alive {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fs, markdown_text, replace_dir};

    #[test]
    fn user_strings_are_inert_in_markdown() {
        assert_eq!(
            markdown_text("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        // A tag with a pipe and a line break stays inside its table cell.
        assert_eq!(markdown_text("a|b\nc"), "a\\|b c");
        assert_eq!(
            markdown_text("[x](javascript:y) *e* `c` #h"),
            "\\[x\\](javascript:y) \\*e\\* \\`c\\` \\#h"
        );
        assert_eq!(markdown_text("synth pad"), "synth pad");
    }

    #[test]
    fn a_directory_is_replaced_whole_even_while_others_replace_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("training_curves");
        fs::create_dir_all(&target).unwrap();
        fs::write(target.join("old.png"), b"old").unwrap();
        // Eight writers at once, each with its own staged directory and place aside.
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let own = dir.path().join(format!("staging-{w}"));
                let staged = own.join("training_curves");
                fs::create_dir_all(&staged).unwrap();
                for run in 0..20 {
                    fs::write(staged.join(format!("run-{run}.png")), format!("{w}")).unwrap();
                }
                (staged, own.join(".replaced"))
            })
            .collect();
        std::thread::scope(|scope| {
            for (staged, aside) in &writers {
                let target = &target;
                scope.spawn(move || replace_dir(staged, target, aside).unwrap());
            }
        });
        // One writer's directory, complete, and nothing of the old one or of another writer.
        let mut names: Vec<String> = fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 20, "{names:?}");
        let writer = fs::read_to_string(target.join("run-0.png")).unwrap();
        for name in &names {
            assert_eq!(fs::read_to_string(target.join(name)).unwrap(), writer);
        }
    }
}

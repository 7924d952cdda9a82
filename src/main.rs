//! `tagscale`: the command-line front of the workbench. Parses arguments and calls into the
//! crates; no logic of its own lives here.

mod args;
mod data;
mod db;
mod embed;
mod env;
mod eval;
mod export;
mod features;
mod model;
mod print;
mod progress;
mod report;
mod rerun;
mod run;
mod runs;
mod store;
mod sweep;
mod tag;
mod ui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tagscale",
    version,
    about = "Music audio tagging at scale: waveform vs spectrogram vs GBT"
)]
struct Cli {
    /// Silence progress bars and informational logs (warnings and errors still print).
    #[arg(long, global = true)]
    quiet: bool,
    /// The run store: a SQLite path, sqlite://PATH, or postgres://USER@HOST:PORT/DB (for
    /// several hosts and Slurm; keep the password in ~/.pgpass, not in the URL).
    #[arg(
        long,
        global = true,
        env = runner::env::STORE_VAR,
        default_value = "tagscale.db"
    )]
    db: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Expand a grid, skip cells already FINISHED, run the rest in worker processes or as a
    /// Slurm job array; `sweep status` shows where a sweep's cells stand.
    Sweep(sweep::SweepArgs),
    /// Run one cell of a grid (what a scheduler's array task calls).
    Run(run::RunArgs),
    /// Re-execute a logged run from its stored config; `--verify` compares the metrics.
    Rerun(rerun::RerunArgs),
    /// Δ-tables, learning curves and the rest of a sweep's report, from the store alone.
    Report(report::ReportArgs),
    /// Song-level tags of audio files and folders with a trained run's model.
    Tag(tag::TagArgs),
    /// Write a trained run as a self-contained model directory with a model card.
    Export(export::ExportArgs),
    /// Song-level embeddings (the model's internal representation) of audio files and folders.
    Embed(embed::EmbedArgs),
    /// Query the run store.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// A local web dashboard over the store: sweeps live, runs, a run, comparisons.
    Ui(ui::UiArgs),
    /// Manage the run store.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Dump what the pipeline computes for one audio file (debugging, parity checks).
    #[command(subcommand)]
    Features(features::FeaturesCommand),
    /// Inspect the models: layer table with output shapes and the parameter count.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// The metrics of the study on any prediction file (ROC-AUC, PR-AUC, RMSE, macro).
    Eval(eval::EvalArgs),
    /// Generate, import, inspect and cache datasets.
    #[command(subcommand)]
    Data(data::DataCommand),
}

fn main() -> ExitCode {
    models::keep_freed_memory();
    let cli = Cli::parse();
    init_logging(cli.quiet);
    let result = match cli.command {
        Command::Sweep(args) => sweep::run(args, &cli.db, cli.quiet),
        Command::Run(args) => run::run(args, &cli.db, cli.quiet),
        Command::Rerun(args) => rerun::run(args, &cli.db, cli.quiet),
        Command::Report(args) => report::run(args, &cli.db),
        Command::Tag(args) => tag::run(args, &cli.db, cli.quiet),
        Command::Export(args) => export::run(args, &cli.db),
        Command::Embed(args) => embed::run(args, &cli.db, cli.quiet),
        Command::Runs(cmd) => {
            env::quiet_on_closed_stdout();
            runs::run(cmd, &cli.db)
        }
        Command::Db(cmd) => db::run(cmd, &cli.db),
        Command::Ui(args) => ui::run(args, &cli.db),
        Command::Features(cmd) => features::run(cmd),
        Command::Data(cmd) => data::run(cmd, cli.quiet),
        Command::Model(cmd) => model::run(cmd),
        Command::Eval(args) => eval::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `tagscale … | head` closing the pipe early is not a failure.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(quiet: bool) {
    // symphonia logs its own parsing chatter and sqlx relays PostgreSQL notices ("relation
    // already exists, skipping"); their failures reach the user as our errors.
    let default = if quiet {
        "warn,symphonia=off,sqlx=warn"
    } else {
        "info,symphonia=off,sqlx=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TAGSCALE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

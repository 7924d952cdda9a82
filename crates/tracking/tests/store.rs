//! The run store against real databases: every test runs on a SQLite file in a temporary
//! directory and on its own database of a real PostgreSQL server (testkit).

use std::sync::Arc;
use std::time::Duration;

use tracking::{
    Artifact, CellSpec, Claim, CodeVersion, FinalMetric, Host, NewRun, ProcessId, RunAxes,
    RunFilter, RunOrder, Status, Store,
};

fn new_run(config_hash: &str) -> NewRun {
    NewRun {
        cell: None,
        rerun_of: None,
        config_json: format!("{{\"hash\":\"{config_hash}\"}}"),
        config_hash: config_hash.into(),
        axes: RunAxes {
            model: "spectrogram".into(),
            train_size: 300,
            backend: "flex".into(),
            seed: 1,
        },
        threads: 2,
        code: CodeVersion {
            git_commit: "abc".into(),
            ..CodeVersion::default()
        },
        host: Host::current(),
        process: ProcessId::current(),
        scheduler_job: None,
    }
}

/// A new, empty store's URL, and what keeps it alive.
struct Fresh {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Fresh {
    fn open(&self) -> Store {
        Store::open(&self.url).unwrap()
    }
}

fn sqlite() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    Fresh {
        url: format!("sqlite://{}", dir.path().join("sub dir/t.db").display()),
        _dir: Some(dir),
    }
}

/// A fresh database on the test process's PostgreSQL, or `None` (a loud skip) on a machine
/// without one.
fn postgres(test: &str) -> Option<Fresh> {
    testkit::available(test, &[testkit::Service::Postgres]).then(|| Fresh {
        url: testkit::Postgres::shared().new_database(),
        _dir: None,
    })
}

/// Each test body once per database: `sqlite::name` and `postgres::name`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::sqlite()) })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if let Some(db) = super::postgres(concat!("postgres::", stringify!($name))) {
                    super::$name(db)
                }
            })*
        }
    };
}

on_both_databases!(
    opening_twice_applies_migrations_once_and_keeps_data,
    many_processes_opening_a_new_store_at_once_all_succeed,
    freezing_the_same_spec_twice_gives_the_same_sweep,
    claim_or_skip_follows_the_lifecycle,
    failed_cells_are_retried_only_when_asked,
    a_run_whose_process_is_gone_is_killed_and_its_cell_reclaimed,
    a_run_on_another_host_dies_only_with_a_stale_heartbeat,
    concurrent_claims_of_one_cell_give_exactly_one_run,
    epoch_metrics_keep_nan_as_nan,
    reruns_never_block_their_cell_and_record_what_they_rerun,
    sweeps_list_the_runs_of_their_cells,
    submissions_record_which_cells_went_out_as_which_job,
    final_metrics_come_macro_first_then_tags_in_byte_order,
    pages_of_runs_filter_sort_and_count_in_sql,
    seed_groups_pool_the_original_runs_of_one_sweep_cell_config,
    sweep_summaries_count_each_cell_by_its_standing_run,
    a_read_only_store_reads_everything_and_writes_nothing,
);

fn opening_twice_applies_migrations_once_and_keeps_data(db: Fresh) {
    let id = db.open().insert_run(&new_run("h")).unwrap();
    assert_eq!(db.open().run(id).unwrap().status, Status::Queued);
}

fn many_processes_opening_a_new_store_at_once_all_succeed(db: Fresh) {
    let url = Arc::new(db.url.clone());
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let url = Arc::clone(&url);
            std::thread::spawn(move || Store::open(&url).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
}

#[test]
fn a_url_of_another_database_is_a_clear_error() {
    let err = Store::open("mysql://localhost/x").err().unwrap();
    assert!(err.to_string().contains("unsupported store URL"), "{err}");
}

#[test]
fn an_unreachable_postgres_server_is_a_clear_error_without_its_password() {
    let err = Store::open("postgres://me:secret@127.0.0.1:1/nothing")
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("postgres://me:***@127.0.0.1:1/nothing"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
}

fn freezing_the_same_spec_twice_gives_the_same_sweep(db: Fresh) {
    let store = db.open();
    let cells = vec![
        CellSpec {
            index: 0,
            config_json: "{}".into(),
            config_hash: "a".into(),
        },
        CellSpec {
            index: 1,
            config_json: "{}".into(),
            config_hash: "b".into(),
        },
    ];
    let a = store
        .freeze_sweep("smoke", "d", "spec", "g.toml", &cells)
        .unwrap();
    let b = store
        .freeze_sweep("smoke", "d", "spec", "g.toml", &cells)
        .unwrap();
    let c = store
        .freeze_sweep("smoke", "d", "spec 2", "g.toml", &cells)
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let sweep = store.sweep(a).unwrap();
    assert_eq!(sweep.cells, cells);
    assert_eq!(sweep.experiment, "smoke");
    assert_eq!(store.latest_sweep(Some("smoke")).unwrap(), Some(c));
    assert_eq!(store.latest_sweep(Some("other")).unwrap(), None);
    assert_eq!(store.sweep_by_spec("spec 2").unwrap(), Some(c));
    assert_eq!(store.sweep_by_spec("never frozen").unwrap(), None);
    assert!(store.sweep(99).is_err());
}

fn claim_or_skip_follows_the_lifecycle(db: Fresh) {
    let store = db.open();
    let run = new_run("h1");
    let Claim::Claimed(id) = store.claim(&run, false).unwrap() else {
        panic!("first claim must succeed")
    };
    // This process is alive, so the cell is held.
    assert_eq!(store.claim(&run, false).unwrap(), Claim::Held(id));
    store.start(id, "dataset", "subset", "/runs/1").unwrap();
    store
        .finish(
            id,
            &[FinalMetric {
                split: "test".into(),
                key: "roc_auc".into(),
                tag: None,
                value: 0.9,
                ci: Some((0.85, 0.95)),
            }],
            &[Artifact {
                name: "model".into(),
                path: "/runs/1/model.bpk".into(),
                sha256: "00".into(),
                size: 3,
            }],
        )
        .unwrap();
    assert_eq!(store.claim(&run, false).unwrap(), Claim::Finished(id));
    assert_eq!(store.claim(&run, true).unwrap(), Claim::Finished(id));
    let record = store.run(id).unwrap();
    assert_eq!(record.status, Status::Finished);
    assert_eq!(record.subset_hash.as_deref(), Some("subset"));
    assert!(record.ended_at.is_some());
    assert_eq!(store.run_metrics(id).unwrap()[0].ci, Some((0.85, 0.95)));
    assert_eq!(store.artifacts(id).unwrap()[0].name, "model");
}

fn failed_cells_are_retried_only_when_asked(db: Fresh) {
    let store = db.open();
    let run = new_run("h2");
    let Claim::Claimed(id) = store.claim(&run, false).unwrap() else {
        panic!()
    };
    store.end(id, Status::Failed, "loss is NaN").unwrap();
    assert_eq!(store.claim(&run, false).unwrap(), Claim::Failed(id));
    let Claim::Claimed(retry) = store.claim(&run, true).unwrap() else {
        panic!("retry must claim")
    };
    assert_ne!(retry, id);
    assert_eq!(store.run(id).unwrap().error.as_deref(), Some("loss is NaN"));
}

fn a_run_whose_process_is_gone_is_killed_and_its_cell_reclaimed(db: Fresh) {
    let store = db.open();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let mut run = new_run("h3");
    run.process = ProcessId {
        pid: child.id(),
        start: 1,
    };
    child.wait().unwrap();
    let Claim::Claimed(dead) = store.claim(&run, false).unwrap() else {
        panic!()
    };
    assert_eq!(store.reap_dead().unwrap(), vec![dead]);
    assert_eq!(store.run(dead).unwrap().status, Status::Killed);
    // KILLED cells are claimable again without --retry-failed: a killed run has no verdict.
    assert!(matches!(
        store.claim(&new_run("h3"), false).unwrap(),
        Claim::Claimed(_)
    ));
}

fn a_run_on_another_host_dies_only_with_a_stale_heartbeat(db: Fresh) {
    let store = db.open();
    let mut run = new_run("h4");
    run.host.name = "elsewhere".into();
    let Claim::Claimed(id) = store.claim(&run, false).unwrap() else {
        panic!()
    };
    assert!(store.reap_dead().unwrap().is_empty());
    std::thread::sleep(Duration::from_millis(30));
    let impatient = db.open().with_stale_after(Duration::from_millis(10));
    assert_eq!(impatient.reap_dead().unwrap(), vec![id]);
}

fn concurrent_claims_of_one_cell_give_exactly_one_run(db: Fresh) {
    db.open();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let store = Store::open(&url).unwrap();
                (0..5)
                    .map(|i| store.claim(&new_run(&format!("cell{i}")), false).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let claims: Vec<Claim> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let claimed = claims
        .iter()
        .filter(|c| matches!(c, Claim::Claimed(_)))
        .count();
    assert_eq!(claimed, 5, "{claims:?}");
}

fn epoch_metrics_keep_nan_as_nan(db: Fresh) {
    let store = db.open();
    let id = store.insert_run(&new_run("h5")).unwrap();
    store
        .log_epoch(
            id,
            0,
            &[("train", "loss", 0.5), ("valid", "loss", f64::NAN)],
        )
        .unwrap();
    store.log_epoch(id, 1, &[("train", "loss", 0.25)]).unwrap();
    let metrics = store.epoch_metrics(id).unwrap();
    assert_eq!(metrics.len(), 3);
    assert_eq!(metrics[0].value, 0.5);
    assert!(metrics[1].value.is_nan(), "{metrics:?}");
    assert_eq!((metrics[2].epoch, metrics[2].value), (1, 0.25));
}

fn reruns_never_block_their_cell_and_record_what_they_rerun(db: Fresh) {
    let store = db.open();
    let Claim::Claimed(original) = store.claim(&new_run("h6"), false).unwrap() else {
        panic!()
    };
    let mut again = new_run("h6");
    again.rerun_of = Some(original);
    let rerun = store.insert_run(&again).unwrap();
    assert_eq!(store.run(rerun).unwrap().rerun_of, Some(original));
    assert_eq!(store.runs(None).unwrap().len(), 2);
}

fn sweeps_list_the_runs_of_their_cells(db: Fresh) {
    let store = db.open();
    let cells = vec![CellSpec {
        index: 0,
        config_json: "{}".into(),
        config_hash: "h7".into(),
    }];
    let sweep = store.freeze_sweep("e", "", "s", "g", &cells).unwrap();
    let mut run = new_run("h7");
    run.cell = Some((sweep, 0));
    let Claim::Claimed(id) = store.claim(&run, false).unwrap() else {
        panic!()
    };
    store.insert_run(&new_run("unrelated")).unwrap();
    let listed: Vec<i64> = store
        .runs(Some(sweep))
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![id]);
    let states = store.run_states(sweep).unwrap();
    assert_eq!(states, vec![(id, Status::Queued, None)]);
    store.end(id, Status::Failed, "boom").unwrap();
    let ended = store.run_states(sweep).unwrap();
    assert_eq!(ended[0].1, Status::Failed);
    assert!(ended[0].2.is_some(), "no end time");
    assert!(
        store.run_states(sweep + 100).is_err(),
        "an unknown sweep listed"
    );
    let record = store.sweep(sweep).unwrap();
    let cell_runs = store.cell_runs(&record).unwrap();
    assert_eq!(cell_runs[0].1.as_ref().map(|r| r.id), Some(id));
}

fn submissions_record_which_cells_went_out_as_which_job(db: Fresh) {
    let store = db.open();
    let cells: Vec<CellSpec> = (0..3)
        .map(|i| CellSpec {
            index: i,
            config_json: "{}".into(),
            config_hash: format!("s{i}"),
        })
        .collect();
    let sweep = store.freeze_sweep("e", "", "spec", "g", &cells).unwrap();
    assert!(store.submissions(sweep).unwrap().is_empty());
    store
        .record_submission(sweep, "slurm", "41", &[0, 1, 2], "#!/bin/bash\n")
        .unwrap();
    store
        .record_submission(sweep, "slurm", "42", &[2], "#!/bin/bash\n")
        .unwrap();
    let submissions = store.submissions(sweep).unwrap();
    assert_eq!(submissions.len(), 2);
    assert_eq!(submissions[0].cells, vec![0, 1, 2]);
    assert_eq!(
        (submissions[1].job_id.as_str(), &submissions[1].cells[..]),
        ("42", &[2][..])
    );
    let mut run = new_run("s2");
    run.scheduler_job = Some("42_2".into());
    let id = store.insert_run(&run).unwrap();
    assert_eq!(
        store.run(id).unwrap().scheduler_job.as_deref(),
        Some("42_2")
    );
}

fn final_metrics_come_macro_first_then_tags_in_byte_order(db: Fresh) {
    let store = db.open();
    let id = store.insert_run(&new_run("order")).unwrap();
    let metric = |tag: Option<&str>| FinalMetric {
        split: "test".into(),
        key: "roc_auc".into(),
        tag: tag.map(String::from),
        value: 0.5,
        ci: None,
    };
    let tags = [
        Some("mood_sad"),
        Some("Zither"),
        None,
        Some("bass"),
        Some("_x"),
    ];
    store.finish(id, &tags.map(metric), &[]).unwrap();
    let order: Vec<Option<String>> = store
        .run_metrics(id)
        .unwrap()
        .into_iter()
        .map(|m| m.tag)
        .collect();
    // The same order on SQLite and PostgreSQL (bytewise, whatever the server's locale).
    let expected = [
        None,
        Some("Zither"),
        Some("_x"),
        Some("bass"),
        Some("mood_sad"),
    ];
    assert_eq!(order, expected.map(|t| t.map(String::from)));
}

/// What a reviewer is handed is often the `.db` file alone. With another process holding the
/// store open (here a second connection pool), SQLite would keep a finished run in the `-wal`
/// file only; the store checkpoints when a run ends so the file is complete.
#[test]
fn a_copy_of_the_sqlite_file_alone_holds_every_ended_run() {
    let db = sqlite();
    let (writer, idle_reader) = (db.open(), db.open());
    let finished = writer.insert_run(&new_run("done")).unwrap();
    writer.finish(finished, &[], &[]).unwrap();
    let failed = writer.insert_run(&new_run("bad")).unwrap();
    writer.end(failed, Status::Failed, "boom").unwrap();
    assert_eq!(idle_reader.runs(None).unwrap().len(), 2);

    let path = db.url.trim_start_matches("sqlite://");
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("copy.db");
    std::fs::copy(path, &copy).unwrap();
    let copied = Store::open(copy.to_str().unwrap()).unwrap();
    let statuses: Vec<Status> = copied
        .runs(None)
        .unwrap()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [Status::Finished, Status::Failed]);
}

/// Whether another process would find the file locked: a forked child asks the kernel
/// (`F_GETLK`) whether anything stops it write-locking the whole file.
#[cfg(unix)]
fn another_process_sees_a_lock(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: the child only calls async-signal-safe functions (open, fcntl, _exit) on memory
    // prepared before the fork; the parent waits for it.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let fd = libc::open(c_path.as_ptr(), libc::O_RDWR);
            let mut probe: libc::flock = std::mem::zeroed();
            probe.l_type = libc::F_WRLCK as libc::c_short;
            probe.l_whence = libc::SEEK_SET as libc::c_short;
            let asked = fd >= 0 && libc::fcntl(fd, libc::F_GETLK, &mut probe) == 0;
            let locked = asked && probe.l_type != libc::F_UNLCK as libc::c_short;
            libc::_exit(if locked { 1 } else { 0 });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 1
    }
}

/// An open store keeps SQLite's shared lock on its file, so another process (`sqlite3` run by
/// a curious user during a sweep) closing its own connection does not take itself for the
/// last one and delete the `-wal` the store writes into — which stopped the sweep.
#[cfg(unix)]
#[test]
fn an_open_store_keeps_its_lock_so_other_processes_leave_its_wal_alone() {
    let db = sqlite();
    let store = db.open();
    let run = store.insert_run(&new_run("held")).unwrap();
    store.finish(run, &[], &[]).unwrap();
    let path = std::path::Path::new(db.url.trim_start_matches("sqlite://"));
    assert!(another_process_sees_a_lock(path));
    drop(store);
    assert!(!another_process_sees_a_lock(path));
}

/// A truncated or overwritten store fails at once, naming the file, instead of retrying
/// connections for two minutes and ending in "pool timed out".
#[test]
fn a_damaged_sqlite_file_is_reported_at_once_with_what_to_do() {
    let db = sqlite();
    let path = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    {
        let store = db.open();
        for i in 0..50 {
            let id = store.insert_run(&new_run(&format!("h{i}"))).unwrap();
            store.finish(id, &[], &[]).unwrap();
        }
    }
    let length = std::fs::metadata(&path).unwrap().len();
    for damage in ["truncated", "overwritten"] {
        match damage {
            "truncated" => {
                let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                file.set_len(length / 2).unwrap();
            }
            _ => std::fs::write(&path, vec![0x5a; length as usize]).unwrap(),
        }
        let started = std::time::Instant::now();
        let err = Store::open(&db.url).err().expect(damage).to_string();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{damage}: {err}"
        );
        assert!(
            err.contains("damaged") && err.contains(path.to_str().unwrap()),
            "{err}"
        );
    }
}

/// `rm tagscale.db-wal` while a process has the store open: its next write is refused with
/// what happened and what to do, what it wrote is copied into the database file first, and
/// nothing is reported FINISHED that a fresh open does not see.
#[test]
fn a_deleted_wal_stops_the_writes_of_its_store_and_loses_nothing_written() {
    let db = sqlite();
    let path = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let wal = path.with_file_name("t.db-wal");
    let store = db.open();
    let done = store.insert_run(&new_run("done")).unwrap();
    store.finish(done, &[], &[]).unwrap();
    let queued = store.insert_run(&new_run("queued")).unwrap();
    std::fs::remove_file(&wal).unwrap();

    let err = store.finish(queued, &[], &[]).unwrap_err().to_string();
    assert!(
        err.contains("t.db-wal")
            && err.contains("deleted or replaced")
            && err.contains("copied into the database file")
            && err.contains("tagscale db check"),
        "{err}"
    );
    assert!(
        store.insert_run(&new_run("later")).is_err(),
        "writes stay refused"
    );
    drop(store);

    let reopened = db.open();
    let runs: Vec<(i64, Status)> = reopened
        .runs(None)
        .unwrap()
        .iter()
        .map(|r| (r.id, r.status))
        .collect();
    assert_eq!(runs, [(done, Status::Finished), (queued, Status::Queued)]);
}

/// `db backup`: a single-file copy taken while another process holds the store open holds
/// every run; an existing file is never overwritten and no staging file is left behind.
#[test]
fn a_backup_is_a_complete_single_file_and_never_overwrites() {
    let db = sqlite();
    let (store, _idle_reader) = (db.open(), db.open());
    let id = store.insert_run(&new_run("done")).unwrap();
    store.log_epoch(id, 1, &[("train", "loss", 0.5)]).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("shared.db");
    store.backup(&out).unwrap();
    let copy = Store::open(out.to_str().unwrap()).unwrap();
    assert_eq!(copy.runs(None).unwrap().len(), 1);
    assert_eq!(copy.epoch_metrics(id).unwrap().len(), 1);
    drop(copy);
    for leftover in ["shared.db-wal", "shared.db-shm"] {
        let _ = std::fs::remove_file(out_dir.path().join(leftover));
    }

    let before = std::fs::read(&out).unwrap();
    let err = store.backup(&out).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
    let names: Vec<String> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["shared.db"]);
}

/// `db check`: a sound store passes; an artifact changed or deleted since it was recorded is
/// named with its run.
#[test]
fn a_check_names_artifacts_that_changed_or_went_missing() {
    let db = sqlite();
    let store = db.open();
    let dir = tempfile::tempdir().unwrap();
    let artifact = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        Artifact {
            name: name.into(),
            path: path.to_string_lossy().into_owned(),
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes)),
            size: bytes.len() as i64,
        }
    };
    let id = store.insert_run(&new_run("done")).unwrap();
    let artifacts = [
        artifact("model", b"weights"),
        artifact("predictions", b"0.5"),
    ];
    store.finish(id, &[], &artifacts).unwrap();
    let found = tracking::check(&store).unwrap();
    assert!(found.is_sound(), "{found:?}");
    assert_eq!((found.artifacts, found.integrity), (2, Some(vec![])));
    assert!(found.runs.contains(&(Status::Finished, 1)));

    std::fs::write(&artifacts[0].path, b"WEIGHTS").unwrap();
    std::fs::remove_file(&artifacts[1].path).unwrap();
    let found = tracking::check(&store).unwrap();
    assert!(!found.is_sound());
    let problems = found.artifact_problems.join("\n");
    assert!(
        problems.contains(&format!("run {id} artifact `model`"))
            && problems.contains("sha256 differs")
            && problems.contains(&format!("run {id} artifact `predictions`")),
        "{problems}"
    );
}

/// A PostgreSQL store is checked too; backing it up points to pg_dump.
#[test]
fn a_postgres_store_is_checked_and_backed_up_with_pg_dump() {
    let Some(db) = postgres("a_postgres_store_is_checked_and_backed_up_with_pg_dump") else {
        return;
    };
    let store = db.open();
    store.insert_run(&new_run("x")).unwrap();
    let found = tracking::check(&store).unwrap();
    assert!(found.is_sound() && found.integrity.is_none(), "{found:?}");
    let out = tempfile::tempdir().unwrap();
    let err = store
        .backup(&out.path().join("copy.db"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("pg_dump"), "{err}");
}

/// Runs of three sizes and two models, one with a config text to search for.
fn browsable_store(db: &Fresh) -> (Store, Vec<i64>) {
    let store = db.open();
    let mut ids = Vec::new();
    for (i, (model, size)) in [
        ("gbt", 100),
        ("waveform", 200),
        ("gbt", 400),
        ("waveform", 100),
    ]
    .into_iter()
    .enumerate()
    {
        let mut run = new_run(&format!("b{i}"));
        run.axes.model = model.into();
        run.axes.train_size = size;
        if i == 2 {
            run.config_json = r#"{"note":"Lr_50%"}"#.into();
        }
        ids.push(store.insert_run(&run).unwrap());
    }
    store.end(ids[1], Status::Failed, "boom").unwrap();
    (store, ids)
}

fn pages_of_runs_filter_sort_and_count_in_sql(db: Fresh) {
    let (store, ids) = browsable_store(&db);
    let all = RunFilter::default();
    let page = store.runs_page(&all, RunOrder::Id, true, 1, 2).unwrap();
    assert_eq!(page.total, 4);
    let got: Vec<i64> = page.runs.iter().map(|r| r.id).collect();
    assert_eq!(got, vec![ids[2], ids[1]]);
    let by_size = store
        .runs_page(&all, RunOrder::TrainSize, false, 0, 10)
        .unwrap();
    let sizes: Vec<i64> = by_size.runs.iter().map(|r| r.axes.train_size).collect();
    assert_eq!(sizes, vec![100, 100, 200, 400]);
    let gbt = RunFilter {
        model: Some("gbt".into()),
        ..RunFilter::default()
    };
    assert_eq!(
        store
            .runs_page(&gbt, RunOrder::Id, false, 0, 10)
            .unwrap()
            .total,
        2
    );
    let failed = RunFilter {
        status: Some(Status::Failed),
        ..RunFilter::default()
    };
    let page = store
        .runs_page(&failed, RunOrder::Id, false, 0, 10)
        .unwrap();
    assert_eq!(
        page.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
    // Free text is case-insensitive and its `%` and `_` are literal.
    let text = |t: &str| RunFilter {
        text: Some(t.into()),
        ..RunFilter::default()
    };
    let page = store
        .runs_page(&text("lr_50%"), RunOrder::Id, false, 0, 10)
        .unwrap();
    assert_eq!(
        page.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[2]]
    );
    assert_eq!(
        store
            .runs_page(&text("lr%50"), RunOrder::Id, false, 0, 10)
            .unwrap()
            .total,
        0
    );
    let code = RunFilter {
        code: Some("ab".into()),
        ..RunFilter::default()
    };
    assert_eq!(
        store
            .runs_page(&code, RunOrder::Id, false, 0, 10)
            .unwrap()
            .total,
        4
    );
}

fn seed_groups_pool_the_original_runs_of_one_sweep_cell_config(db: Fresh) {
    let store = db.open();
    let cells: Vec<CellSpec> = (0..3)
        .map(|i| CellSpec {
            index: i,
            config_json: "{}".into(),
            config_hash: format!("g{i}"),
        })
        .collect();
    let sweep = store
        .freeze_sweep("exp", "", "spec g", "g.toml", &cells)
        .unwrap();
    // Cells 0 and 1: seeds 1 and 2 of one model and size; cell 2: another size.
    let mut ids = Vec::new();
    for (cell, seed, size) in [(0, 1, 300), (1, 2, 300), (2, 1, 600)] {
        let mut run = new_run(&format!("g{cell}"));
        run.cell = Some((sweep, cell));
        run.axes.seed = seed;
        run.axes.train_size = size;
        ids.push(store.insert_run(&run).unwrap());
    }
    store.end(ids[1], Status::Failed, "boom").unwrap();
    // A rerun repeats a seed and an outside run belongs to no sweep: neither joins.
    let mut rerun = new_run("g0");
    rerun.rerun_of = Some(ids[0]);
    let rerun = store.insert_run(&rerun).unwrap();
    let outside = store.insert_run(&new_run("solo")).unwrap();

    let page = store.seed_groups(&RunFilter::default(), 0, 10).unwrap();
    assert_eq!(page.total, 3);
    let members: Vec<(Option<i64>, i64, Vec<i64>)> = page
        .groups
        .iter()
        .map(|g| (g.sweep, g.train_size, g.runs.iter().map(|r| r.id).collect()))
        .collect();
    assert_eq!(
        members,
        vec![
            (Some(sweep), 300, vec![ids[0], ids[1]]),
            (Some(sweep), 600, vec![ids[2]]),
            (None, 300, vec![outside]),
        ]
    );
    assert_eq!(page.groups[0].finished().count(), 0);
    // Paged and filtered like the runs table.
    let second = store.seed_groups(&RunFilter::default(), 1, 1).unwrap();
    assert_eq!((second.total, second.groups[0].train_size), (3, 600));
    let failed = RunFilter {
        status: Some(Status::Failed),
        ..RunFilter::default()
    };
    let page = store.seed_groups(&failed, 0, 10).unwrap();
    assert_eq!(page.groups.len(), 1);
    assert_eq!(page.groups[0].runs.len(), 1);

    let of = |id: i64| {
        let run = store.run(id).unwrap();
        let group = store.seed_group_of(&run).unwrap();
        group.runs.iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert_eq!(of(ids[1]), vec![ids[0], ids[1]]);
    assert_eq!(of(rerun), vec![rerun]);
    assert_eq!(of(outside), vec![outside]);
}

fn sweep_summaries_count_each_cell_by_its_standing_run(db: Fresh) {
    let store = db.open();
    let cells: Vec<CellSpec> = (0..3)
        .map(|i| CellSpec {
            index: i,
            config_json: "{}".into(),
            config_hash: format!("w{i}"),
        })
        .collect();
    let sweep = store
        .freeze_sweep("exp", "", "spec w", "g.toml", &cells)
        .unwrap();
    // Cell 0: a KILLED run, then a FINISHED one (which stands for it); cell 1: FAILED;
    // cell 2: no run.
    let killed = store.insert_run(&new_run("w0")).unwrap();
    store.end(killed, Status::Killed, "gone").unwrap();
    let finished = store.insert_run(&new_run("w0")).unwrap();
    store.start(finished, "d", "s", "runs/x").unwrap();
    store.finish(finished, &[], &[]).unwrap();
    let failed = store.insert_run(&new_run("w1")).unwrap();
    store.end(failed, Status::Failed, "boom").unwrap();
    let summaries = store.sweep_summaries().unwrap();
    assert_eq!(summaries.len(), 1);
    let s = &summaries[0];
    assert_eq!((s.id, s.experiment.as_str(), s.cells), (sweep, "exp", 3));
    assert_eq!(s.counts.get(Status::Finished), 1);
    assert_eq!(s.counts.get(Status::Failed), 1);
    assert_eq!(s.counts.get(Status::Killed), 0);
    assert_eq!(s.counts.not_run, 1);
    assert!(s.started_at.is_some() && s.ended_at.is_some());
}

fn a_read_only_store_reads_everything_and_writes_nothing(db: Fresh) {
    let (store, ids) = browsable_store(&db);
    store
        .log_epoch(
            ids[0],
            0,
            &[("valid", "loss", 0.5), ("train", "step", 50.0)],
        )
        .unwrap();
    store
        .log_epoch(
            ids[0],
            1,
            &[("valid", "loss", 0.25), ("train", "step", 100.0)],
        )
        .unwrap();
    let reader = Store::open_read_only(&db.url).unwrap();
    assert_eq!(reader.run(ids[1]).unwrap().status, Status::Failed);
    let latest = reader.latest_epochs(&[ids[0], ids[1]]).unwrap();
    let newest = &latest[&ids[0]];
    assert!(newest.iter().all(|m| m.epoch == 1), "{newest:?}");
    assert!(newest.iter().any(|m| m.key == "loss" && m.value == 0.25));
    assert!(!latest.contains_key(&ids[1]));
    let err = reader
        .insert_run(&new_run("write"))
        .expect_err("a read-only store refuses writes");
    assert!(err.to_string().contains("read"), "{err}");
    // The writer goes on while the reader is open.
    store.end(ids[0], Status::Killed, "stopped").unwrap();
    assert_eq!(reader.run(ids[0]).unwrap().status, Status::Killed);
}

#[test]
fn a_read_only_store_needs_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.db");
    let err = Store::open_read_only(&missing.display().to_string())
        .err()
        .unwrap();
    assert!(err.to_string().contains("no run store here"), "{err}");
    assert!(!missing.exists());
}

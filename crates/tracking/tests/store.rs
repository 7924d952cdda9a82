//! The run store against real SQLite files in temporary directories.

use std::sync::Arc;
use std::time::Duration;

use tracking::{
    Artifact, CellSpec, Claim, CodeVersion, FinalMetric, Host, NewRun, ProcessId, RunAxes, Status,
    Store,
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
    }
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("t.db").to_str().unwrap()).unwrap();
    (dir, store)
}

#[test]
fn opening_twice_applies_migrations_once_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sub dir/t.db").display());
    let id = {
        let store = Store::open(&url).unwrap();
        store.insert_run(&new_run("h")).unwrap()
    };
    let store = Store::open(&url).unwrap();
    assert_eq!(store.run(id).unwrap().status, Status::Queued);
}

#[test]
fn many_processes_opening_a_new_store_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("new.db"));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let path = Arc::clone(&path);
            std::thread::spawn(move || Store::open(path.to_str().unwrap()).map(|_| ()))
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
fn freezing_the_same_spec_twice_gives_the_same_sweep() {
    let (_dir, store) = temp_store();
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

#[test]
fn claim_or_skip_follows_the_lifecycle() {
    let (_dir, store) = temp_store();
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

#[test]
fn failed_cells_are_retried_only_when_asked() {
    let (_dir, store) = temp_store();
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

#[test]
fn a_run_whose_process_is_gone_is_killed_and_its_cell_reclaimed() {
    let (_dir, store) = temp_store();
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

#[test]
fn a_run_on_another_host_dies_only_with_a_stale_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("t.db");
    let store = Store::open(url.to_str().unwrap()).unwrap();
    let mut run = new_run("h4");
    run.host.name = "elsewhere".into();
    let Claim::Claimed(id) = store.claim(&run, false).unwrap() else {
        panic!()
    };
    assert!(store.reap_dead().unwrap().is_empty());
    std::thread::sleep(Duration::from_millis(30));
    let impatient = Store::open(url.to_str().unwrap())
        .unwrap()
        .with_stale_after(Duration::from_millis(10));
    assert_eq!(impatient.reap_dead().unwrap(), vec![id]);
}

#[test]
fn concurrent_claims_of_one_cell_give_exactly_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    Store::open(path.to_str().unwrap()).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = Store::open(path.to_str().unwrap()).unwrap();
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

#[test]
fn epoch_metrics_keep_nan_as_nan() {
    let (_dir, store) = temp_store();
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

#[test]
fn reruns_never_block_their_cell_and_record_what_they_rerun() {
    let (_dir, store) = temp_store();
    let Claim::Claimed(original) = store.claim(&new_run("h6"), false).unwrap() else {
        panic!()
    };
    let mut again = new_run("h6");
    again.rerun_of = Some(original);
    let rerun = store.insert_run(&again).unwrap();
    assert_eq!(store.run(rerun).unwrap().rerun_of, Some(original));
    assert_eq!(store.runs(None).unwrap().len(), 2);
}

#[test]
fn sweeps_list_the_runs_of_their_cells() {
    let (_dir, store) = temp_store();
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
    let record = store.sweep(sweep).unwrap();
    let cell_runs = store.cell_runs(&record).unwrap();
    assert_eq!(cell_runs[0].1.as_ref().map(|r| r.id), Some(id));
}

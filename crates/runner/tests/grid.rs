//! Grid files: the committed experiments, expansion, and errors that say where.

use std::path::Path;

use runner::grid::{Grid, ModelKind, config_hash};

fn experiments() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments")
}

#[test]
fn every_committed_experiment_parses() {
    for name in ["smoke", "scale", "paper", "mtat", "jamendo"] {
        let grid = Grid::load(&experiments().join(format!("{name}.toml")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(grid.experiment.name, name);
    }
}

#[test]
fn scale_expands_to_the_product_without_duplicating_gbt() {
    let grid = Grid::load(&experiments().join("scale.toml")).unwrap();
    let cells = grid.cells().unwrap();
    // Four sizes × (GBT + two deep models).
    assert_eq!(cells.len(), 12);
    assert_eq!(
        cells.iter().filter(|c| c.model == ModelKind::Gbt).count(),
        4
    );
    assert!(
        cells
            .iter()
            .filter(|c| c.model == ModelKind::Gbt)
            .all(|c| c.backend.is_none())
    );
    assert!(cells.iter().enumerate().all(|(i, c)| c.index == i));
    // Two backends and two seeds: deep cells multiply, GBT cells only by seed.
    let text = std::fs::read_to_string(experiments().join("scale.toml")).unwrap();
    let wider = text.replace("seed = [1]", "seed = [1, 2]");
    let grid = Grid::parse(&wider).unwrap();
    assert_eq!(grid.cells().unwrap().len(), 4 * 2 + 8 * 2);
}

#[test]
fn unknown_keys_and_wrong_types_say_where() {
    let text = std::fs::read_to_string(experiments().join("smoke.toml")).unwrap();
    let unknown = text.replace("patience = 1", "patience = 1\nwarmup = 3");
    let err = Grid::parse(&unknown).unwrap_err();
    assert!(err.contains("warmup") && err.contains("line"), "{err}");
    let wrong_type = text.replace("batch_size = 8", "batch_size = \"eight\"");
    let err = Grid::parse(&wrong_type).unwrap_err();
    assert!(
        err.contains("batch_size") || err.contains("line 25"),
        "{err}"
    );
    let out_of_range = text.replace("lr = 0.001", "lr = 5.0");
    let err = Grid::parse(&out_of_range).unwrap_err();
    assert!(err.contains("train.lr"), "{err}");
    let bad_model = text.replace("\"gbt\", ", "\"rnn\", ");
    assert!(Grid::parse(&bad_model).unwrap_err().contains("rnn"));
}

#[test]
fn unavailable_backends_fail_at_expansion_naming_the_feature() {
    let text = std::fs::read_to_string(experiments().join("smoke.toml")).unwrap();
    let grid = Grid::parse(&text.replace("backend = [\"flex\"]", "backend = [\"flex\", \"cuda\"]"))
        .unwrap();
    if !models::Backend::Cuda.is_compiled() {
        let err = grid.cells().unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
    let grid = Grid::parse(&text.replace("backend = [\"flex\"]", "backend = [\"tpu\"]")).unwrap();
    assert!(grid.cells().unwrap_err().to_string().contains("tpu"));
}

#[test]
fn config_hash_is_canonical() {
    let grid = Grid::load(&experiments().join("smoke.toml")).unwrap();
    let cells = grid.cells().unwrap();
    assert_eq!(config_hash(&cells[0]), config_hash(&cells[0].clone()));
    assert_ne!(config_hash(&cells[0]), config_hash(&cells[1]));
}

/// A resolved config is a deep recipe or a GBT one, stored as one flat JSON object with the
/// other kind's sections `null` — the layout every recorded hash is of — and a stored config
/// that mixes the two is refused by name.
#[test]
fn stored_configs_keep_their_layout_and_refuse_a_mix_of_deep_and_gbt() {
    use runner::RunConfig;
    let grid = Grid::load(&experiments().join("smoke.toml")).unwrap();
    let configs: Vec<RunConfig> = grid
        .cells()
        .unwrap()
        .iter()
        .map(|c| grid.resolve(c))
        .collect();
    let gbt = configs.iter().find(|c| c.deep().is_none()).unwrap();
    let deep = configs.iter().find(|c| c.deep().is_some()).unwrap();
    for config in [gbt, deep] {
        assert_eq!(&RunConfig::from_json(&config.to_json()).unwrap(), config);
    }
    let gbt_json: serde_json::Value = serde_json::from_str(&gbt.to_json()).unwrap();
    for section in ["backend", "features", "widths", "train"] {
        assert!(gbt_json[section].is_null(), "{section}: {gbt_json}");
    }
    assert!(gbt_json["gbt"].is_object());
    let deep_json: serde_json::Value = serde_json::from_str(&deep.to_json()).unwrap();
    assert!(deep_json["gbt"].is_null() && deep_json["train"].is_object());

    let mut mixed = deep_json.clone();
    mixed["gbt"] = gbt_json["gbt"].clone();
    let err = RunConfig::from_json(&mixed.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no `gbt`"), "{err}");
    let mut bare = gbt_json.clone();
    bare["gbt"] = serde_json::Value::Null;
    let err = RunConfig::from_json(&bare.to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a gbt run has a `gbt` section"), "{err}");
}

/// The grid and the model check widths against one set of bounds: the widest grid that parses
/// builds its model, and one step beyond is refused by the grid, naming the key.
#[test]
fn a_grid_within_the_width_bounds_always_builds_its_model() {
    use models::config::limits;
    let text = std::fs::read_to_string(experiments().join("smoke.toml")).unwrap();
    let widest = text
        .replace("nf = 4", &format!("nf = {}", limits::NF.end()))
        .replace(
            "backend_width = 16",
            &format!("backend_width = {}", limits::WIDTH.end()),
        )
        .replace(
            "dense_units = ",
            &format!("dense_units = {} #", limits::WIDTH.end()),
        );
    assert_ne!(widest, text);
    let grid = Grid::parse(&widest).unwrap_or_else(|e| panic!("{e}"));
    let deep = grid
        .cells()
        .unwrap()
        .into_iter()
        .map(|c| grid.resolve(&c))
        .find(|c| c.deep().is_some())
        .unwrap();
    deep.model_config(3).unwrap();
    let too_wide = widest.replace(
        &format!("nf = {}", limits::NF.end()),
        &format!("nf = {}", limits::NF.end() + 1),
    );
    let err = Grid::parse(&too_wide).unwrap_err();
    assert!(err.contains("`model.nf`"), "{err}");
}

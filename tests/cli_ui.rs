//! `tagscale ui` end to end: the real binary serving a store a smoke sweep wrote, read over
//! HTTP — pages, filters, comparison, downloads, escaping, the token and the runs-root check.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Workspace, ok, text};

/// A running `tagscale ui` and its base URL; killed when dropped.
struct Ui {
    child: Child,
    base: String,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_ui(ws: &Workspace, extra: &[&str]) -> Ui {
    let mut args = vec!["ui", "--bind", "127.0.0.1:0"];
    args.extend(extra);
    let mut child = ws
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("dashboard: ")
        .unwrap_or_else(|| panic!("no address line: {line:?}"))
        .to_string();
    let base = url
        .split('?')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    Ui { child, base }
}

struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

fn get(url: &str, bearer: Option<&str>) -> Reply {
    let (status, headers, body) = get_bytes(url, bearer);
    Reply {
        status,
        headers,
        body: String::from_utf8(body).unwrap_or_default(),
    }
}

fn get_bytes(url: &str, bearer: Option<&str>) -> (u16, ureq::http::HeaderMap, Vec<u8>) {
    match bearer {
        Some(token) => get_with(url, &[("Authorization", &format!("Bearer {token}"))]),
        None => get_with(url, &[]),
    }
}

fn get_with(url: &str, headers: &[(&str, &str)]) -> (u16, ureq::http::HeaderMap, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().unwrap();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_default();
    (response.status().as_u16(), response.headers().clone(), body)
}

/// Sweep `id`'s analysis fragment once it is computed for the cells as they are (the sweep page
/// shows it as "computing" when it takes longer than a page may wait).
fn analysis_of(base: &str, id: i64) -> Reply {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let reply = get(&format!("{base}/sweeps/{id}/analysis"), None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        if !reply.body.contains("class=\"muted updating\"") {
            return reply;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the analysis was never computed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// GET with a `Range` header.
fn get_range(url: &str, range: &str) -> (u16, ureq::http::HeaderMap, Vec<u8>) {
    get_with(url, &[("Range", range)])
}

/// The smoke grid with a description no page may run as HTML.
const HOSTILE: &str = r#"<script>alert(1)</script> "quoted" & <b>bold</b>"#;

/// One smoke sweep (with the hostile description) that the read-only tests share: each sweep
/// costs a test binary tens of seconds.
fn shared_swept() -> &'static Workspace {
    static SWEPT: OnceLock<Workspace> = OnceLock::new();
    SWEPT.get_or_init(|| {
        let ws = Workspace::reused("ui-swept");
        sweep_hostile(&ws);
        ws
    })
}

/// A workspace of its own, for a test that changes the store.
fn own_swept() -> Workspace {
    let ws = Workspace::new();
    sweep_hostile(&ws);
    ws
}

fn sweep_hostile(ws: &Workspace) {
    let grid = std::fs::read_to_string(common::smoke()).unwrap();
    let hostile = grid.replacen(
        "description = \"Tiny end-to-end check: GBT, waveform and spectrogram on 80 synthetic tracks\"",
        &format!("description = {}", toml_string(HOSTILE)),
        1,
    );
    assert_ne!(grid, hostile, "the smoke grid's description line changed");
    let path = ws.path().join("hostile.toml");
    std::fs::write(&path, hostile).unwrap();
    ok(&ws.run(&["sweep", path.to_str().unwrap()]));
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn the_dashboard_serves_a_swept_store() {
    let ws = shared_swept();
    let ui = start_ui(ws, &[]);
    let page = |path: &str| get(&format!("{}{path}", ui.base), None);

    let sweeps = page("/sweeps");
    assert_eq!(sweeps.status, 200, "{}", sweeps.body);
    assert!(sweeps.body.contains("smoke"), "{}", sweeps.body);
    let csp = sweeps.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );

    let sweep = page("/sweeps/1");
    assert_eq!(sweep.status, 200, "{}", sweep.body);
    assert!(
        !sweep.body.contains("<script>alert"),
        "the description ran as HTML"
    );
    assert!(sweep.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        sweep.body.contains("data-refresh=\"/sweeps/1/analysis\""),
        "{}",
        sweep.body
    );
    let analysis = analysis_of(&ui.base, 1);
    assert!(
        analysis.body.contains("Δ (spectrogram − waveform)"),
        "no Δ-table: {}",
        analysis.body
    );
    // Nothing left to compute or run: the live refresh stops.
    assert!(
        analysis.body.starts_with("<div data-active=\"0\">"),
        "{}",
        analysis.body
    );
    assert!(
        page("/sweeps/1")
            .body
            .contains("Δ (spectrogram − waveform)"),
        "the sweep page does not show the computed Δ-table"
    );
    assert_eq!(page("/sweeps/999/analysis").status, 404);
    let cells = page("/sweeps/1/cells");
    assert_eq!(cells.body.matches("<tr").count(), common::SMOKE_CELLS);
    assert!(cells.body.contains("data-active=\"0\""), "{}", cells.body);
    let svg = page("/sweeps/1/learning_curves.svg");
    assert_eq!(svg.status, 200);
    assert!(
        svg.body.starts_with("<svg"),
        "{}",
        &svg.body[..80.min(svg.body.len())]
    );

    let runs = page("/runs");
    assert!(
        runs.body.contains(&format!("{} runs", common::SMOKE_CELLS)),
        "{}",
        runs.body
    );
    let gbt = page("/runs?model=gbt");
    assert!(gbt.body.contains("2 runs"), "{}", gbt.body);
    assert!(!gbt.body.contains(">waveform<"));
    let beyond = page("/runs?page=18446744073709551615");
    assert_eq!(beyond.status, 200, "{}", beyond.body);
    let bad = page("/runs?size=many");
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("`size` must be a whole number"),
        "{}",
        bad.body
    );

    let run = page("/runs/1");
    assert_eq!(run.status, 200, "{}", run.body);
    assert!(run.body.contains("tagscale rerun 1 --verify"));
    assert!(run.body.contains("id=\"figures\""), "no test figures");
    let deep_id = ws
        .runs()
        .iter()
        .find(|r| r["model"] != "gbt")
        .and_then(|r| r["id"].as_i64())
        .unwrap();
    let deep = page(&format!("/runs/{deep_id}"));
    assert!(deep.body.contains("<polyline"), "no training curve drawn");

    let tags = page("/runs/1/artifacts/tags");
    assert_eq!(tags.status, 200);
    let on_disk = std::fs::read_to_string(ws.path().join("runs/1/tags.json")).unwrap();
    assert_eq!(tags.body, on_disk);
    assert_eq!(page("/runs/1/artifacts/nothing").status, 404);
    assert_eq!(page("/runs/999").status, 404);

    let compare = page("/compare?run=1&run=2");
    assert_eq!(compare.status, 200, "{}", compare.body);
    assert!(
        compare.body.contains("config.train_size"),
        "{}",
        compare.body
    );
    assert!(
        !compare.body.contains("config.dataset.tracks"),
        "equal keys shown"
    );
    assert_eq!(page("/compare?run=1").status, 400);

    check_seed_groups(&page);
    check_tag_sorting(&page, deep_id);
}

/// `/runs?group=seeds` pools each sweep cell config's seeds (one seed each in the smoke grid,
/// so n=1 and std 0, the run's own figure), and `/compare?group=…` compares groups.
fn check_seed_groups(page: &dyn Fn(&str) -> Reply) {
    let groups = page("/runs?group=seeds");
    assert_eq!(groups.status, 200, "{}", groups.body);
    assert!(
        groups
            .body
            .contains(&format!("{} groups", common::SMOKE_CELLS)),
        "{}",
        groups.body
    );
    assert_eq!(
        groups.body.matches("<td class=\"num\">1 / 1</td>").count(),
        common::SMOKE_CELLS,
        "{}",
        groups.body
    );
    let gbt = page("/runs?group=seeds&model=gbt");
    assert!(gbt.body.contains("2 groups"), "{}", gbt.body);
    assert!(gbt.body.contains("± 0.0000 (n=1)"), "{}", gbt.body);
    // The group's mean is its one run's test ROC-AUC, as the runs table shows it.
    let runs = page("/runs?model=gbt&size=24");
    let grouped = page("/runs?group=seeds&model=gbt&size=24");
    let roc = first_figure(&runs.body);
    assert!(
        grouped.body.contains(&format!("{roc} ± 0.0000 (n=1)")),
        "{roc}: {}",
        grouped.body
    );

    let compared = page("/compare?group=1&group=2");
    assert_eq!(compared.status, 200, "{}", compared.body);
    assert!(compared.body.contains("Compare seed groups"));
    assert!(compared.body.contains("B − A"), "{}", compared.body);
    assert!(
        compared.body.contains("config.train_size"),
        "{}",
        compared.body
    );
    assert!(!compared.body.contains("config.seed"), "{}", compared.body);
    assert!(
        !compared.body.contains("config.dataset.tracks"),
        "equal keys shown"
    );
    assert_eq!(page("/compare?group=1").status, 400);
    assert_eq!(page("/compare?group=x&group=1").status, 400);
}

/// The first test ROC-AUC cell of a runs table (`0.1234`).
fn first_figure(body: &str) -> String {
    let row = body.split("<tbody>").nth(1).expect("a table body");
    row.split("<td class=\"num\">")
        .filter_map(|cell| cell.split('<').next())
        .find(|v| v.len() == 6 && v.starts_with("0."))
        .expect("a figure")
        .to_string()
}

/// The run page's per-tag rows sort by a figure (up, then down) and refuse an unknown one.
fn check_tag_sorting(page: &dyn Fn(&str) -> Reply, run: i64) {
    let roc = |query: &str| -> Vec<f64> {
        let body = page(&format!("/runs/{run}?{query}")).body;
        body.split("<tr class=\"tag\">")
            .skip(1)
            .filter_map(|row| {
                let cell = row.split("<td class=\"num\">").nth(1)?;
                cell.split([' ', '<']).next()?.parse().ok()
            })
            .collect()
    };
    let up = roc("sort=roc_auc");
    assert!(up.len() >= 3, "{up:?}");
    assert!(up.windows(2).all(|w| w[0] <= w[1]), "{up:?}");
    let down = roc("sort=roc_auc&desc=1");
    assert!(down.windows(2).all(|w| w[0] >= w[1]), "{down:?}");
    let bad = page(&format!("/runs/{run}?sort=flavour"));
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("sort by tag"), "{}", bad.body);
}

/// The test tracks and human labels a run saved: `(header, rows of (track, values))`.
fn labels_test(ws: &Workspace, run: i64) -> (Vec<String>, Vec<(String, Vec<f64>)>) {
    let path = ws.path().join(format!("runs/{run}/labels_test.csv"));
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let values = r.iter().skip(1).map(|v| v.parse().unwrap()).collect();
            (r[0].to_string(), values)
        })
        .collect();
    (header, rows)
}

/// The number the Listen page's `#track-count` line starts with.
fn track_count(body: &str) -> usize {
    let at = body.find("id=\"track-count\">").unwrap() + "id=\"track-count\">".len();
    body[at..].split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn the_listen_page_plays_test_tracks_beside_both_models_tags() {
    let ws = shared_swept();
    let ui = start_ui(ws, &[]);
    let page = |path: &str| get(&format!("{}{path}", ui.base), None);
    let runs = ws.runs();
    let id_of = |model: &str, size: i64| {
        runs.iter()
            .find(|r| r["model"] == model && r["train_size"] == size)
            .and_then(|r| r["id"].as_i64())
            .unwrap()
    };
    let (spectrogram, gbt) = (id_of("spectrogram", 48), id_of("gbt", 48));

    let listen = page("/sweeps/1/listen");
    assert_eq!(listen.status, 200, "{}", listen.body);
    let (header, tracks) = labels_test(ws, gbt);
    assert_eq!(track_count(&listen.body), tracks.len());
    assert_eq!(
        listen.body.matches("<section class=\"track\"").count(),
        tracks.len().min(10)
    );
    // By default the largest training set's spectrogram and GBT runs, as in examples.md.
    for run in [spectrogram, gbt] {
        assert!(
            listen
                .body
                .contains(&format!("<option value=\"{run}\" selected>")),
            "run {run} not chosen: {}",
            listen.body
        );
    }
    assert!(
        !listen.body.contains("tempo <span"),
        "a regression tag was ranked among the top tags"
    );

    // The audio is the synthetic track rendered as the cache renders it.
    let (first, _) = &tracks[0];
    let (status, headers, wav) = get_bytes(
        &format!("{}/runs/{spectrogram}/audio/{first}", ui.base),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "audio/wav");
    let manifest = datasets::synth::manifest(&datasets::synth::SynthConfig {
        tracks: 80,
        seed: 7,
        seconds: 4.0,
    })
    .unwrap();
    let track = manifest.tracks.iter().find(|t| &t.id == first).unwrap();
    let datasets::Source::Synth { seed, index } = track.source else {
        panic!("not synthetic")
    };
    let expected =
        datasets::synth::wav_bytes(&datasets::synth::render_track(seed, index, 4.0)).unwrap();
    assert_eq!(wav, expected, "the served WAV is not the track");
    assert_eq!(headers["accept-ranges"], "bytes");
    // A browser seeking asks for a part.
    let audio_url = format!("{}/runs/{spectrogram}/audio/{first}", ui.base);
    let (status, headers, part) = get_range(&audio_url, "bytes=100-1099");
    assert_eq!(status, 206);
    assert_eq!(part, expected[100..1100], "the part is not those bytes");
    assert_eq!(
        headers["content-range"],
        format!("bytes 100-1099/{}", expected.len()).as_str()
    );
    let (status, _, tail) = get_range(&audio_url, "bytes=-44");
    assert_eq!(
        (status, tail.as_slice()),
        (206, &expected[expected.len() - 44..])
    );
    let past = format!("bytes={}-", expected.len());
    assert_eq!(get_range(&audio_url, &past).0, 416);
    let training = manifest
        .tracks
        .iter()
        .find(|t| t.split == datasets::Split::Train)
        .unwrap();
    let refused = page(&format!("/runs/{spectrogram}/audio/{}", training.id));
    assert_eq!(refused.status, 404, "only test tracks are served");

    // The tag filter keeps exactly the tracks the human labels give that tag.
    let column = header.iter().position(|h| h == "rock").unwrap() - 1;
    let rock = tracks.iter().filter(|(_, v)| v[column] >= 0.5).count();
    let filtered = page("/sweeps/1/listen?tag=rock");
    assert_eq!(track_count(&filtered.body), rock, "{}", filtered.body);
    assert_eq!(page("/sweeps/1/listen?tag=nonsense").status, 400);
    let wrong = page(&format!("/sweeps/1/listen?deep={gbt}"));
    assert_eq!(wrong.status, 400, "a GBT run offered as the deep model");
    assert!(
        wrong.body.contains("not a finished deep run"),
        "{}",
        wrong.body
    );
}

/// A dataset imported from a CSV whose tag names are markup; its audio files are WAVs.
#[test]
fn hostile_tag_names_render_as_text_and_file_audio_is_served() {
    const TAG: &str = "<script>alert(1)</script>";
    let ws = Workspace::new();
    let corpus = ws.path().join("corpus");
    let corpus_arg = corpus.to_str().unwrap();
    ok(&ws.run(&[
        "data",
        "synth",
        "--out",
        corpus_arg,
        "--tracks",
        "60",
        "--seconds",
        "4",
    ]));
    let mut rows = vec![format!("path,split,\"{TAG}\",energy")];
    for i in 0..60 {
        let split = ["train", "train", "train", "validation", "test"][i % 5];
        let energy = (i % 7) as f64 / 7.0;
        rows.push(format!(
            "audio/synth-{i:06}.wav,{split},{},{energy:.2}",
            i % 2
        ));
    }
    let csv = corpus.join("labels.csv");
    std::fs::write(&csv, rows.join("\n") + "\n").unwrap();
    let imported = ws.path().join("data/hostile");
    ok(&ws.run(&[
        "data",
        "import",
        "csv",
        csv.to_str().unwrap(),
        "--out",
        imported.to_str().unwrap(),
    ]));
    let grid = ws.path().join("hostile-tags.toml");
    std::fs::write(
        &grid,
        "[experiment]\nname = \"hostile-tags\"\n[dataset]\nkind = \"csv\"\npath = \"hostile\"\n\
         [grid]\nmodel = [\"gbt\"]\ntrain_size = [30]\n",
    )
    .unwrap();
    ok(&ws.run(&["sweep", grid.to_str().unwrap()]));
    let ui = start_ui(&ws, &[]);
    let page = |path: &str| get(&format!("{}{path}", ui.base), None);
    for path in ["/runs/1", "/sweeps/1/listen"] {
        let reply = page(path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert!(
            !reply.body.contains(TAG),
            "{path}: the tag name ran as HTML"
        );
        assert!(
            reply.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: the tag is not shown: {}",
            reply.body
        );
    }
    let (_, tracks) = labels_test(&ws, 1);
    let (first, _) = &tracks[0];
    let (status, headers, bytes) = get_bytes(
        &format!("{}/runs/1/audio/{}", ui.base, url_path(first)),
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["content-type"], "audio/wav");
    assert_eq!(bytes, std::fs::read(corpus.join(first)).unwrap());
}

/// A track id (here a relative path) as one URL path segment.
fn url_path(id: &str) -> String {
    id.replace('/', "%2F")
}

#[test]
fn artifacts_outside_the_runs_root_are_refused() {
    let ws = own_swept();
    let outside = ws.path().join("secret.txt");
    std::fs::write(&outside, "not an artifact").unwrap();
    let link = ws.path().join("runs/1/link.json");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let url = format!("sqlite://{}", ws.path().join("tagscale.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        for (name, path) in [
            ("tags", outside.display().to_string()),
            (
                "log",
                format!("{}/runs/1/../../secret.txt", ws.path().display()),
            ),
            ("predictions_test", link.display().to_string()),
        ] {
            sqlx::query("UPDATE artifacts SET path = $1 WHERE run_id = 1 AND name = $2")
                .bind(path)
                .bind(name)
                .execute(&mut db)
                .await
                .unwrap();
        }
    });
    let ui = start_ui(&ws, &[]);
    for name in ["tags", "log", "predictions_test"] {
        let reply = get(&format!("{}/runs/1/artifacts/{name}", ui.base), None);
        assert_eq!(reply.status, 403, "{name}: {}", reply.body);
        assert!(!reply.body.contains("not an artifact"));
    }
}

#[test]
fn a_token_guards_every_request_and_other_hosts_need_one() {
    let ws = shared_swept();
    let out = ws.run(&["ui", "--bind", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("give a token"), "{}", text(&out));

    let out = ws.run(&["ui", "--bind", "127.0.0.1:0", "--token", "a b&c"]);
    assert!(text(&out).contains("a token must be"), "{}", text(&out));
    let ui = start_ui(ws, &["--token", "s3cret"]);
    let page = format!("{}/sweeps", ui.base);
    assert_eq!(get(&page, None).status, 401);
    assert_eq!(get(&page, Some("wrong")).status, 401);
    assert_eq!(get(&page, Some("s3cret")).status, 200);
    let css = get(&format!("{}/assets/style.css", ui.base), None);
    assert_eq!(css.status, 401, "assets are guarded too");
    let link = get(&format!("{page}?token=s3cret"), None);
    assert_eq!(link.status, 200);
    let cookie = link.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

#[test]
fn the_dashboard_needs_an_existing_store() {
    let ws = Workspace::new();
    let out = ws.run(&["ui", "--bind", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no run store here"), "{}", text(&out));
}

/// Where the browser test leaves its screenshots (not committed; look at them).
fn screenshot_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")
}

#[test]
fn the_pages_work_in_a_real_browser() {
    let test = "the_pages_work_in_a_real_browser";
    if !testkit::available(test, &[testkit::Service::Browser]) {
        return;
    }
    let ws = shared_swept();
    let ui = start_ui(ws, &[]);
    let browser = testkit::Browser::start();
    let shots = screenshot_dir();
    let visit = |path: &str, name: &str| {
        browser.goto(&format!("{}{path}", ui.base));
        browser.screenshot(&shots.join(format!("{name}.png")));
    };
    let count = |selector: &str| {
        browser
            .eval(&format!(
                "return document.querySelectorAll({}).length",
                serde_json::to_string(selector).unwrap()
            ))
            .as_u64()
            .unwrap()
    };

    visit("/sweeps", "sweeps");
    assert_eq!(count("#sweeps tbody tr"), 1);

    analysis_of(&ui.base, 1);
    visit("/sweeps/1", "sweep");
    assert_eq!(count("#cells tbody tr"), common::SMOKE_CELLS as u64);
    assert!(count("#delta tbody tr") > 0);
    assert!(
        browser.wait_until(
            "const i = document.querySelector('img.curves'); return i.complete && i.naturalWidth > 0",
            Duration::from_secs(30),
        ),
        "the learning curves did not load"
    );
    // The description is text: no element was made from it, no script ran.
    assert_eq!(
        browser.eval(
            "return Array.from(document.querySelectorAll('b')).some(b => b.textContent === 'bold')"
        ),
        serde_json::Value::Bool(false),
        "the description's <b> became an element"
    );
    assert!(
        browser
            .eval("return document.body.innerText")
            .as_str()
            .unwrap()
            .contains("<script>alert(1)</script>")
    );

    visit("/runs", "runs");
    assert_eq!(count("#runs tbody tr"), common::SMOKE_CELLS as u64);
    browser.eval(
        "document.querySelector('input[name=model]').value = 'gbt';
         document.querySelector('form.filters').submit(); return true",
    );
    assert!(
        browser.wait_until(
            "return location.search.includes('model=gbt') && document.readyState === 'complete'",
            Duration::from_secs(30),
        ),
        "the filter did not submit"
    );
    assert_eq!(
        count("#runs tbody tr"),
        2,
        "the filter did not narrow the table"
    );

    let deep = ws
        .runs()
        .iter()
        .filter(|r| r["model"] != "gbt")
        .filter_map(|r| r["id"].as_i64())
        .take(2)
        .collect::<Vec<_>>();
    visit(&format!("/runs/{}", deep[0]), "run");
    assert!(count("svg.chart polyline") >= 2, "no training curves drawn");

    visit(
        &format!("/compare?run={}&run={}", deep[0], deep[1]),
        "compare",
    );
    assert!(count("#differences tbody tr") > 0);
    assert!(count("svg.chart polyline") >= 2, "no curves overlaid");

    visit("/sweeps/1/listen", "listen");
    assert!(count("section.track audio") > 0, "no audio player");
    browser.eval(
        "const a = document.querySelector('section.track audio'); a.preload = 'auto'; a.load(); \
         return true",
    );
    assert!(
        browser.wait_until(
            "const a = document.querySelector('section.track audio'); \
             return a.readyState >= 1 && a.duration > 3.9 && !a.error",
            Duration::from_secs(30),
        ),
        "the audio element did not load the track's WAV"
    );
    // Seeking needs byte ranges: without them Chromium jumps back to the start.
    browser.eval("document.querySelector('section.track audio').currentTime = 2.5; return true");
    assert!(
        browser.wait_until(
            "const a = document.querySelector('section.track audio'); \
             return !a.seeking && Math.abs(a.currentTime - 2.5) < 0.05",
            Duration::from_secs(30),
        ),
        "the audio element could not seek"
    );
    assert!(
        count("span.hit") > 0,
        "no top tag agrees with a human label"
    );

    let errors: Vec<_> = browser
        .console()
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

#[test]
fn the_sweep_page_updates_live_while_the_sweep_runs() {
    let test = "the_sweep_page_updates_live_while_the_sweep_runs";
    if !testkit::available(test, &[testkit::Service::Browser]) {
        return;
    }
    let ws = Workspace::new();
    ok(&ws.run(&["db", "migrate"]));
    let mut sweep = ws
        .command(&["sweep", common::smoke().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ui = start_ui(&ws, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while get(&format!("{}/sweeps/1", ui.base), None).status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep never appeared"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let browser = testkit::Browser::start();
    browser.goto(&format!("{}/sweeps/1", ui.base));
    let finished = "return document.querySelectorAll('#cells .status-FINISHED').length";
    let at_load = browser.eval(finished).as_u64().unwrap();
    assert!(
        at_load < common::SMOKE_CELLS as u64,
        "the sweep had finished before the page loaded: nothing to watch"
    );
    // A mark on this document: a reload would lose it.
    browser.eval("window.loadedOnce = true; return true");
    let all_done = format!(
        "return window.loadedOnce === true && \
         document.querySelectorAll('#cells .status-FINISHED').length === {}",
        common::SMOKE_CELLS
    );
    let updated = browser.wait_until(&all_done, Duration::from_secs(300));
    browser.screenshot(&screenshot_dir().join("sweep-live.png"));
    let status = sweep.wait().unwrap();
    assert!(status.success(), "the sweep failed");
    assert!(
        updated,
        "the page did not show every cell finished without a reload ({at_load} at load)"
    );
    // The analysis the page computed before the cells finished is replaced, and the page
    // itself showed the new one without a reload.
    let reloaded = analysis_of(&ui.base, 1);
    assert!(
        reloaded.body.contains("Δ (spectrogram − waveform)"),
        "a stale Δ-table: {}",
        reloaded.body
    );
    assert!(
        browser.wait_until(
            "return window.loadedOnce === true && \
             (document.querySelector('#delta') || {innerText: ''}).innerText \
                 .includes('Δ (spectrogram − waveform)') && \
             !document.querySelector('#analysis .updating')",
            Duration::from_secs(60),
        ),
        "the page's Δ-table did not update without a reload"
    );
}

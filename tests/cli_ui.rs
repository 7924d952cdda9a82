//! `tagscale ui` end to end: the real binary serving a store a smoke sweep wrote, read over
//! HTTP — pages, filters, comparison, downloads, escaping, the token and the runs-root check.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
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
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(token) = bearer {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().unwrap();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// The smoke grid with a description no page may run as HTML.
const HOSTILE: &str = r#"<script>alert(1)</script> "quoted" & <b>bold</b>"#;

fn swept_workspace() -> Workspace {
    let ws = Workspace::new();
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
    ws
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn the_dashboard_serves_a_swept_store() {
    let ws = swept_workspace();
    let ui = start_ui(&ws, &[]);
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
        sweep.body.contains("Δ (spectrogram − waveform)"),
        "no Δ-table"
    );
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
}

#[test]
fn artifacts_outside_the_runs_root_are_refused() {
    let ws = swept_workspace();
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
    let ws = swept_workspace();
    let out = ws.run(&["ui", "--bind", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("give a token"), "{}", text(&out));

    let out = ws.run(&["ui", "--bind", "127.0.0.1:0", "--token", "a b&c"]);
    assert!(text(&out).contains("a token must be"), "{}", text(&out));
    let ui = start_ui(&ws, &["--token", "s3cret"]);
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
    let ws = swept_workspace();
    let ui = start_ui(&ws, &[]);
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

    let errors: Vec<_> = browser
        .console()
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

//! End-to-end: `tagscale model info`.

use std::process::Command;

fn tagscale(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tagscale"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn model_info_prints_the_layer_table_and_the_paper_parameter_counts() {
    for (model, expected) in [
        ("spectrogram", "parameters: 5926198"),
        ("waveform", "parameters: 5379126"),
    ] {
        let out = tagscale(&["model", "info", model, "--tags", "50"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.lines().any(|l| l == expected), "{text}");
    }
    let out = tagscale(&["model", "info", "waveform", "--patch-seconds", "15"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("[256, 108]"));
}

#[test]
fn model_info_rejects_unknown_models_and_too_short_patches() {
    let out = tagscale(&["model", "info", "transformer"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("transformer"));
    let out = tagscale(&["model", "info", "waveform", "--patch-seconds", "0.5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too short"));
}

//! Importers on project-made fixtures in the datasets' exact published formats.

use std::fmt::Write as _;
use std::path::Path;

use datasets::import::{csv_manifest, jamendo, mtat};
use datasets::{Split, TagKind};

fn touch(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        b"audio bytes (existence and size are what importers check)",
    )
    .unwrap();
}

/// `annotations_final.csv` as distributed: tab-separated, every field double-quoted, CRLF,
/// clip_id + 188 tags + mp3_path. Tag `t{j}` is on for clip i when (i * 7 + j) % (j + 2) == 0,
/// so low-numbered tags are the most frequent.
fn write_mtat(dir: &Path, clips: &[(u32, &str)]) {
    let tags: Vec<String> = (0..188).map(|j| format!("t{j:03}")).collect();
    let mut text = String::new();
    let header: Vec<String> = std::iter::once("clip_id".to_string())
        .chain(tags.iter().cloned())
        .chain(std::iter::once("mp3_path".to_string()))
        .map(|h| format!("\"{h}\""))
        .collect();
    write!(text, "{}\r\n", header.join("\t")).unwrap();
    for (i, (clip, path)) in clips.iter().enumerate() {
        let mut fields = vec![format!("\"{clip}\"")];
        fields.extend((0..188).map(|j| format!("\"{}\"", u8::from((i * 7 + j) % (j + 2) == 0))));
        fields.push(format!("\"{path}\""));
        write!(text, "{}\r\n", fields.join("\t")).unwrap();
    }
    std::fs::write(dir.join(mtat::ANNOTATIONS), text).unwrap();
}

#[test]
fn mtat_top50_folder_split_broken_and_missing_clips() {
    let dir = tempfile::tempdir().unwrap();
    let folders = ["0", "3", "9", "a", "b", "c", "d", "e", "f"];
    let mut clips: Vec<(u32, String)> = (0..45)
        .map(|i| {
            (
                1000 + i,
                format!(
                    "{}/artist{}-album-{:02}-song{}-{}-{}.mp3",
                    folders[i as usize % 9],
                    i % 5,
                    i % 3,
                    i,
                    30 * (i % 2),
                    30 * (i % 2) + 29
                ),
            )
        })
        .collect();
    clips.push((35644, "c/broken-clip-01-x-0-29.mp3".into()));
    clips.push((77777, "e/missing-artist-01-gone-0-29.mp3".into()));
    for (id, path) in &clips {
        if *id != 77777 {
            touch(&dir.path().join(path));
        }
    }
    let refs: Vec<(u32, &str)> = clips.iter().map(|(i, p)| (*i, p.as_str())).collect();
    write_mtat(dir.path(), &refs);

    let m = mtat::import(dir.path(), 50, &mtat::MtatSplit::FolderLetter).unwrap();
    assert_eq!(m.schema.len(), 50);
    assert!(
        m.schema
            .tags
            .iter()
            .all(|t| t.kind == TagKind::Classification)
    );
    // The most frequent tags (low j) are kept; the rarest are not.
    assert!(m.schema.index_of("t000").is_ok());
    assert!(m.schema.index_of("t187").is_err());
    assert_eq!(m.tracks.len(), 45);
    // Folders 0, 3, 9, a, b -> train; c -> validation; d, e, f -> test.
    assert_eq!(m.count(Split::Train), 25);
    assert_eq!(m.count(Split::Validation), 5);
    assert_eq!(m.count(Split::Test), 15);
    let broken = m.bad_tracks.iter().find(|b| b.id == "35644").unwrap();
    assert!(broken.reason.contains("broken"));
    let missing = m.bad_tracks.iter().find(|b| b.id == "77777").unwrap();
    assert!(
        missing
            .path
            .as_ref()
            .unwrap()
            .ends_with("e/missing-artist-01-gone-0-29.mp3")
    );
    assert!(missing.reason.contains("missing"));
    assert!(m.tracks.iter().all(|t| t.size_bytes.is_some()));
    // Labels are the annotation values of the kept columns.
    let first = m.tracks.iter().find(|t| t.id == "1000").unwrap();
    assert_eq!(first.labels[m.schema.index_of("t000").unwrap()], 1.0);

    // A user-supplied split list overrides the folder split and selects clips.
    let list = dir.path().join("split.txt");
    std::fs::write(&list, "1000 test\n1001,train\n\"1002\"\tvalidation\n").unwrap();
    let m = mtat::import(dir.path(), 50, &mtat::MtatSplit::List(list)).unwrap();
    assert_eq!(m.tracks.len(), 3);
    assert_eq!(
        m.tracks.iter().find(|t| t.id == "1000").unwrap().split,
        Split::Test
    );
}

#[test]
fn mtat_with_a_bad_value_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    write_mtat(
        dir.path(),
        &[(1, "0/a-b-01-c-0-29.mp3"), (2, "0/a-b-01-d-0-29.mp3")],
    );
    let path = dir.path().join(mtat::ANNOTATIONS);
    let text = std::fs::read_to_string(&path).unwrap();
    let corrupted = text.replacen("\"2\"\t\"0\"", "\"2\"\t\"yes\"", 1);
    assert_ne!(corrupted, text);
    std::fs::write(&path, corrupted).unwrap();
    let err = mtat::import(dir.path(), 50, &mtat::MtatSplit::FolderLetter).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(":3:") && message.contains("yes"),
        "{message}"
    );
}

#[test]
fn jamendo_split_files_with_variable_tag_columns() {
    let dir = tempfile::tempdir().unwrap();
    let header = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\r\n";
    let files = [
        (
            Split::Train,
            vec![
                "track_0000214\tartist_000014\talbum_000031\t14/214.mp3\t124.6\tgenre---punkrock\r\n",
                "track_0000215\tartist_000014\talbum_000031\t15/215.mp3\t90.0\tgenre---rock\tinstrument---synthesizer\tmood/theme---happy\r\n",
            ],
        ),
        (
            Split::Validation,
            vec![
                "track_0000300\tartist_000020\talbum_000040\t00/300.mp3\t200.0\tgenre---rock\tmood/theme---sad\r\n",
            ],
        ),
        (
            Split::Test,
            vec![
                "track_0000400\tartist_000021\talbum_000041\t00/400.mp3\t33.3\tinstrument---piano\r\n",
            ],
        ),
    ];
    for (split, rows) in &files {
        let text = format!("{header}{}", rows.concat());
        std::fs::write(
            jamendo::split_file(dir.path(), "autotagging_top50tags", *split),
            text,
        )
        .unwrap();
    }
    let audio = dir.path().join("audio");
    for p in ["14/214.mp3", "15/215.mp3", "00/300.mp3"] {
        touch(&audio.join(p));
    }
    let m = jamendo::import(dir.path(), "autotagging_top50tags", &audio).unwrap();
    let names: Vec<&str> = m.schema.names().collect();
    assert_eq!(
        names,
        [
            "genre---punkrock",
            "genre---rock",
            "instrument---piano",
            "instrument---synthesizer",
            "mood/theme---happy",
            "mood/theme---sad"
        ]
    );
    assert_eq!(m.tracks.len(), 3);
    let t = m.tracks.iter().find(|t| t.id == "track_0000215").unwrap();
    assert_eq!(t.labels, vec![0.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
    assert_eq!(t.group, "artist_000014");
    assert_eq!(t.duration, Some(90.0));
    assert_eq!(
        m.tracks
            .iter()
            .find(|t| t.id == "track_0000300")
            .unwrap()
            .split,
        Split::Validation
    );
    let missing = &m.bad_tracks[0];
    assert_eq!(missing.id, "track_0000400");
    assert!(missing.path.as_ref().unwrap().ends_with("00/400.mp3"));
}

#[test]
fn csv_manifest_infers_kinds_takes_overrides_and_reports_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..6 {
        touch(&dir.path().join(format!("songs/{i}.wav")));
    }
    let file = dir.path().join("labels.csv");
    std::fs::write(
        &file,
        "path,group,rock,valence,split\r\nsongs/0.wav,a,1,0.31,train\r\nsongs/1.wav,a,0,0.72,train\r\nsongs/2.wav,b,0,0.05,validation\r\nsongs/3.wav,c,1,0.9,\r\nsongs/4.wav,c,0,0.5,test\r\nsongs/9.wav,d,1,0.1,test\r\n",
    )
    .unwrap();
    let m = csv_manifest::import(&file, &[], 3).unwrap();
    assert_eq!(m.schema.tags[0].kind, TagKind::Classification);
    assert_eq!(m.schema.tags[1].kind, TagKind::Regression);
    assert_eq!(m.tracks.len(), 5);
    assert_eq!(m.bad_tracks.len(), 1, "songs/9.wav is missing");
    let m = csv_manifest::import(&file, &[("rock".into(), TagKind::Regression)], 3).unwrap();
    assert_eq!(m.schema.tags[0].kind, TagKind::Regression);
    let err = csv_manifest::import(&file, &[("jazz".into(), TagKind::Regression)], 3).unwrap_err();
    assert!(err.to_string().contains("jazz"));

    let bad = dir.path().join("bad.tsv");
    std::fs::write(&bad, "path\trock\nsongs/0.wav\t1\nsongs/1.wav\t1.7\n").unwrap();
    let message = csv_manifest::import(&bad, &[], 3).unwrap_err().to_string();
    assert!(
        message.contains(":3:") && message.contains("outside [0, 1]"),
        "{message}"
    );
}

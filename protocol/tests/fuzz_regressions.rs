//! Replays the fuzz seeds (`fuzz/corpus/<target>/`) and every saved crash
//! (`fuzz/regressions/<target>/`) through the same checks as the fuzz
//! targets, so that `cargo test` keeps them passing on stable Rust without
//! cargo-fuzz.
//!
//! To turn a crash into a regression test, copy the input libFuzzer saved
//! (`fuzz/artifacts/<target>/crash-*`) to `fuzz/regressions/<target>/`.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

// The checks live with the fuzz crate, which is not part of this workspace.
#[allow(unreachable_pub)]
#[path = "../../fuzz/src/lib.rs"]
mod checks;

/// Fuzz targets whose check is not the protocol's: `viewer_jpeg` drives the
/// viewer's decoder, and the viewer's own tests replay its seeds
/// (`decode::tests::the_fuzz_seeds_decode_or_are_refused_without_a_panic`).
const REPLAYED_ELSEWHERE: &[&str] = &["viewer_jpeg"];

/// The files in `dir/<target>/` for every target, sorted; none if `dir` does
/// not exist.
fn inputs(dir: &Path) -> Vec<(checks::Check, PathBuf)> {
    let Ok(targets) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for target in targets {
        let target = target.unwrap().path();
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        if REPLAYED_ELSEWHERE.contains(&name.as_str()) {
            continue;
        }
        let Some(&(_, check)) = checks::TARGETS.iter().find(|(t, _)| *t == name) else {
            panic!("{}: there is no fuzz target of that name", target.display());
        };
        for file in fs::read_dir(&target).unwrap() {
            found.push((check, file.unwrap().path()));
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

#[test]
fn seeds_and_saved_crashes_pass_the_fuzz_checks() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let seeds = inputs(&fuzz.join("corpus"));
    for (target, _) in checks::TARGETS {
        assert!(
            seeds
                .iter()
                .any(|(_, p)| p.parent().unwrap().ends_with(target)),
            "no seeds for the fuzz target {target}"
        );
    }
    let mut failed = Vec::new();
    for (check, path) in seeds.iter().chain(&inputs(&fuzz.join("regressions"))) {
        let data = fs::read(path).unwrap();
        if panic::catch_unwind(|| check(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "fuzz checks failed for {failed:#?}");
}

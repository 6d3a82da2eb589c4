//! Debian's `ffmpeg` and `ffprobe`, to read back the recordings of the
//! viewer (`--record`) and of the agent (`--record-dir`) as a player would.

use std::path::Path;
use std::process::Command;

/// Whether `ffmpeg` and `ffprobe` run here; says so on stderr when not
/// (the caller then skips).
pub fn have_ffmpeg() -> bool {
    let ok = |p: &str| {
        Command::new(p)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok("ffmpeg") && ok("ffprobe") {
        return true;
    }
    eprintln!("skipped: ffmpeg/ffprobe not installed (apt-get install ffmpeg)");
    false
}

/// Runs `program ARGS` to the end: (success, stdout, stderr).
pub fn run(program: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ffprobe` of the video stream: one `key=value` per line (`count`:
/// decode every frame to count them, `nb_read_frames`).
pub fn probe(file: &Path, entries: &str, count: bool) -> String {
    let mut args = vec!["-v", "error", "-select_streams", "v:0"];
    if count {
        args.push("-count_frames");
    }
    let file = file.to_str().unwrap();
    args.extend(["-show_entries", entries, "-of", "default=nw=1", file]);
    let (ok, out, err) = run("ffprobe", &args);
    assert!(ok, "ffprobe failed: {err}");
    out
}

/// The value of `key` in [`probe`]'s output.
pub fn field<T: std::str::FromStr>(text: &str, key: &str) -> T {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}="))?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {text:?}"))
}

/// What `ffmpeg -v error -i FILE -f null -` says: empty for a file that
/// decodes cleanly.
pub fn decode_errors(file: &Path) -> String {
    let (ok, _, err) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            file.to_str().unwrap(),
            "-f",
            "null",
            "-",
        ],
    );
    if ok {
        err
    } else {
        format!("ffmpeg failed: {err}")
    }
}

//! `status`'s answer and its human table.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

pub use crate::record::{RecordingFile, RecordingStatus};
pub use crate::session::SessionStatus;

/// The agent and its sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The name viewers see.
    pub name: String,
    /// Where it listens.
    pub address: String,
    /// Its TLS fingerprint (`None` with `--no-tls`).
    pub fingerprint: Option<String>,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Whether streaming is paused (`lookout-server pause`).
    pub paused: bool,
    /// Its monitors, as `ID:WxH` with `*` for the primary.
    pub monitors: Vec<String>,
    /// Every live session, by id.
    pub sessions: Vec<SessionStatus>,
    /// The recording (`--record-dir`), if the agent records. Absent from
    /// an older agent's answer.
    #[serde(default)]
    pub recording: Option<RecordingStatus>,
}

/// The table `lookout-server status` prints.
pub fn render(status: &AgentStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "agent       {}", status.name);
    let _ = writeln!(out, "address     {}", status.address);
    let _ = writeln!(
        out,
        "fingerprint {}",
        status.fingerprint.as_deref().unwrap_or("none (--no-tls)")
    );
    let _ = writeln!(out, "uptime      {}", duration(status.uptime_secs));
    let _ = writeln!(out, "monitors    {}", status.monitors.join(" "));
    if status.paused {
        let _ = writeln!(out, "streaming   PAUSED (lookout-server resume)");
    }
    if let Some(recording) = &status.recording {
        render_recording(&mut out, recording);
    }
    if status.sessions.is_empty() {
        let _ = writeln!(out, "no viewers");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>4}  {:<22} {:<7} {:>8}  {:<10} {:>5} {:>8} {:>6}",
        "ID", "PEER", "ROLE", "SINCE", "WATCHING", "FPS", "KBIT/S", "INPUT"
    );
    for s in &status.sessions {
        let watching = if s.monitoring {
            format!("monitor {}", s.monitor)
        } else {
            "no".to_owned()
        };
        let _ = writeln!(
            out,
            "{:>4}  {:<22} {:<7} {:>8}  {:<10} {:>5.1} {:>8.0} {:>6}",
            s.id,
            s.peer.to_string(),
            s.role,
            duration(s.age_secs as u64),
            watching,
            s.fps,
            s.kbit_s,
            s.inputs
        );
    }
    out
}

/// The `recording` lines: the directory and what holds it up, then one
/// line per file being written.
fn render_recording(out: &mut String, rec: &RecordingStatus) {
    let state = match (&rec.held, rec.files.len()) {
        (Some(why), _) => format!("HELD: {why}"),
        (None, 0) => "waiting for a viewer".to_owned(),
        (None, 1) => "1 file".to_owned(),
        (None, n) => format!("{n} files"),
    };
    let _ = write!(out, "recording   {} ({state}", rec.dir);
    if rec.dropped + rec.skipped > 0 {
        let _ = write!(out, "; {} frames not recorded", rec.dropped + rec.skipped);
    }
    let _ = writeln!(out, ")");
    for file in &rec.files {
        let _ = writeln!(
            out,
            "            monitor {}  {}  {:.1} MiB  {}",
            file.monitor,
            file.path,
            file.bytes as f64 / f64::from(1 << 20),
            duration(file.secs)
        );
    }
}

/// `1h02m`, `3m05s`, `42s`.
fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: u64, monitoring: bool) -> SessionStatus {
        SessionStatus {
            id,
            peer: "127.0.0.1:5000".parse().unwrap(),
            role: if monitoring { "control" } else { "view" }.to_owned(),
            since_unix: 0,
            age_secs: 65.0,
            monitoring,
            monitor: 1,
            frames: 300,
            fps: 29.96,
            kbit_s: 1234.4,
            inputs: 7,
        }
    }

    fn agent(sessions: Vec<SessionStatus>) -> AgentStatus {
        AgentStatus {
            name: "desk".into(),
            address: "0.0.0.0:6868".into(),
            fingerprint: None,
            uptime_secs: 3725,
            paused: false,
            monitors: vec!["1:1920x1080*".into()],
            sessions,
            recording: None,
        }
    }

    #[test]
    fn the_table_has_one_row_per_session_with_its_figures() {
        let text = render(&agent(vec![session(3, true), session(4, false)]));
        assert!(text.contains("uptime      1h02m"), "{text}");
        assert!(text.contains("none (--no-tls)"), "{text}");
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("127.0.0.1:5000"))
            .collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(rows[0].starts_with("   3  "), "{text}");
        assert!(
            rows[0].contains("control") && rows[0].contains("monitor 1"),
            "{text}"
        );
        assert!(
            rows[0].contains("1m05s") && rows[0].contains("30.0"),
            "{text}"
        );
        assert!(rows[0].contains("1234") && rows[0].ends_with('7'), "{text}");
        assert!(
            rows[1].contains("view") && rows[1].contains(" no "),
            "{text}"
        );
        assert!(!text.contains("PAUSED"));
    }

    #[test]
    fn an_idle_paused_agent_says_so() {
        let mut status = agent(vec![]);
        status.paused = true;
        let text = render(&status);
        assert!(
            text.contains("no viewers") && text.contains("PAUSED"),
            "{text}"
        );
    }

    #[test]
    fn recording_shows_its_directory_files_and_what_holds_it_up() {
        let mut status = agent(vec![]);
        assert!(!render(&status).contains("recording"));
        status.recording = Some(RecordingStatus {
            dir: "/var/rec".into(),
            held: None,
            files: vec![RecordingFile {
                monitor: 1,
                path: "/var/rec/lookout-desk-m1.mkv".into(),
                bytes: 3 << 19,
                secs: 125,
            }],
            dropped: 2,
            skipped: 1,
        });
        let text = render(&status);
        assert!(
            text.contains("recording   /var/rec (1 file; 3 frames not recorded)"),
            "{text}"
        );
        assert!(
            text.contains("monitor 1  /var/rec/lookout-desk-m1.mkv  1.5 MiB  2m05s"),
            "{text}"
        );
        let rec = status.recording.as_mut().unwrap();
        rec.files.clear();
        rec.held = Some("too little free disk space".into());
        let text = render(&status);
        assert!(
            text.contains("(HELD: too little free disk space;"),
            "{text}"
        );
        let rec = status.recording.as_mut().unwrap();
        rec.held = None;
        rec.dropped = 0;
        rec.skipped = 0;
        assert!(render(&status).contains("/var/rec (waiting for a viewer)\n"));
    }

    #[test]
    fn an_answer_without_recording_still_parses() {
        let mut json = serde_json::to_value(agent(vec![])).unwrap();
        json.as_object_mut().unwrap().remove("recording");
        let parsed: AgentStatus = serde_json::from_value(json).unwrap();
        assert_eq!(parsed.recording, None);
    }
}

//! `--monitor ID|NAME|all`: which of the agent's monitors to show first,
//! chosen before the agent's list is known and resolved against
//! `welcome.monitors` once connected.

use std::fmt;
use std::str::FromStr;

use lookout_protocol::MonitorInfo;

use crate::untrusted::shown;

/// A monitor as the user names it on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorChoice {
    /// By the agent's id (also matches a monitor so named).
    Id(u32),
    /// By the agent's name for it (`left`, `DP-1`).
    Name(String),
    /// The whole desktop: the entry with `all: true`.
    All,
}

/// `--monitor` was given an empty value.
#[derive(Debug, thiserror::Error)]
#[error("--monitor needs an id, a name or \"all\"")]
pub struct EmptyChoice;

impl FromStr for MonitorChoice {
    type Err = EmptyChoice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(EmptyChoice);
        }
        Ok(if s.eq_ignore_ascii_case("all") {
            MonitorChoice::All
        } else if let Ok(id) = s.parse() {
            MonitorChoice::Id(id)
        } else {
            MonitorChoice::Name(s.to_owned())
        })
    }
}

impl fmt::Display for MonitorChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorChoice::Id(id) => write!(f, "{id}"),
            MonitorChoice::Name(name) => write!(f, "\"{}\"", shown(name)),
            MonitorChoice::All => f.write_str("all"),
        }
    }
}

/// The agent has no monitor matching `--monitor`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the agent has no monitor {wanted}; --monitor takes one of: {choices}")]
pub struct NoSuchMonitor {
    /// What was asked for, as typed.
    pub wanted: String,
    /// What the agent offers, as `ID (NAME, WxH)`, and `all` if listed;
    /// the agent's names escaped.
    pub choices: String,
}

impl MonitorChoice {
    /// The id of the monitor this choice names in `monitors`.
    pub fn resolve(&self, monitors: &[MonitorInfo]) -> Result<u32, NoSuchMonitor> {
        let found = match self {
            MonitorChoice::Id(id) => monitors
                .iter()
                .find(|m| m.id == *id)
                .or_else(|| monitors.iter().find(|m| m.name == id.to_string())),
            MonitorChoice::Name(name) => monitors
                .iter()
                .find(|m| m.name == *name)
                .or_else(|| monitors.iter().find(|m| m.name.eq_ignore_ascii_case(name))),
            MonitorChoice::All => monitors.iter().find(|m| m.all),
        };
        found.map(|m| m.id).ok_or_else(|| NoSuchMonitor {
            wanted: self.to_string(),
            choices: choices(monitors),
        })
    }
}

/// `0 (left, 960x1080), 1 (right, 960x1080), all`; `none` for no monitor.
fn choices(monitors: &[MonitorInfo]) -> String {
    let listed: Vec<String> = monitors
        .iter()
        .map(|m| {
            if m.all {
                format!("all ({}x{})", m.width, m.height)
            } else {
                format!("{} ({}, {}x{})", m.id, shown(&m.name), m.width, m.height)
            }
        })
        .collect();
    if listed.is_empty() {
        "none".to_owned()
    } else {
        listed.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(id: u32, name: &str, all: bool) -> MonitorInfo {
        MonitorInfo {
            id,
            name: name.into(),
            x: 0,
            y: 0,
            width: 960,
            height: 1080,
            primary: id == 0,
            all,
        }
    }

    fn list() -> Vec<MonitorInfo> {
        vec![
            monitor(0, "left", false),
            monitor(1, "right", false),
            monitor(u32::MAX, "all", true),
        ]
    }

    fn choose(s: &str) -> Result<u32, NoSuchMonitor> {
        s.parse::<MonitorChoice>().unwrap().resolve(&list())
    }

    #[test]
    fn ids_names_and_all_resolve() {
        assert_eq!(choose("1"), Ok(1));
        assert_eq!(choose("left"), Ok(0));
        assert_eq!(choose("RIGHT"), Ok(1));
        assert_eq!(choose("all"), Ok(u32::MAX));
        assert_eq!(choose("ALL"), Ok(u32::MAX));
        assert!("".parse::<MonitorChoice>().is_err());
    }

    #[test]
    fn an_unknown_choice_names_what_there_is() {
        let err = choose("middle").unwrap_err().to_string();
        assert_eq!(
            err,
            "the agent has no monitor \"middle\"; --monitor takes one of: \
             0 (left, 960x1080), 1 (right, 960x1080), all (960x1080)"
        );
        assert!(choose("7").unwrap_err().to_string().contains("monitor 7;"));
        let one = [monitor(0, "screen", false)];
        let err = MonitorChoice::All.resolve(&one).unwrap_err();
        assert_eq!(err.choices, "0 (screen, 960x1080)");
    }
}

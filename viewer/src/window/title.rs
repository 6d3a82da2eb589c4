//! The window title: host, state, and either the live figures or a short
//! message (a "flash") after a local action. [`compose`] says what a title
//! reads; [`Heading`] keeps the parts that change over time.

use std::time::{Duration, Instant};

use lookout_protocol::MonitorInfo;

use crate::network::{Feed, Link, Status};
use crate::stats::{Figures, Stats};

/// How long a message stays in the title.
pub(crate) const FLASH_FOR: Duration = Duration::from_secs(4);

/// Everything the title reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TitleParts<'a> {
    /// `host:port`.
    pub(crate) target: &'a str,
    /// Connection state.
    pub(crate) link: &'a Link,
    /// Stream stopped with F8.
    pub(crate) paused: bool,
    /// What the agent last said about its pictures (`stream`).
    pub(crate) feed: &'a Feed,
    /// The agent refuses input.
    pub(crate) agent_view_only: bool,
    /// Input switched off with F10.
    pub(crate) local_view_only: bool,
    /// Which of the agent's monitors is shown (`monitor left`, `all
    /// monitors`), when it has more than one; the agent's words.
    pub(crate) monitor: Option<&'a str>,
    /// The last period's figures.
    pub(crate) figures: Option<&'a Figures>,
    /// The picture's size beside the monitor's, when the agent scales it
    /// down; shown after the figures.
    pub(crate) scaled: Option<Scaled>,
    /// A message that replaces the figures for a few seconds.
    pub(crate) flash: Option<&'a str>,
    /// How long the running recording has run (F6, `--record`).
    pub(crate) recording: Option<Duration>,
}

/// A picture smaller than the monitor it shows (stream settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scaled {
    /// The frames' size.
    pub(crate) picture: (u32, u32),
    /// The monitor's size, as the agent announced it.
    pub(crate) monitor: (u32, u32),
}

impl Scaled {
    /// `Some` when `picture` is not `monitor`'s size.
    pub(crate) fn of(picture: (u32, u32), monitor: (u32, u32)) -> Option<Self> {
        (picture != monitor).then_some(Self { picture, monitor })
    }
}

impl std::fmt::Display for Scaled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            picture: (w, h),
            monitor: (mw, mh),
        } = *self;
        write!(f, "{w}x{h} of {mw}x{mh}")
    }
}

/// `lookout · HOST:PORT · STATE[ · MONITOR][ · view-only][ · FIGURES or
/// FLASH]`, with the monitor, the flash and the agent's reason escaped
/// ([`crate::untrusted::shown`]). While the agent says its screen is
/// unavailable (or paused), STATE says so with its reason, and no figures
/// are shown: the picture is not live.
pub(crate) fn compose(parts: &TitleParts<'_>) -> String {
    let live = *parts.link == Link::Live;
    let feed_state;
    let state = match (parts.link, parts.feed) {
        (Link::Live, _) if parts.paused => "paused",
        (Link::Live, Feed::Unavailable(reason)) => {
            feed_state = feed_words("screen unavailable", reason);
            &feed_state
        }
        (Link::Live, Feed::Paused(reason)) => {
            feed_state = feed_words("paused by the agent", reason);
            &feed_state
        }
        (Link::Connecting, _) => "connecting",
        (Link::Live, Feed::Live) => "live",
        (Link::Reconnecting, _) => "reconnecting",
        (Link::Busy, _) => "agent busy, retrying",
        (Link::Failed, _) => "refused",
    };
    let live_feed = live && *parts.feed == Feed::Live;
    let mut title = format!("lookout · {} · {state}", parts.target);
    if let Some(monitor) = parts.monitor.filter(|_| live) {
        title.push_str(" · ");
        title.push_str(&crate::untrusted::shown(monitor));
    }
    if live && parts.agent_view_only {
        title.push_str(" · view-only (agent)");
    } else if parts.local_view_only {
        title.push_str(" · view-only");
    }
    if let Some(elapsed) = parts.recording {
        title.push_str(" · ");
        title.push_str(&crate::record::rec_label(elapsed));
    }
    if let Some(flash) = parts.flash {
        // A flash can quote the agent (a monitor's name): escaped and cut
        // here, where every flash passes, so no caller can forget.
        title.push_str(" · ");
        title.push_str(&crate::untrusted::shown(flash));
    } else if let Some(figures) = parts.figures.filter(|_| live_feed && !parts.paused) {
        title.push_str(&format!(" · {figures}"));
        if let Some(scaled) = parts.scaled {
            title.push_str(&format!(" · {scaled}"));
        }
    }
    title
}

/// "WHAT (REASON)", the reason escaped and cut to a title's length.
fn feed_words(what: &str, reason: &str) -> String {
    /// The agent's reason in the title, in characters.
    const REASON_CHARS: usize = 80;
    let reason: String = crate::untrusted::shown(reason)
        .chars()
        .take(REASON_CHARS)
        .collect();
    if reason.is_empty() {
        what.to_owned()
    } else {
        format!("{what} ({reason})")
    }
}

/// What the title calls the monitor shown (`monitor left`, `all monitors`),
/// when the agent has more than one; unescaped (see [`compose`]).
pub(crate) fn monitor_label(status: &Status) -> Option<String> {
    if status.monitors.len() < 2 {
        return None;
    }
    let id = status.monitor?;
    status.monitors.iter().find(|m| m.id == id).map(label)
}

fn label(monitor: &MonitorInfo) -> String {
    if monitor.all {
        "all monitors".to_owned()
    } else {
        format!("monitor {}", monitor.name)
    }
}

/// The flash for a monitor change from `old` to `new` in one session:
/// "monitor right is gone; now showing monitor left" when the agent moved
/// the viewer off a monitor it no longer lists, else the new monitor's
/// name and size; `None` when the monitor did not change.
pub(crate) fn monitor_change(old: &Status, new: &Status) -> Option<String> {
    if new.monitor == old.monitor {
        return None;
    }
    let now = new.monitors.iter().find(|m| Some(m.id) == new.monitor)?;
    let gone = old
        .monitors
        .iter()
        .find(|m| Some(m.id) == old.monitor)
        .filter(|was| !new.monitors.iter().any(|m| m.id == was.id));
    Some(match gone {
        Some(was) => format!("{} is gone; now showing {}", label(was), label(now)),
        None => format!(
            "{}: {} ({}x{})",
            if now.all {
                "all monitors".to_owned()
            } else {
                format!("monitor {}", now.id)
            },
            now.name,
            now.width,
            now.height
        ),
    })
}

/// The state behind the title: the live figures, a flash and when it
/// ends, and the title last set (so the window is told only of changes).
#[derive(Debug)]
pub(crate) struct Heading {
    /// `host:port`.
    target: String,
    current: String,
    stats: Stats,
    figures: Option<Figures>,
    flash: Option<(String, Instant)>,
}

/// What the title says about the session, besides figures and flashes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct State<'a> {
    /// Connection state.
    pub(crate) link: &'a Link,
    /// Stream stopped with F8.
    pub(crate) paused: bool,
    /// What the agent last said about its pictures.
    pub(crate) feed: &'a Feed,
    /// The agent refuses input.
    pub(crate) agent_view_only: bool,
    /// Input switched off with F10.
    pub(crate) local_view_only: bool,
    /// Which monitor is shown, when the agent has more than one.
    pub(crate) monitor: Option<&'a str>,
    /// The picture, when it is smaller than the monitor.
    pub(crate) scaled: Option<Scaled>,
    /// How long the running recording has run.
    pub(crate) recording: Option<Duration>,
}

impl Heading {
    /// The title of a window that is still connecting; figures count from
    /// `now`, when `received` bytes had arrived.
    pub(crate) fn new(target: String, now: Instant, received: u64) -> Self {
        Self {
            current: format!("lookout · {target} · connecting"),
            target,
            stats: Stats::new(now, received),
            figures: None,
            flash: None,
        }
    }

    /// The title as last composed.
    pub(crate) fn current(&self) -> &str {
        &self.current
    }

    /// Shows `message` instead of the figures until [`FLASH_FOR`] after
    /// `now`.
    pub(crate) fn flash(&mut self, message: String, now: Instant) {
        self.flash = Some((message, now + FLASH_FOR));
    }

    /// A frame was shown, `latency_ms` after its capture, encoded at
    /// `quality`.
    pub(crate) fn presented(&mut self, latency_ms: i64, quality: u8) {
        self.stats.presented(latency_ms, quality);
    }

    /// Brings the title up to date at `now`; `Some` with the new title when
    /// it changed. `received` is the running total of received bytes.
    pub(crate) fn refresh(
        &mut self,
        now: Instant,
        received: u64,
        state: State<'_>,
    ) -> Option<&str> {
        if let Some(figures) = self.stats.tick(now, received) {
            self.figures = Some(figures);
        }
        if self.flash.as_ref().is_some_and(|(_, until)| now >= *until) {
            self.flash = None;
        }
        let title = compose(&TitleParts {
            target: &self.target,
            link: state.link,
            paused: state.paused,
            feed: state.feed,
            agent_view_only: state.agent_view_only,
            local_view_only: state.local_view_only,
            monitor: state.monitor,
            figures: self.figures.as_ref(),
            scaled: state.scaled,
            flash: self.flash.as_ref().map(|(m, _)| m.as_str()),
            recording: state.recording,
        });
        if title == self.current {
            return None;
        }
        self.current = title;
        Some(&self.current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(link: &Link) -> TitleParts<'_> {
        TitleParts {
            target: "box:6868",
            link,
            paused: false,
            feed: &Feed::Live,
            agent_view_only: false,
            local_view_only: false,
            monitor: None,
            figures: None,
            scaled: None,
            flash: None,
            recording: None,
        }
    }

    const FIGURES: Figures = Figures {
        fps: 29.96,
        latency_ms: Some(41),
        kbit_per_s: 2400.4,
        quality: Some(75),
    };

    #[test]
    fn live_title_shows_the_figures() {
        let title = compose(&TitleParts {
            figures: Some(&FIGURES),
            ..parts(&Link::Live)
        });
        assert_eq!(
            title,
            "lookout · box:6868 · live · 30.0 fps, 41 ms, 2400 kbit/s, q75"
        );
    }

    #[test]
    fn a_scaled_picture_is_named_beside_its_monitor_after_the_figures() {
        let scaled = Scaled::of((960, 540), (1920, 1080));
        let title = compose(&TitleParts {
            figures: Some(&FIGURES),
            scaled,
            ..parts(&Link::Live)
        });
        assert_eq!(
            title,
            "lookout · box:6868 · live · 30.0 fps, 41 ms, 2400 kbit/s, q75 · 960x540 of 1920x1080"
        );
        assert_eq!(Scaled::of((1920, 1080), (1920, 1080)), None);
        // Not without figures (connecting, paused, a flash).
        let paused = compose(&TitleParts {
            figures: Some(&FIGURES),
            scaled,
            paused: true,
            ..parts(&Link::Live)
        });
        assert_eq!(paused, "lookout · box:6868 · paused");
    }

    #[test]
    fn paused_and_reconnecting_hide_stale_figures() {
        let paused = compose(&TitleParts {
            paused: true,
            figures: Some(&FIGURES),
            ..parts(&Link::Live)
        });
        assert_eq!(paused, "lookout · box:6868 · paused");
        let lost = compose(&TitleParts {
            figures: Some(&FIGURES),
            ..parts(&Link::Reconnecting)
        });
        assert_eq!(lost, "lookout · box:6868 · reconnecting");
        assert_eq!(
            compose(&parts(&Link::Busy)),
            "lookout · box:6868 · agent busy, retrying"
        );
        assert_eq!(
            compose(&parts(&Link::Connecting)),
            "lookout · box:6868 · connecting"
        );
    }

    #[test]
    fn an_unavailable_screen_is_never_titled_live_and_hides_the_figures() {
        let gone = Feed::Unavailable("the display went away\x1b[2J".into());
        let title = compose(&TitleParts {
            feed: &gone,
            figures: Some(&FIGURES),
            monitor: Some("monitor left"),
            ..parts(&Link::Live)
        });
        assert_eq!(
            title,
            "lookout · box:6868 · screen unavailable (the display went away\\u{1b}[2J) · monitor left"
        );
        let paused = Feed::Paused(String::new());
        let title = compose(&TitleParts {
            feed: &paused,
            ..parts(&Link::Live)
        });
        assert_eq!(title, "lookout · box:6868 · paused by the agent");
        let long = Feed::Unavailable("x".repeat(5000));
        let title = compose(&TitleParts {
            feed: &long,
            ..parts(&Link::Live)
        });
        assert!(title.chars().count() < 150, "{title}");
        // A lost connection says so whatever the agent said last.
        let lost = compose(&TitleParts {
            feed: &gone,
            ..parts(&Link::Reconnecting)
        });
        assert_eq!(lost, "lookout · box:6868 · reconnecting");
    }

    #[test]
    fn view_only_says_whose_choice_it_is() {
        let agent = compose(&TitleParts {
            agent_view_only: true,
            ..parts(&Link::Live)
        });
        assert_eq!(agent, "lookout · box:6868 · live · view-only (agent)");
        let local = compose(&TitleParts {
            local_view_only: true,
            ..parts(&Link::Live)
        });
        assert_eq!(local, "lookout · box:6868 · live · view-only");
    }

    #[test]
    fn a_flash_replaces_the_figures() {
        let title = compose(&TitleParts {
            figures: Some(&FIGURES),
            flash: Some("saved /tmp/x.png"),
            ..parts(&Link::Live)
        });
        assert_eq!(title, "lookout · box:6868 · live · saved /tmp/x.png");
    }

    #[test]
    fn a_newline_in_a_monitor_name_cannot_fake_a_title() {
        let name = "left\nlookout · bank:6868 · live\x1b]0;evil\x07";
        let flash = format!("monitor 1: {name} (1920x1080)");
        let title = compose(&TitleParts {
            flash: Some(&flash),
            ..parts(&Link::Live)
        });
        assert!(!title.chars().any(char::is_control), "{title:?}");
        assert!(title.starts_with("lookout · box:6868 · live · monitor 1: left\\n"));
    }

    #[test]
    fn the_monitor_is_named_while_live_and_escaped() {
        let title = compose(&TitleParts {
            monitor: Some("monitor left\x1b[2J"),
            figures: Some(&FIGURES),
            ..parts(&Link::Live)
        });
        assert_eq!(
            title,
            "lookout · box:6868 · live · monitor left\\u{1b}[2J · 30.0 fps, 41 ms, 2400 kbit/s, q75"
        );
        let lost = compose(&TitleParts {
            monitor: Some("all monitors"),
            ..parts(&Link::Reconnecting)
        });
        assert_eq!(lost, "lookout · box:6868 · reconnecting");
    }

    #[test]
    fn a_huge_flash_is_cut() {
        let flash = "m".repeat(10_000);
        let title = compose(&TitleParts {
            flash: Some(&flash),
            ..parts(&Link::Live)
        });
        assert!(title.chars().count() < 300, "{} characters", title.len());
    }
}

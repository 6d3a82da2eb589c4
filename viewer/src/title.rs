//! The window title: host, state, and either the live figures or a short
//! message (a "flash") after a local action.

use crate::client::Link;
use crate::stats::Figures;

/// Everything the title reports.
#[derive(Debug, Clone, Copy)]
pub struct TitleParts<'a> {
    /// `host:port`.
    pub target: &'a str,
    /// Connection state.
    pub link: &'a Link,
    /// Stream stopped with F8.
    pub paused: bool,
    /// The agent refuses input.
    pub agent_view_only: bool,
    /// Input switched off with F10.
    pub local_view_only: bool,
    /// The last period's figures.
    pub figures: Option<&'a Figures>,
    /// A message that replaces the figures for a few seconds.
    pub flash: Option<&'a str>,
}

/// `lookout · HOST:PORT · STATE[ · view-only][ · FIGURES or FLASH]`.
pub fn compose(parts: &TitleParts<'_>) -> String {
    let live = *parts.link == Link::Live;
    let state = match parts.link {
        Link::Connecting => "connecting",
        Link::Live if parts.paused => "paused",
        Link::Live => "live",
        Link::Reconnecting => "reconnecting",
        Link::Busy => "agent busy, retrying",
        Link::Failed => "refused",
    };
    let mut title = format!("lookout · {} · {state}", parts.target);
    if live && parts.agent_view_only {
        title.push_str(" · view-only (agent)");
    } else if parts.local_view_only {
        title.push_str(" · view-only");
    }
    if let Some(flash) = parts.flash {
        title.push_str(" · ");
        title.push_str(flash);
    } else if let Some(figures) = parts.figures.filter(|_| live && !parts.paused) {
        title.push_str(&format!(" · {figures}"));
    }
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(link: &Link) -> TitleParts<'_> {
        TitleParts {
            target: "box:6868",
            link,
            paused: false,
            agent_view_only: false,
            local_view_only: false,
            figures: None,
            flash: None,
        }
    }

    const FIGURES: Figures = Figures {
        fps: 29.96,
        latency_ms: Some(41),
        kbit_per_s: 2400.4,
    };

    #[test]
    fn live_title_shows_the_figures() {
        let title = compose(&TitleParts {
            figures: Some(&FIGURES),
            ..parts(&Link::Live)
        });
        assert_eq!(
            title,
            "lookout · box:6868 · live · 30.0 fps, 41 ms, 2400 kbit/s"
        );
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
}

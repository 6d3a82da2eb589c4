//! The input thread's hold on its sink: failures are reported once per
//! episode (the first failure, then one line when input works again, with
//! how long it failed and how many actions were lost), never once per
//! action; and a sink that has failed every action for a while (its
//! display went away) is replaced by a new one, tried with backoff, so
//! input works again when the display is back.

use std::time::{Duration, Instant};

use super::{InputAction, InputError, InputSink, InputSinkFactory};

/// A sink that has failed every action for this long is made anew. Shorter
/// failures are one action's trouble (a character with no key), and the
/// sink is kept.
const REPLACE_AFTER: Duration = Duration::from_secs(2);

/// The first wait before a new sink is tried again after failing to open;
/// doubled per failure.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// The longest wait between two tries.
const MAX_RETRY: Duration = Duration::from_secs(2);

/// The sink, kept working.
pub(super) struct Injector {
    factory: InputSinkFactory,
    sink: Option<Box<dyn InputSink>>,
    trouble: Option<Trouble>,
}

/// A failure episode.
#[derive(Debug)]
struct Trouble {
    since: Instant,
    /// Actions that failed or found no sink.
    lost: u64,
    /// Failed tries to open a new sink in a row.
    tries: u32,
    next_try: Instant,
}

impl Injector {
    /// Keeps `sink`, made by `factory`.
    pub(super) fn new(factory: InputSinkFactory, sink: Box<dyn InputSink>) -> Self {
        Self {
            factory,
            sink: Some(sink),
            trouble: None,
        }
    }

    /// Carries `action` out at `now` if input works; otherwise counts it
    /// lost. Never fails: the sessions go on whatever the desktop does.
    pub(super) fn apply(&mut self, action: &InputAction, now: Instant) {
        self.reopen_if_due(now);
        let Some(sink) = &mut self.sink else {
            self.failed(now, None);
            return;
        };
        match sink.apply(action) {
            Ok(()) => self.worked(now),
            Err(err) => {
                self.failed(now, Some(&err));
                // Given up just now: a new sink gets the action at once.
                self.reopen_if_due(now);
                if let Some(sink) = &mut self.sink
                    && sink.apply(action).is_ok()
                {
                    self.worked(now);
                }
            }
        }
    }

    /// Lets the sink release what it holds of its own (a viewer left).
    pub(super) fn release_held(&mut self) {
        if let Some(sink) = &mut self.sink {
            sink.release_held();
        }
    }

    /// The display came back after it went away (the capture side saw
    /// it): the sink's connection belongs to the old one, so a new sink is
    /// made now, before the next action is lost to the old one.
    pub(super) fn display_back(&mut self, now: Instant) {
        match (self.factory)() {
            Ok(sink) => {
                tracing::debug!("the display is back: made a new input sink");
                self.sink = Some(sink);
            }
            Err(err) => {
                self.sink = None;
                self.failed(now, None);
                tracing::debug!(error = %err, "the display is back but input cannot open yet");
            }
        }
    }

    /// An action worked at `now`: ends a failure episode, with one line.
    fn worked(&mut self, now: Instant) {
        if let Some(trouble) = self.trouble.take() {
            tracing::info!(
                failed_for = ?now.duration_since(trouble.since),
                lost = trouble.lost,
                "input works again"
            );
        }
    }

    /// Makes a new sink when the old one was given up and a try is due.
    fn reopen_if_due(&mut self, now: Instant) {
        let Some(trouble) = &mut self.trouble else {
            return;
        };
        if self.sink.is_some() || now < trouble.next_try {
            return;
        }
        match (self.factory)() {
            Ok(sink) => {
                tracing::debug!("made a new input sink");
                self.sink = Some(sink);
            }
            Err(err) => {
                tracing::debug!(error = %err, "cannot open the input backend yet");
                let wait = FIRST_RETRY
                    .saturating_mul(1 << trouble.tries.min(16))
                    .min(MAX_RETRY);
                trouble.tries = trouble.tries.saturating_add(1);
                trouble.next_try = now + wait;
            }
        }
    }

    /// One action lost at `now` (with the sink's error, if it had one).
    fn failed(&mut self, now: Instant, err: Option<&InputError>) {
        let trouble = self.trouble.get_or_insert_with(|| {
            match err {
                Some(err) => tracing::warn!(
                    error = %err,
                    "input failed; further failures are not logged until input works again"
                ),
                None => tracing::warn!("no input backend; input is lost until it works again"),
            }
            Trouble {
                since: now,
                lost: 0,
                tries: 0,
                next_try: now,
            }
        });
        trouble.lost = trouble.lost.saturating_add(1);
        if self.sink.is_some() && now.duration_since(trouble.since) >= REPLACE_AFTER {
            tracing::debug!("input has failed for {REPLACE_AFTER:?}; making a new sink");
            self.sink = None;
            trouble.next_try = now;
        }
    }

    /// Whether input is failing now (for tests).
    #[cfg(test)]
    pub(super) fn failing(&self) -> bool {
        self.trouble.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    /// A sink whose actions fail while `gone` is set, as enigo's do when
    /// the X server went away; opening one fails then too.
    #[derive(Clone, Default)]
    struct Display {
        gone: Arc<AtomicBool>,
        opened: Arc<AtomicUsize>,
        tries: Arc<AtomicUsize>,
        applied: Arc<AtomicUsize>,
    }

    struct Sink(Display);

    impl InputSink for Sink {
        fn apply(&mut self, _: &InputAction) -> Result<(), InputError> {
            if self.0.gone.load(Ordering::SeqCst) {
                return Err(InputError::ThreadDied);
            }
            self.0.applied.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn injector(display: &Display) -> Injector {
        let d = display.clone();
        let factory: InputSinkFactory = Box::new(move || {
            d.tries.fetch_add(1, Ordering::SeqCst);
            if d.gone.load(Ordering::SeqCst) {
                return Err(InputError::ThreadDied);
            }
            d.opened.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(Sink(d.clone())) as Box<dyn InputSink>)
        });
        Injector::new(factory, Box::new(Sink(display.clone())))
    }

    fn click() -> InputAction {
        InputAction::MoveTo { x: 1, y: 1 }
    }

    #[test]
    fn a_gone_display_is_reopened_with_backoff_and_input_resumes() {
        let display = Display::default();
        let mut input = injector(&display);
        let t0 = Instant::now();
        input.apply(&click(), t0);
        assert_eq!(display.applied.load(Ordering::SeqCst), 1);
        display.gone.store(true, Ordering::SeqCst);
        // A failing display for 2 s: the sink is kept meanwhile (one
        // failed action is not a gone display)...
        for ms in (0..2000).step_by(100) {
            input.apply(&click(), t0 + Duration::from_millis(ms));
        }
        assert!(input.failing());
        assert_eq!(display.opened.load(Ordering::SeqCst), 0);
        // ...then given up, and new ones tried with backoff while it
        // stays away: a flood of actions does not mean a flood of tries.
        for ms in (2000..6000).step_by(10) {
            input.apply(&click(), t0 + Duration::from_millis(ms));
        }
        let tries = display.tries.load(Ordering::SeqCst);
        assert!((4..=8).contains(&tries), "{tries} tries in 4 s");
        display.gone.store(false, Ordering::SeqCst);
        let back = t0 + Duration::from_millis(6000);
        input.apply(&click(), back + MAX_RETRY);
        assert_eq!(display.opened.load(Ordering::SeqCst), 1, "reopened once");
        assert!(!input.failing(), "the episode ended");
        assert_eq!(display.applied.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_display_that_came_back_gets_a_new_sink_at_once() {
        let display = Display::default();
        let mut input = injector(&display);
        let t0 = Instant::now();
        display.gone.store(true, Ordering::SeqCst);
        input.apply(&click(), t0);
        display.gone.store(false, Ordering::SeqCst);
        input.display_back(t0 + Duration::from_millis(500));
        assert_eq!(display.opened.load(Ordering::SeqCst), 1);
        input.apply(&click(), t0 + Duration::from_millis(501));
        assert!(!input.failing());
        assert_eq!(display.applied.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn one_failed_action_keeps_the_sink() {
        let display = Display::default();
        let mut input = injector(&display);
        let t0 = Instant::now();
        display.gone.store(true, Ordering::SeqCst);
        input.apply(&click(), t0);
        display.gone.store(false, Ordering::SeqCst);
        input.apply(&click(), t0 + Duration::from_millis(5));
        assert!(!input.failing());
        assert_eq!(
            display.opened.load(Ordering::SeqCst),
            0,
            "no new sink needed"
        );
        assert_eq!(display.applied.load(Ordering::SeqCst), 1);
    }
}

//! Adaptive rate, per viewer (protocol §2.3): when a viewer's link cannot
//! carry its stream, lower its frame rate, then its quality, then its
//! size, quickly; raise them again, one step at a time, after a clean
//! stretch. Each viewer has its own [`Adapt`], fed only by its own
//! writes, so one slow viewer never lowers what another gets.
//!
//! The signals are the viewer's own socket: how much of the time its
//! writer is busy (a write waits while the socket holds more unsent bytes
//! than `TCP_NOTSENT_LOWAT` allows, so a link that cannot keep up keeps
//! the writer busy), and how long one frame takes to write (what a frame
//! waits behind is what the viewer sees late).
//!
//! Pure: time is passed in.

use std::time::{Duration, Instant};

use crate::rendition::Ask;

/// One step down the ladder: caps on top of what the viewer asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// Frames a second at most.
    pub fps: Option<u32>,
    /// JPEG quality at most.
    pub quality: Option<u8>,
    /// The picture's size times this fraction (numerator, denominator).
    pub scale: (u32, u32),
}

const fn step(fps: Option<u32>, quality: Option<u8>, scale: (u32, u32)) -> Step {
    Step {
        fps,
        quality,
        scale,
    }
}

/// Frame rate first (down to 10 a second, still fluid), then quality,
/// then size, then the frame rate again. Few distinct steps, so that
/// viewers on similar links share renditions.
const LADDER: [Step; 12] = [
    step(None, None, (1, 1)),
    step(Some(20), None, (1, 1)),
    step(Some(10), None, (1, 1)),
    step(Some(10), Some(50), (1, 1)),
    step(Some(10), Some(35), (1, 1)),
    step(Some(10), Some(25), (1, 1)),
    step(Some(10), Some(25), (3, 4)),
    step(Some(10), Some(25), (1, 2)),
    step(Some(5), Some(25), (1, 2)),
    step(Some(5), Some(25), (1, 3)),
    step(Some(2), Some(25), (1, 3)),
    step(Some(1), Some(20), (1, 4)),
];

/// How long one measurement lasts.
pub(crate) const WINDOW: Duration = Duration::from_millis(500);
/// Busy this much of a window or more: the link is full.
const FULL: f64 = 0.8;
/// Busy less than this: the window was clean.
const CLEAN: f64 = 0.4;
/// A frame that takes this long to write is late.
const LATE: Duration = Duration::from_millis(250);
/// Clean for this long before the first step up...
const HOLD: Duration = Duration::from_secs(2);
/// ...doubled each time a step up had to be taken back, up to this.
const HOLD_MAX: Duration = Duration::from_secs(30);

/// Bytes a socket may hold unsent while its link keeps up: a full 1080p
/// frame of a busy desktop, so a fast link always has the next one queued.
pub(crate) const UNSENT_MAX: u32 = 128 * 1024;
/// The least it may hold: a few packets.
const UNSENT_MIN: u32 = 16 * 1024;
/// On a link that cannot keep up, the socket holds this much time's worth
/// of its throughput unsent: what a frame waits behind in the kernel.
const UNSENT_TIME: f64 = 0.1;

/// One viewer's place on the ladder and what it measured so far.
#[derive(Debug)]
pub(crate) struct Adapt {
    level: usize,
    window_start: Instant,
    busy: Duration,
    late: bool,
    /// The longest write in the window.
    worst: Duration,
    /// Bytes written in the window.
    bytes: u64,
    /// What the link carries while the writer waits on it, bytes a second
    /// (smoothed), once measured.
    throughput: Option<f64>,
    /// Since when every window was clean.
    clean_since: Instant,
    hold: Duration,
    raised_at: Option<Instant>,
}

impl Adapt {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            level: 0,
            window_start: now,
            busy: Duration::ZERO,
            late: false,
            worst: Duration::ZERO,
            bytes: 0,
            throughput: None,
            clean_since: now,
            hold: HOLD,
            raised_at: None,
        }
    }

    /// The caps now.
    pub(crate) fn step(&self) -> Step {
        LADDER.get(self.level).copied().unwrap_or(LADDER[0])
    }

    /// How far down the ladder (0: nothing lowered).
    pub(crate) fn level(&self) -> usize {
        self.level
    }

    /// `ask` with the caps applied, for pictures of `source` size.
    pub(crate) fn apply(&self, ask: Ask, source: (u32, u32)) -> Ask {
        let step = self.step();
        let mut ask = ask;
        if let Some(q) = step.quality {
            ask.quality = ask.quality.min(q);
        }
        if step.scale != (1, 1) {
            let (w, h) = crate::rendition::fit(source, (ask.max_width, ask.max_height));
            let (n, d) = step.scale;
            let scaled = |v: u32| {
                u32::try_from(u64::from(v) * u64::from(n) / u64::from(d.max(1)))
                    .unwrap_or(v)
                    .max(16)
            };
            ask.max_width = scaled(w);
            ask.max_height = scaled(h);
        }
        ask
    }

    /// How many bytes the viewer's socket may hold unsent now: the most
    /// while nothing is lowered, else a tenth of a second of what its link
    /// carries, so that a slow link does not queue half a second of stale
    /// frames in the kernel.
    pub(crate) fn unsent_limit(&self) -> u32 {
        match self.throughput {
            Some(rate) if self.level > 0 => {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let bytes = (rate * UNSENT_TIME).min(f64::from(UNSENT_MAX)) as u32;
                bytes.clamp(UNSENT_MIN, UNSENT_MAX)
            }
            _ => UNSENT_MAX,
        }
    }

    /// Records one frame of `bytes` written at `now`, which kept the writer
    /// busy for `writing`; `switched`: the full frame a change of step
    /// forced, which is not judged late (it is bigger than what follows,
    /// and a step up must not be undone for its sake alone). Returns
    /// whether the step changed.
    pub(crate) fn sent(
        &mut self,
        now: Instant,
        writing: Duration,
        bytes: usize,
        switched: bool,
    ) -> bool {
        self.bytes += u64::try_from(bytes).unwrap_or(u64::MAX);
        self.busy += writing;
        if !switched {
            self.late |= writing > LATE;
            self.worst = self.worst.max(writing);
        }
        self.tick(now)
    }

    /// Ends the measurement window if it is over; returns whether the step
    /// changed. Also called every [`WINDOW`] while nothing is sent, so that
    /// an idle link counts as neither full nor clean.
    pub(crate) fn tick(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < WINDOW {
            return false;
        }
        let busy = self.busy.as_secs_f64() / elapsed.as_secs_f64();
        // Writes that waited say what the link carries; quick ones only
        // say it carries more.
        if busy >= CLEAN {
            #[allow(clippy::cast_precision_loss)]
            let sample = self.bytes as f64 / self.busy.as_secs_f64();
            self.throughput = Some(self.throughput.map_or(sample, |t| 0.5 * t + 0.5 * sample));
        }
        self.bytes = 0;
        let (late, idle) = (self.late, self.busy.is_zero());
        self.window_start = now;
        self.busy = Duration::ZERO;
        self.late = false;
        if busy >= FULL || late {
            self.clean_since = now;
            // Far too slow (a frame took seconds): more than one step at
            // once, so that a very slow link is served within seconds.
            let steps = match self.worst {
                w if w > 8 * LATE => 3,
                w if w > 4 * LATE => 2,
                _ => 1,
            };
            self.worst = Duration::ZERO;
            if self
                .raised_at
                .is_some_and(|at| now.saturating_duration_since(at) < 2 * self.hold)
            {
                // The step up was too much: wait longer before the next.
                self.hold = (self.hold * 2).min(HOLD_MAX);
            }
            self.raised_at = None;
            let level = (self.level + steps).min(LADDER.len() - 1);
            return std::mem::replace(&mut self.level, level) != level;
        }
        self.worst = Duration::ZERO;
        if idle {
            return false;
        }
        if busy >= CLEAN {
            self.clean_since = now;
            return false;
        }
        if self.level > 0 && now.saturating_duration_since(self.clean_since) >= self.hold {
            self.level -= 1;
            self.clean_since = now;
            self.raised_at = Some(now);
            return true;
        }
        if self
            .raised_at
            .is_some_and(|at| now.saturating_duration_since(at) > HOLD_MAX)
        {
            // Long stable after a step up: trust the link again.
            self.hold = HOLD;
            self.raised_at = None;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds `adapt` frames every `every`, each keeping the writer busy
    /// for `writing`, for `span`.
    fn run(
        adapt: &mut Adapt,
        now: &mut Instant,
        span: Duration,
        every: Duration,
        writing: Duration,
    ) {
        let end = *now + span;
        while *now < end {
            *now += every;
            adapt.sent(*now, writing, 10_000, false);
        }
    }

    #[test]
    fn a_full_link_lowers_the_rate_first_then_quality_then_size_quickly() {
        let mut now = Instant::now();
        let mut adapt = Adapt::new(now);
        // Busy all the time, frames late: one step per half second.
        run(&mut adapt, &mut now, 1600 * MS, 100 * MS, 100 * MS);
        assert_eq!(adapt.level(), 3, "three steps in 1.6 s");
        assert_eq!(adapt.step().fps, Some(10));
        assert_eq!(adapt.step().quality, Some(50));
        assert_eq!(adapt.step().scale, (1, 1));
        run(
            &mut adapt,
            &mut now,
            2 * Duration::from_secs(1),
            100 * MS,
            100 * MS,
        );
        assert!(adapt.step().scale.0 < adapt.step().scale.1, "then smaller");
    }

    #[test]
    fn a_clean_stretch_raises_one_step_at_a_time_and_a_failed_raise_waits_longer() {
        let mut now = Instant::now();
        let mut adapt = Adapt::new(now);
        run(&mut adapt, &mut now, 2100 * MS, 100 * MS, 100 * MS);
        let low = adapt.level();
        assert!(low >= 3);
        // Clean: busy a tenth of the time, frames fresh.
        run(&mut adapt, &mut now, 2100 * MS, 100 * MS, 10 * MS);
        assert_eq!(adapt.level(), low - 1, "one step up after the hold");
        // Too much again at once: back down, and the next raise waits
        // twice as long.
        run(&mut adapt, &mut now, 1100 * MS, 100 * MS, 100 * MS);
        assert_eq!(adapt.level(), low);
        run(
            &mut adapt,
            &mut now,
            3 * Duration::from_secs(1),
            100 * MS,
            10 * MS,
        );
        assert_eq!(adapt.level(), low, "not yet: the hold doubled");
        run(&mut adapt, &mut now, 1500 * MS, 100 * MS, 10 * MS);
        assert_eq!(adapt.level(), low - 1);
    }

    #[test]
    fn a_frame_that_takes_seconds_to_write_takes_several_steps_at_once() {
        let mut now = Instant::now();
        let mut adapt = Adapt::new(now);
        now += 1500 * MS;
        assert!(adapt.sent(now, 1500 * MS, 10_000, false));
        assert_eq!(adapt.level(), 2, "six times too late: two steps");
        now += 2500 * MS;
        adapt.sent(now, 2500 * MS, 10_000, false);
        assert_eq!(adapt.level(), 5, "ten times: three");
    }

    #[test]
    fn a_slow_link_may_hold_a_tenth_of_a_second_unsent() {
        let mut now = Instant::now();
        let mut adapt = Adapt::new(now);
        assert_eq!(adapt.unsent_limit(), UNSENT_MAX);
        // 2 Mbit/s: 25 KB written in 100 ms, back to back.
        for _ in 0..10 {
            now += 100 * MS;
            adapt.sent(now, 100 * MS, 25_000, false);
        }
        assert!(adapt.level() > 0);
        assert_eq!(adapt.unsent_limit(), 25_000);
        // 100 Mbit/s would allow more than the most: the most.
        for _ in 0..10 {
            now += 100 * MS;
            adapt.sent(now, 100 * MS, 1_250_000, false);
        }
        assert_eq!(adapt.unsent_limit(), UNSENT_MAX);
    }

    #[test]
    fn the_full_frame_after_a_step_is_not_judged_late() {
        let mut now = Instant::now();
        let mut adapt = Adapt::new(now);
        // A quiet link, then the 300 ms full frame a step forced, then
        // quick updates: no step down.
        now += 400 * MS;
        adapt.sent(now, 300 * MS, 400_000, true);
        for _ in 0..10 {
            now += 100 * MS;
            adapt.sent(now, 5 * MS, 2_000, false);
        }
        assert_eq!(adapt.level(), 0);
        // The same frame not forced by a step is late.
        now += 400 * MS;
        adapt.sent(now, 300 * MS, 400_000, false);
        now += 200 * MS;
        adapt.tick(now);
        assert_eq!(adapt.level(), 1);
    }

    #[test]
    fn a_fast_link_and_an_idle_one_change_nothing() {
        let mut now = Instant::now();
        let mut adapt = Adapt::new(now);
        run(
            &mut adapt,
            &mut now,
            5 * Duration::from_secs(1),
            16 * MS,
            2 * MS,
        );
        assert_eq!(adapt.level(), 0);
        // Idle (nothing to send) after a fall: no evidence, no raise.
        run(&mut adapt, &mut now, 1100 * MS, 100 * MS, 100 * MS);
        let low = adapt.level();
        for _ in 0..20 {
            now += 500 * MS;
            adapt.tick(now);
        }
        assert_eq!(adapt.level(), low);
    }

    #[test]
    fn the_caps_apply_under_what_the_viewer_asked() {
        let mut adapt = Adapt::new(Instant::now());
        let ask = Ask {
            max_width: 1280,
            max_height: 1280,
            quality: 40,
        };
        assert_eq!(adapt.apply(ask, (1920, 1080)), ask, "nothing lowered");
        adapt.level = 7; // q25, half size
        let lowered = adapt.apply(ask, (1920, 1080));
        assert_eq!(lowered.quality, 25);
        // Half of what it asked (1280x720 of the 1920x1080 picture).
        assert_eq!((lowered.max_width, lowered.max_height), (640, 360));
        adapt.level = 3; // q50: above the ask's 40, so 40 stays
        assert_eq!(adapt.apply(ask, (1920, 1080)).quality, 40);
    }
}

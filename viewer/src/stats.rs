//! The live figures of the title: frames presented per second, mean
//! capture-to-present latency, received kbit/s, over windows of about a
//! second, and the JPEG quality of the last frame presented.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the figures are renewed.
pub const STATS_PERIOD: Duration = Duration::from_secs(1);

/// One period's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Frames presented per second.
    pub fps: f64,
    /// Mean capture-to-present latency in milliseconds, if any frame was
    /// presented. Negative when the agent's clock is ahead of ours.
    pub latency_ms: Option<i64>,
    /// Received kilobits (1000 bits) per second.
    pub kbit_per_s: f64,
    /// The agent's JPEG quality for the last frame presented
    /// (`frame.quality`, which it lowers for a slow link), if any.
    pub quality: Option<u8>,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} fps", self.fps)?;
        if let Some(ms) = self.latency_ms {
            write!(f, ", {ms} ms")?;
        }
        write!(f, ", {:.0} kbit/s", self.kbit_per_s)?;
        if let Some(quality) = self.quality {
            write!(f, ", q{quality}")?;
        }
        Ok(())
    }
}

/// Milliseconds from capture (`captured_at_us`, agent clock) to `now`
/// (our clock); negative under clock skew, saturating on nonsense.
pub fn latency_ms(captured_at_us: u64, now: SystemTime) -> i64 {
    let now_us = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let captured = i64::try_from(captured_at_us).unwrap_or(i64::MAX);
    now_us.saturating_sub(captured) / 1000
}

/// Counts presented frames and received bytes since the start of the period.
#[derive(Debug, Clone)]
pub struct Stats {
    started: Instant,
    frames: u32,
    latency_sum_ms: i64,
    bytes_at_start: u64,
    quality: Option<u8>,
}

impl Stats {
    /// Starts the first period at `now`; `bytes` is the running total of
    /// received bytes at that moment.
    pub fn new(now: Instant, bytes: u64) -> Self {
        Self {
            started: now,
            frames: 0,
            latency_sum_ms: 0,
            bytes_at_start: bytes,
            quality: None,
        }
    }

    /// One frame was presented, `latency_ms` after its capture, encoded at
    /// `quality`.
    pub fn presented(&mut self, latency_ms: i64, quality: u8) {
        self.quality = Some(quality);
        self.frames = self.frames.saturating_add(1);
        self.latency_sum_ms = self.latency_sum_ms.saturating_add(latency_ms);
    }

    /// When a period is over, its figures, and a new period begins.
    /// `bytes` is the running total of received bytes.
    pub fn tick(&mut self, now: Instant, bytes: u64) -> Option<Figures> {
        let elapsed = now.checked_duration_since(self.started)?;
        if elapsed < STATS_PERIOD {
            return None;
        }
        let secs = elapsed.as_secs_f64();
        let received = bytes.saturating_sub(self.bytes_at_start);
        let figures = Figures {
            fps: f64::from(self.frames) / secs,
            latency_ms: (self.frames > 0).then(|| self.latency_sum_ms / i64::from(self.frames)),
            kbit_per_s: received as f64 * 8.0 / 1000.0 / secs,
            quality: self.quality,
        };
        // The quality stays until a frame says otherwise: a still screen
        // keeps showing the picture it was encoded at.
        let quality = self.quality;
        *self = Self::new(now, bytes);
        self.quality = quality;
        Some(figures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_before_a_period_is_over() {
        let t0 = Instant::now();
        let mut stats = Stats::new(t0, 0);
        stats.presented(10, 75);
        assert_eq!(stats.tick(t0 + Duration::from_millis(999), 100), None);
    }

    #[test]
    fn a_second_of_thirty_frames_and_a_megabit() {
        let t0 = Instant::now();
        let mut stats = Stats::new(t0, 5_000);
        for i in 0..30 {
            stats.presented(40 + i % 3, 75);
        }
        let figures = stats
            .tick(t0 + Duration::from_secs(1), 5_000 + 125_000)
            .unwrap();
        assert!((figures.fps - 30.0).abs() < 1e-9);
        assert_eq!(figures.latency_ms, Some(41));
        assert!((figures.kbit_per_s - 1000.0).abs() < 1e-9);
        assert_eq!(figures.to_string(), "30.0 fps, 41 ms, 1000 kbit/s, q75");
    }

    #[test]
    fn next_period_starts_from_zero() {
        let t0 = Instant::now();
        let mut stats = Stats::new(t0, 0);
        assert_eq!(
            stats
                .tick(t0 + Duration::from_secs(1), 0)
                .unwrap()
                .to_string(),
            "0.0 fps, 0 kbit/s",
            "no quality before any frame"
        );
        stats.presented(5, 60);
        stats.tick(t0 + Duration::from_secs(2), 1000).unwrap();
        let idle = stats.tick(t0 + Duration::from_secs(4), 1000).unwrap();
        assert_eq!(idle.fps, 0.0);
        assert_eq!(idle.latency_ms, None);
        assert_eq!(idle.kbit_per_s, 0.0);
        assert_eq!(idle.to_string(), "0.0 fps, 0 kbit/s, q60");
    }

    #[test]
    fn figures_are_per_second_over_longer_periods() {
        let t0 = Instant::now();
        let mut stats = Stats::new(t0, 0);
        for _ in 0..20 {
            stats.presented(0, 75);
        }
        let figures = stats.tick(t0 + Duration::from_secs(2), 2_000).unwrap();
        assert!((figures.fps - 10.0).abs() < 1e-9);
        assert!((figures.kbit_per_s - 8.0).abs() < 1e-9);
    }

    #[test]
    fn the_quality_shown_is_the_last_frames() {
        let t0 = Instant::now();
        let mut stats = Stats::new(t0, 0);
        stats.presented(0, 75);
        stats.presented(0, 40);
        let figures = stats.tick(t0 + Duration::from_secs(1), 0).unwrap();
        assert_eq!(figures.quality, Some(40));
        assert!(figures.to_string().ends_with(", q40"), "{figures}");
    }

    #[test]
    fn latency_is_signed_milliseconds_since_capture() {
        let now = UNIX_EPOCH + Duration::from_micros(10_000_000);
        assert_eq!(latency_ms(9_950_000, now), 50);
        assert_eq!(latency_ms(10_020_000, now), -20);
        assert_eq!(latency_ms(u64::MAX, now), (10_000_000 - i64::MAX) / 1000);
    }
}

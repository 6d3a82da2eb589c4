//! PNG files of frames: the writing (complete or not at all) and the names
//! of the window's F9 screenshots.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, ImageError};

use crate::decode::DecodedFrame;

/// A PNG that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct SaveError {
    /// Where it was to go.
    pub path: PathBuf,
    /// Why it failed.
    #[source]
    pub source: ImageError,
}

/// Writes `frame` as an RGB PNG at `path`. The file appears complete or not
/// at all: it is written under a temporary name, then renamed.
pub fn write_png(path: &Path, frame: &DecodedFrame) -> Result<(), SaveError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let written = encode_to(&partial, frame)
        .and_then(|()| std::fs::rename(&partial, path).map_err(ImageError::IoError));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written.map_err(|source| SaveError {
        path: path.to_owned(),
        source,
    })
}

fn encode_to(path: &Path, frame: &DecodedFrame) -> Result<(), ImageError> {
    let mut out = BufWriter::new(File::create(path)?);
    PngEncoder::new(&mut out).write_image(
        &frame.to_rgb8(),
        frame.width,
        frame.height,
        ExtendedColorType::Rgb8,
    )?;
    out.flush()?;
    Ok(())
}

/// `lookout-HOST-YYYYmmdd-HHMMSS-SEQ.png` (UTC time, the frame's `seq`),
/// with characters that do not belong in file names replaced by `_`.
pub fn screenshot_name(host: &str, now: SystemTime, seq: u64) -> PathBuf {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    let (hh, mm, ss) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    PathBuf::from(format!(
        "lookout-{host}-{year:04}{month:02}{day:02}-{hh:02}{mm:02}{ss:02}-{seq}.png"
    ))
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both in range by construction (1..=31, 1..=12).
    (year, day_or_month(month), day_or_month(day))
}

fn day_or_month(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_come_out_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn screenshot_names_carry_host_utc_time_and_seq() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            screenshot_name("studio.example", at, 42),
            PathBuf::from("lookout-studio.example-20231114-221320-42.png")
        );
        assert_eq!(
            screenshot_name("fe80::1%eth0", at, 1),
            PathBuf::from("lookout-fe80__1_eth0-20231114-221320-1.png")
        );
        assert_eq!(
            screenshot_name("../x", at, 1),
            PathBuf::from("lookout-.._x-20231114-221320-1.png")
        );
    }

    #[test]
    fn png_round_trips_and_leaves_no_partial_file() {
        let dir = std::env::temp_dir().join(format!("lookout-viewer-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.png");
        let frame = DecodedFrame {
            width: 2,
            height: 1,
            pixels: vec![0x00ff_8000, 0x0000_00ff],
            seq: 1,
            captured_at_us: 0,
            quality: 75,
        };
        write_png(&path, &frame).unwrap();
        let back = image::open(&path).unwrap().into_rgb8();
        assert_eq!(back.as_raw(), &vec![255, 128, 0, 0, 0, 255]);
        assert!(!dir.join("out.png.part").exists());
        let err = write_png(&dir.join("missing-dir").join("x.png"), &frame).unwrap_err();
        assert!(err.to_string().contains("missing-dir"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

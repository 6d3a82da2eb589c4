//! PNG files of frames: the writing (complete or not at all) and the names
//! of the window's F9 screenshots.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
    let host = lookout_mkv::names::file_safe(host);
    let stamp = lookout_mkv::names::utc_stamp(now);
    PathBuf::from(format!("lookout-{host}-{stamp}-{seq}.png"))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

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

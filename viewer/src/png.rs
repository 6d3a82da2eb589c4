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

/// Writes `frame` as an RGB PNG at `path`. A file appears complete or not
/// at all: it is written under a temporary name, then renamed. Something
/// that is not a file (`/dev/stdout`, a pipe, `/dev/null`) is written
/// into as it is: renamed over, a device would be replaced by a file (as
/// root, `/dev/null` itself).
pub fn write_png(path: &Path, frame: &DecodedFrame) -> Result<(), SaveError> {
    let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file());
    if special {
        return encode_to(path, frame).map_err(|source| SaveError {
            path: path.to_owned(),
            source,
        });
    }
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
    // `create` truncates a file and opens a device or a pipe for writing.
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

    /// `--snapshot /dev/null` once replaced the machine's `/dev/null` with
    /// a file, as root: a PNG written under a temporary name in `/dev` and
    /// renamed over it. Checked on a pipe of the test's own (a regression
    /// must not break the machine again).
    #[cfg(unix)]
    #[test]
    fn a_pipe_or_device_is_written_into_not_replaced() {
        use std::io::Read;
        use std::os::unix::fs::FileTypeExt;
        let dir = std::env::temp_dir().join(format!("lookout-viewer-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("out.png");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: mkfifo failed");
            return;
        }
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                File::open(fifo).unwrap().read_to_end(&mut bytes).unwrap();
                bytes
            })
        };
        let frame = DecodedFrame {
            width: 1,
            height: 1,
            pixels: vec![0x00ff_8000],
            seq: 1,
            captured_at_us: 0,
            quality: 75,
        };
        write_png(&fifo, &frame).unwrap();
        // Before the reader is joined: a replaced pipe never gets a writer.
        let kind = std::fs::metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "the pipe is now {kind:?}");
        let png = reader.join().unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{} bytes", png.len());
        std::fs::remove_dir_all(&dir).unwrap();
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

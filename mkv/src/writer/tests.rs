use std::io::Cursor;

use super::*;

/// Reads one element header at `at`: (id, size or None when unknown,
/// where the body starts).
fn header(b: &[u8], at: usize) -> (u32, Option<u64>, usize) {
    let id_len = b[at].leading_zeros() as usize + 1;
    let id = b[at..at + id_len]
        .iter()
        .fold(0u32, |a, &x| (a << 8) | u32::from(x));
    let s = at + id_len;
    let len = b[s].leading_zeros() as usize + 1;
    let mut size = u64::from(b[s]) & ((1 << (8 - len)) - 1);
    for &x in &b[s + 1..s + len] {
        size = (size << 8) | u64::from(x);
    }
    let unknown = size == (1u64 << (7 * len)) - 1;
    (id, (!unknown).then_some(size), s + len)
}

fn small_file(frames: &[(u64, &[u8])], duration: Option<u64>) -> Vec<u8> {
    let mut w = MkvWriter::new(Cursor::new(Vec::new()), 320, 200, "lookout-test").unwrap();
    for (at, jpeg) in frames {
        w.write_frame(*at, jpeg).unwrap();
    }
    match duration {
        Some(d) => w.finish(d).unwrap().into_inner(),
        None => w.out.into_inner(),
    }
}

#[test]
fn a_simple_block_header_is_track_time_and_keyframe() {
    assert_eq!(simple_block_header(0), [0x81, 0x00, 0x00, 0x80]);
    assert_eq!(simple_block_header(1000), [0x81, 0x03, 0xE8, 0x80]);
}

#[test]
fn the_file_starts_with_a_matroska_header_and_an_unknown_size_segment() {
    let file = small_file(&[(0, b"AB")], None);
    let (id, size, body) = header(&file, 0);
    assert_eq!(id, ids::EBML);
    let header_end = body + size.unwrap() as usize;
    assert!(file[body..header_end].windows(8).any(|w| w == b"matroska"));
    let (id, size, _) = header(&file, header_end);
    assert_eq!(id, ids::SEGMENT);
    assert_eq!(size, None, "the segment must be of unknown size");
    assert!(file.windows(7).any(|w| w == b"V_MJPEG"));
}

/// Walks the segment's children: (id, body start, body size or None).
fn children(file: &[u8]) -> Vec<(u32, usize, Option<u64>)> {
    let (_, size, body) = header(file, 0);
    let (_, _, mut at) = header(file, body + size.unwrap() as usize);
    let mut out = Vec::new();
    while at < file.len() {
        let (id, size, body) = header(file, at);
        out.push((id, body, size));
        at = match (id, size) {
            // An unknown-size cluster: its children follow.
            (ids::CLUSTER, None) => body,
            (_, Some(size)) => body + size as usize,
            _ => panic!("unknown size on {id:x}"),
        };
    }
    out
}

#[test]
fn frames_are_simple_blocks_in_clusters_with_relative_times() {
    let file = small_file(&[(0, b"one"), (40, b"two"), (6_000, b"three")], None);
    let elements = children(&file);
    let ids_seen: Vec<u32> = elements.iter().map(|e| e.0).collect();
    assert_eq!(
        ids_seen,
        [
            ids::VOID,
            ids::INFO,
            ids::TRACKS,
            ids::CLUSTER,
            ids::TIMESTAMP,
            ids::SIMPLE_BLOCK,
            ids::SIMPLE_BLOCK,
            // 6 s is past the cluster span: a new cluster.
            ids::CLUSTER,
            ids::TIMESTAMP,
            ids::SIMPLE_BLOCK,
        ]
    );
    let (_, body, size) = elements[6];
    assert_eq!(size, Some(7));
    assert_eq!(&file[body..body + 7], [0x81, 0, 40, 0x80, b't', b'w', b'o']);
    let (_, body, _) = elements[8];
    assert_eq!(&file[body..body + 2], 6_000u16.to_be_bytes());
    let (_, body, _) = elements[9];
    assert_eq!(&file[body..body + 4], [0x81, 0, 0, 0x80]);
}

#[test]
fn a_clean_finish_writes_cues_a_seek_head_and_the_duration() {
    let file = small_file(&[(0, b"one"), (6_000, b"two")], Some(6_040));
    let elements = children(&file);
    let ids_seen: Vec<u32> = elements.iter().map(|e| e.0).collect();
    assert_eq!(ids_seen[0], ids::SEEK_HEAD);
    assert_eq!(ids_seen[1], ids::VOID, "the rest of the reserved room");
    assert_eq!(*ids_seen.last().unwrap(), ids::CUES);
    let (_, info, size) = elements[2];
    let info = &file[info..info + size.unwrap() as usize];
    let duration = info
        .windows(3)
        .position(|w| w == [0x44, 0x89, 0x88])
        .unwrap();
    let value: [u8; 8] = info[duration + 3..duration + 11].try_into().unwrap();
    assert_eq!(f64::from_be_bytes(value), 6_040.0);
    // The cues point at both clusters, relative to the segment's content.
    let segment_data = {
        let (_, size, body) = header(&file, 0);
        header(&file, body + size.unwrap() as usize).2
    };
    let clusters: Vec<u64> = elements
        .iter()
        .filter(|e| e.0 == ids::CLUSTER)
        .map(|e| (e.1 - 12 - segment_data) as u64)
        .collect();
    let (_, cues, size) = *elements.last().unwrap();
    let cues = &file[cues..cues + size.unwrap() as usize];
    for position in clusters {
        let mut want = Vec::new();
        ebml::uint(&mut want, ids::CUE_CLUSTER_POSITION, position);
        assert!(cues.windows(want.len()).any(|w| w == want), "{position}");
    }
}

#[test]
fn a_frame_too_close_to_the_last_is_kept_in_order_just_after_it() {
    let file = small_file(&[(100, b"a"), (50, b"b"), (102, b"c")], None);
    let elements = children(&file);
    // Cluster at 100; the late frame (a clock stepped back) is shown 2 ms
    // after the first, and so is the one after it.
    let (_, body, _) = elements[6];
    assert_eq!(&file[body..body + 4], [0x81, 0, 2, 0x80]);
    let (_, body, _) = elements[7];
    assert_eq!(&file[body..body + 4], [0x81, 0, 4, 0x80]);
}

#[test]
fn the_track_gives_the_least_spacing_of_frames_as_its_default_duration() {
    let file = small_file(&[(0, b"one")], None);
    let (_, tracks, size) = children(&file)[2];
    let tracks = &file[tracks..tracks + size.unwrap() as usize];
    let mut want = Vec::new();
    ebml::uint(&mut want, ids::DEFAULT_DURATION, 2_000_000);
    assert!(tracks.windows(want.len()).any(|w| w == want));
}

fn jpeg(shade: u8) -> Vec<u8> {
    let picture = image::RgbImage::from_pixel(32, 16, image::Rgb([shade, 0, 255 - shade]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&picture)
        .unwrap();
    out
}

/// The spacing of a real recording's frames (a 30 fps test pattern through
/// the viewer, milliseconds) that ffmpeg rounded onto a 29.83 fps clock it
/// guessed, two frames on one tick, until the track gave it its own; the
/// last is the same capture sent twice (a viewer's settings changed).
const REAL_SPACING: [u64; 64] = [
    33, 34, 34, 34, 33, 34, 34, 33, 34, 33, 34, 34, 34, 33, 33, 34, 34, 34, 33, 34, 33, 34, 33, 33,
    34, 33, 34, 33, 34, 33, 34, 33, 34, 33, 34, 33, 34, 33, 34, 33, 34, 33, 34, 33, 34, 34, 33, 34,
    33, 34, 33, 35, 33, 33, 34, 33, 34, 34, 33, 34, 33, 34, 33, 0,
];

#[test]
fn ffmpeg_reads_a_recording_at_a_capture_pace_without_a_word() {
    let probe = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: ffmpeg is not installed");
        return;
    }
    let mut t = 0;
    let frames: Vec<u64> = std::iter::once(0)
        .chain(REAL_SPACING.iter().cycle().take(190).map(|d| {
            t += d;
            t
        }))
        .collect();
    let pictures: Vec<Vec<u8>> = (0..frames.len()).map(|i| jpeg((i * 7) as u8)).collect();
    let mut w = MkvWriter::new(Cursor::new(Vec::new()), 32, 16, "lookout-test").unwrap();
    for (at, picture) in frames.iter().zip(&pictures) {
        w.write_frame(*at, picture).unwrap();
    }
    assert_eq!(w.frames(), frames.len() as u64);
    let file = w.finish(t + 33).unwrap().into_inner();
    let dir = std::env::temp_dir().join(format!("lookout-mkv-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vfr.mkv");
    std::fs::write(&path, &file).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    if out.status.success() && out.stderr.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.is_empty(), "ffmpeg: {said}");
}

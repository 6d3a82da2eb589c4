//! A Matroska writer for one MJPEG video track, written for a recording
//! that can be cut at any byte: the segment and every cluster have
//! unknown size, so a player reads up to the last complete frame with no
//! index. A clean [`MkvWriter::finish`] adds what only helps: the
//! duration, cues (one per cluster) and a seek head, in room reserved at
//! the start.
//!
//! ```text
//! EBML header | Segment(unknown) { Void→SeekHead | Info | Tracks |
//!               Cluster(unknown){Timestamp, SimpleBlock…} … | Cues }
//! ```

use std::io::{self, Seek, SeekFrom, Write};

use crate::ebml::{self, UNKNOWN_SIZE, ids};

/// A cluster holds at most this span: block timestamps are i16
/// milliseconds relative to it, and a short span keeps seeking cheap.
pub const CLUSTER_SPAN_MS: u64 = 5_000;

/// A cluster is closed after this many bytes of frames too, so a seek
/// never reads a huge cluster (30 fps of 1080p is ~6 MiB a second).
pub const CLUSTER_BYTES: u64 = 8 << 20;

/// The least time between two frames of a file, in milliseconds: each
/// frame then has a tick of its own on the clock of the track's default
/// duration (500 a second), whatever a player makes of it.
pub const MIN_SPACING_MS: u64 = 2;

/// Room kept after the segment's start for the seek head written at the
/// end (3 entries of at most 20 bytes, plus its own header).
const SEEK_HEAD_ROOM: usize = 80;

/// The track number of the one video track.
const TRACK: u64 = 1;

/// Writes one MJPEG track into `out`, frame by frame.
pub struct MkvWriter<W: Write + Seek> {
    out: W,
    /// Bytes written so far: where the next element starts.
    pos: u64,
    /// Where the segment's content starts (positions in the seek head and
    /// cues are relative to it).
    segment_data: u64,
    /// Where the seek head's reserved room starts.
    seek_room: u64,
    /// Where the 8 bytes of the duration's value are.
    duration_at: u64,
    info_at: u64,
    tracks_at: u64,
    cluster: Option<Cluster>,
    /// (cluster timestamp, cluster position relative to the segment).
    cues: Vec<(u64, u64)>,
    last_ms: Option<u64>,
    frames: u64,
}

impl<W: Write + Seek> std::fmt::Debug for MkvWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MkvWriter")
            .field("pos", &self.pos)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

struct Cluster {
    start_ms: u64,
    bytes: u64,
}

impl<W: Write + Seek> MkvWriter<W> {
    /// Writes the header of a file whose frames are `width` x `height`
    /// JPEGs, made by `app` (the file's muxing and writing application).
    /// `out` is written at its current position, which must be 0.
    pub fn new(mut out: W, width: u32, height: u32, app: &str) -> io::Result<Self> {
        let mut head = Vec::with_capacity(256);
        ebml::master(&mut head, ids::EBML, |h| {
            ebml::uint(h, ids::EBML_VERSION, 1);
            ebml::uint(h, ids::EBML_READ_VERSION, 1);
            ebml::uint(h, ids::EBML_MAX_ID_LENGTH, 4);
            ebml::uint(h, ids::EBML_MAX_SIZE_LENGTH, 8);
            ebml::string(h, ids::DOC_TYPE, "matroska");
            ebml::uint(h, ids::DOC_TYPE_VERSION, 4);
            ebml::uint(h, ids::DOC_TYPE_READ_VERSION, 2);
        });
        ebml::put_id(&mut head, ids::SEGMENT);
        head.extend_from_slice(&UNKNOWN_SIZE);
        let segment_data = head.len() as u64;
        let seek_room = head.len() as u64;
        ebml::void(&mut head, SEEK_HEAD_ROOM);
        let info_at = head.len() as u64;
        let mut duration_at = 0;
        ebml::master(&mut head, ids::INFO, |h| {
            ebml::uint(h, ids::TIMESTAMP_SCALE, 1_000_000);
            ebml::string(h, ids::MUXING_APP, app);
            ebml::string(h, ids::WRITING_APP, app);
            // Rewritten by `finish`; 0 until then (unknown to a player).
            ebml::float(h, ids::DURATION, 0.0);
            duration_at = h.len() as u64 - 8;
        });
        // The Info header: its id (4 bytes) and its one-byte size.
        duration_at += info_at + 5;
        let tracks_at = head.len() as u64;
        ebml::master(&mut head, ids::TRACKS, |h| {
            ebml::master(h, ids::TRACK_ENTRY, |t| {
                ebml::uint(t, ids::TRACK_NUMBER, TRACK);
                ebml::uint(t, ids::TRACK_UID, TRACK);
                ebml::uint(t, ids::TRACK_TYPE, 1);
                ebml::uint(t, ids::FLAG_LACING, 0);
                // Not the frame rate (it is variable) but the finest
                // spacing of frames. ffmpeg takes a track's default
                // duration as the stream's frame rate (when under 1000 a
                // second) and rounds every frame onto that clock; without
                // it, it guesses the rate from the first frames (29.83 a
                // second for a 30 fps capture) and frames 33 ms apart
                // land on one tick ("non monotonically increasing dts").
                ebml::uint(t, ids::DEFAULT_DURATION, MIN_SPACING_MS * 1_000_000);
                ebml::string(t, ids::CODEC_ID, "V_MJPEG");
                ebml::master(t, ids::VIDEO, |v| {
                    ebml::uint(v, ids::PIXEL_WIDTH, width.into());
                    ebml::uint(v, ids::PIXEL_HEIGHT, height.into());
                });
            });
        });
        out.write_all(&head)?;
        Ok(Self {
            out,
            pos: head.len() as u64,
            segment_data,
            seek_room,
            duration_at,
            info_at,
            tracks_at,
            cluster: None,
            cues: Vec::new(),
            last_ms: None,
            frames: 0,
        })
    }

    /// Appends one JPEG shown from `at_ms` (milliseconds from the start
    /// of the recording). A time less than [`MIN_SPACING_MS`] after the
    /// previous frame's (the same capture sent again, or a clock stepped
    /// back) is taken as that much after it: players need frames in order,
    /// and ffmpeg refuses two on one tick of its clock.
    pub fn write_frame(&mut self, at_ms: u64, jpeg: &[u8]) -> io::Result<()> {
        let at_ms = self
            .last_ms
            .map_or(at_ms, |last| at_ms.max(last + MIN_SPACING_MS));
        let needs_cluster = self
            .cluster
            .as_ref()
            .is_none_or(|c| at_ms - c.start_ms > CLUSTER_SPAN_MS || c.bytes >= CLUSTER_BYTES);
        if needs_cluster {
            self.start_cluster(at_ms)?;
        }
        let cluster = self.cluster.as_mut().expect("a cluster was started");
        let relative =
            i16::try_from(at_ms - cluster.start_ms).expect("a cluster spans less than i16::MAX ms");
        let mut head = Vec::with_capacity(16);
        ebml::put_id(&mut head, ids::SIMPLE_BLOCK);
        ebml::put_size(&mut head, 4 + jpeg.len() as u64);
        head.extend_from_slice(&simple_block_header(relative));
        self.out.write_all(&head)?;
        self.out.write_all(jpeg)?;
        let written = head.len() as u64 + jpeg.len() as u64;
        self.pos += written;
        cluster.bytes += written;
        self.last_ms = Some(at_ms);
        self.frames += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.pos
    }

    fn start_cluster(&mut self, at_ms: u64) -> io::Result<()> {
        self.cues.push((at_ms, self.pos - self.segment_data));
        let mut head = Vec::with_capacity(24);
        ebml::put_id(&mut head, ids::CLUSTER);
        head.extend_from_slice(&UNKNOWN_SIZE);
        ebml::uint(&mut head, ids::TIMESTAMP, at_ms);
        self.out.write_all(&head)?;
        self.pos += head.len() as u64;
        self.cluster = Some(Cluster {
            start_ms: at_ms,
            bytes: 0,
        });
        Ok(())
    }

    /// Ends the file cleanly: cues, the seek head and the duration
    /// (`duration_ms`, the time the last frame stays shown included).
    /// Returns the output, flushed.
    pub fn finish(mut self, duration_ms: u64) -> io::Result<W> {
        let cues_at = self.pos;
        let mut tail = Vec::with_capacity(16 + self.cues.len() * 16);
        ebml::master(&mut tail, ids::CUES, |c| {
            for &(time, position) in &self.cues {
                ebml::master(c, ids::CUE_POINT, |p| {
                    ebml::uint(p, ids::CUE_TIME, time);
                    ebml::master(p, ids::CUE_TRACK_POSITIONS, |t| {
                        ebml::uint(t, ids::CUE_TRACK, TRACK);
                        ebml::uint(t, ids::CUE_CLUSTER_POSITION, position);
                    });
                });
            }
        });
        self.out.write_all(&tail)?;
        let mut seek_head = Vec::with_capacity(SEEK_HEAD_ROOM);
        ebml::master(&mut seek_head, ids::SEEK_HEAD, |s| {
            for (id, at) in [
                (ids::INFO, self.info_at),
                (ids::TRACKS, self.tracks_at),
                (ids::CUES, cues_at),
            ] {
                ebml::master(s, ids::SEEK, |e| {
                    let mut id_bytes = Vec::new();
                    ebml::put_id(&mut id_bytes, id);
                    ebml::element(e, ids::SEEK_ID, &id_bytes);
                    ebml::uint(e, ids::SEEK_POSITION, at - self.segment_data);
                });
            }
        });
        // The room left after the seek head stays a Void.
        let rest = SEEK_HEAD_ROOM - seek_head.len();
        if rest >= 2 {
            ebml::void(&mut seek_head, rest);
        }
        if seek_head.len() == SEEK_HEAD_ROOM {
            self.out.seek(SeekFrom::Start(self.seek_room))?;
            self.out.write_all(&seek_head)?;
        }
        self.out.seek(SeekFrom::Start(self.duration_at))?;
        self.out.write_all(&(duration_ms as f64).to_be_bytes())?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A SimpleBlock's header: track number (as a size-like vint), the
/// timestamp relative to the cluster, flags (keyframe: every JPEG is one;
/// no lacing).
pub fn simple_block_header(relative_ms: i16) -> [u8; 4] {
    let [hi, lo] = relative_ms.to_be_bytes();
    [0x80 | TRACK as u8, hi, lo, 0x80]
}

#[cfg(test)]
mod tests;

//! F9: writing the frame on screen to a PNG on a short-lived thread, so the
//! window loop never waits for the disk. One save at a time keeps the
//! threads bounded.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::SystemTime;

use crate::decode::DecodedFrame;
use crate::png::{SaveError, screenshot_name, write_png};

/// The result of a PNG save, from the saving thread.
type Saved = Result<PathBuf, SaveError>;

/// Starts saves and collects their results.
#[derive(Debug)]
pub(crate) struct Saver {
    /// Goes into the file names.
    host: String,
    /// Where files go; empty = the working directory.
    dir: PathBuf,
    /// A save is running.
    saving: bool,
    /// Bounded (1): at most one save runs, so its result never waits.
    done_tx: SyncSender<Saved>,
    done_rx: Receiver<Saved>,
}

impl Saver {
    /// Saves named after `host` into `dir` (empty: the working directory).
    pub(crate) fn new(host: String, dir: PathBuf) -> Self {
        let (done_tx, done_rx) = sync_channel(1);
        Self {
            host,
            dir,
            saving: false,
            done_tx,
            done_rx,
        }
    }

    /// Starts saving `frame`. Returns what to tell the user when no save
    /// was started.
    pub(crate) fn start(&mut self, frame: Option<&Arc<DecodedFrame>>) -> Option<String> {
        if self.saving {
            return Some("still saving the previous image".into());
        }
        let Some(frame) = frame.cloned() else {
            return Some("no image to save yet".into());
        };
        let path = self
            .dir
            .join(screenshot_name(&self.host, SystemTime::now(), frame.seq));
        let done = self.done_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("lookout-save".into())
            .spawn(move || {
                let result = write_png(&path, &frame).map(|()| path);
                // Only one save runs at a time, so the slot is free.
                let _ = done.try_send(result);
            });
        match spawned {
            Ok(_) => {
                self.saving = true;
                None
            }
            Err(err) => Some(format!("cannot save: {err}")),
        }
    }

    /// What to tell the user about a save that finished since the last
    /// call, if one did. Also reported on stderr, which outlasts the title.
    pub(crate) fn finished(&mut self) -> Option<String> {
        let result = match self.done_rx.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => return None,
        };
        self.saving = false;
        Some(match result {
            Ok(path) => {
                let shown = std::env::current_dir()
                    .map(|dir| dir.join(&path))
                    .unwrap_or(path);
                eprintln!("lookout-viewer: saved {}", shown.display());
                format!("saved {}", shown.display())
            }
            Err(err) => {
                eprintln!("lookout-viewer: {err}");
                format!("save failed: {}", err.source)
            }
        })
    }
}

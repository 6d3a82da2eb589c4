//! The window's side of the command queue: what waits when the queue to the
//! network thread is full, so that the window never blocks and input never
//! sticks on the agent.
//!
//! Dropping a command from a full queue is harmless for a pointer move (the
//! next one supersedes it) but not for a release: the agent would hold Ctrl
//! until the session ends, and every later keystroke would be Ctrl+key.
//! While the queue is full, commands wait here in order, under these rules:
//!
//! * releases (keys and buttons) are always kept;
//! * a pointer move replaces a move waiting right before it (positions are
//!   absolute: only the newest matters);
//! * the window's size waits once: a newer one replaces it, and it is
//!   never dropped (the agent would go on sending for a window that is
//!   gone);
//! * beyond [`OVERFLOW`] waiting commands, presses, wheel steps, text and
//!   the window's own commands are dropped, and so is the release of every
//!   press dropped (a dropped press and its dropped release leave the agent
//!   as it was); a move is then kept only after a release, so that a button
//!   is let go where the pointer is.
//!
//! So what waits is bounded: [`OVERFLOW`] commands, plus at most a release
//! and a move for each key and button a viewer can hold (each release beyond
//! the bound answers a press accepted before it, and no new press is), and
//! one size.

use std::collections::VecDeque;

use lookout_protocol::{Button, ClientMessage, Key};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::link::Command;

/// How many commands may wait here beyond the full queue
/// ([`COMMAND_QUEUE`](super::COMMAND_QUEUE)) before presses are dropped.
/// The queue already covers seconds of a stalled socket; this covers a
/// burst of typing on top.
pub const OVERFLOW: usize = 64;

/// Something the agent can hold down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Button(Button),
    Key(Key),
}

/// What a command does, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Move,
    Press(Held),
    Release(Held),
    View,
    Other,
}

fn kind(command: &Command) -> Kind {
    match command {
        Command::Input(ClientMessage::MouseMove { .. }) => Kind::Move,
        Command::Input(ClientMessage::MouseButton { button, pressed }) => {
            edge(Held::Button(*button), *pressed)
        }
        Command::Input(ClientMessage::Key { key, pressed }) => edge(Held::Key(*key), *pressed),
        Command::ViewSize(_) => Kind::View,
        _ => Kind::Other,
    }
}

fn edge(held: Held, pressed: bool) -> Kind {
    if pressed {
        Kind::Press(held)
    } else {
        Kind::Release(held)
    }
}

/// Commands waiting for room in the queue to the network thread.
#[derive(Debug, Default)]
pub struct Outbox {
    waiting: VecDeque<Command>,
    /// Presses dropped whose release has not come yet.
    dropped: Vec<Held>,
    /// Commands dropped so far, for the log.
    lost: u64,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `command` through `queue` without blocking, after whatever
    /// waits here; keeps it here (or drops it, by the rules above) if the
    /// queue is full.
    pub fn send(&mut self, queue: &mpsc::Sender<Command>, command: Command) {
        self.push(command);
        self.flush(queue);
    }

    /// Moves what waits into `queue`, in order, until it is full.
    pub fn flush(&mut self, queue: &mpsc::Sender<Command>) {
        while let Some(command) = self.waiting.pop_front() {
            match queue.try_send(command) {
                Ok(()) => {}
                Err(TrySendError::Full(command)) => {
                    self.waiting.push_front(command);
                    return;
                }
                // The network thread is gone, and the agent with it.
                Err(TrySendError::Closed(_)) => {
                    self.waiting.clear();
                    self.dropped.clear();
                    return;
                }
            }
        }
    }

    /// How many commands wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Queues `command` here by the rules above.
    fn push(&mut self, command: Command) {
        let room = self.waiting.len() < OVERFLOW;
        let last = self.waiting.back().map(kind);
        match kind(&command) {
            Kind::Move if last == Some(Kind::Move) => {
                if let Some(back) = self.waiting.back_mut() {
                    *back = command;
                }
            }
            Kind::Move if room || matches!(last, Some(Kind::Release(_))) => {
                self.waiting.push_back(command);
            }
            Kind::Release(held) if self.forget_dropped(held) => self.lose(&command),
            Kind::Release(_) => self.waiting.push_back(command),
            Kind::Press(held) if room => {
                // Pressed again and sent: its next release answers this press.
                self.forget_dropped(held);
                self.waiting.push_back(command);
            }
            Kind::Press(held) => {
                if !self.dropped.contains(&held) {
                    self.dropped.push(held);
                }
                self.lose(&command);
            }
            Kind::View => match self.waiting.iter_mut().find(|c| kind(c) == Kind::View) {
                Some(waiting) => *waiting = command,
                None => self.waiting.push_back(command),
            },
            Kind::Other if room => self.waiting.push_back(command),
            Kind::Move | Kind::Other => self.lose(&command),
        }
    }

    /// Whether a press of `held` was dropped; forgets it.
    fn forget_dropped(&mut self, held: Held) -> bool {
        let before = self.dropped.len();
        self.dropped.retain(|&h| h != held);
        self.dropped.len() != before
    }

    fn lose(&mut self, command: &Command) {
        self.lost += 1;
        // Moves are superseded by the next one anyway.
        if kind(command) != Kind::Move {
            // The kind only: a `text` command holds what the user typed.
            tracing::warn!(
                command = ?kind(command),
                lost = self.lost,
                "the connection is stalled: command dropped"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(key: Key, pressed: bool) -> Command {
        Command::Input(ClientMessage::Key { key, pressed })
    }

    fn button(button: Button, pressed: bool) -> Command {
        Command::Input(ClientMessage::MouseButton { button, pressed })
    }

    fn moved(x: i32) -> Command {
        Command::Input(ClientMessage::MouseMove { x, y: 0 })
    }

    /// Replays `commands` as the agent would and returns what stays held.
    fn held_after(commands: &[Command]) -> Vec<Held> {
        let mut held = Vec::new();
        for command in commands {
            match kind(command) {
                Kind::Press(h) if !held.contains(&h) => held.push(h),
                Kind::Release(h) => held.retain(|&k| k != h),
                _ => {}
            }
        }
        held
    }

    fn drain(rx: &mut mpsc::Receiver<Command>, into: &mut Vec<Command>) {
        while let Ok(command) = rx.try_recv() {
            into.push(command);
        }
    }

    #[test]
    fn a_full_viewer_queue_never_drops_a_release() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut outbox = Outbox::new();
        let mut sent = Vec::new();
        // A long stall: the network thread takes nothing while the user
        // types Ctrl+letter, clicks and moves, far past every bound.
        for round in 0..500 {
            let letter = Key::Char(char::from(b'a' + (round % 26) as u8));
            for command in [
                key(Key::Control, true),
                moved(round),
                button(Button::Left, true),
                key(letter, true),
                moved(round + 1),
                key(letter, false),
                button(Button::Left, false),
                key(Key::Control, false),
            ] {
                outbox.send(&tx, command);
            }
            // Beyond the bound: a release and a move for each of Ctrl, the
            // button and the letter at most.
            assert!(outbox.len() <= OVERFLOW + 6, "{}", outbox.len());
        }
        // Then Ctrl and Shift go down, and up again, and the stall ends.
        for command in [
            key(Key::Control, true),
            key(Key::Shift, true),
            key(Key::Control, false),
            key(Key::Shift, false),
        ] {
            outbox.send(&tx, command);
        }
        for _ in 0..1000 {
            drain(&mut rx, &mut sent);
            outbox.flush(&tx);
            if outbox.is_empty() {
                break;
            }
        }
        drain(&mut rx, &mut sent);
        assert!(outbox.is_empty());
        assert_eq!(held_after(&sent), vec![], "held on the agent");
        // Releases were kept, so some of the typing did arrive whole.
        assert!(sent.contains(&key(Key::Char('a'), false)));
    }

    #[test]
    fn a_dropped_press_takes_its_release_along_but_a_later_press_does_not() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut outbox = Outbox::new();
        outbox.send(&tx, Command::TogglePause);
        for _ in 0..OVERFLOW {
            outbox.send(&tx, Command::NextMonitor);
        }
        // Full: this press is dropped, and so is its release.
        outbox.send(&tx, key(Key::Control, true));
        outbox.send(&tx, key(Key::Control, false));
        assert_eq!(outbox.len(), OVERFLOW);
        let mut sent = Vec::new();
        for _ in 0..=OVERFLOW {
            drain(&mut rx, &mut sent);
            outbox.flush(&tx);
        }
        drain(&mut rx, &mut sent);
        assert!(
            !sent
                .iter()
                .any(|c| matches!(kind(c), Kind::Press(_) | Kind::Release(_)))
        );
        // With room again, Ctrl goes down and up normally.
        outbox.send(&tx, key(Key::Control, true));
        drain(&mut rx, &mut sent);
        outbox.send(&tx, key(Key::Control, false));
        drain(&mut rx, &mut sent);
        assert_eq!(
            sent[sent.len() - 2..],
            [key(Key::Control, true), key(Key::Control, false)]
        );
    }

    #[test]
    fn waiting_pointer_moves_collapse_into_the_newest() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut outbox = Outbox::new();
        outbox.send(&tx, Command::TogglePause);
        for x in 0..1000 {
            outbox.send(&tx, moved(x));
        }
        outbox.send(&tx, button(Button::Left, true));
        for x in 1000..2000 {
            outbox.send(&tx, moved(x));
        }
        assert_eq!(outbox.len(), 3);
        let mut sent = Vec::new();
        for _ in 0..4 {
            drain(&mut rx, &mut sent);
            outbox.flush(&tx);
        }
        assert_eq!(
            sent,
            vec![
                Command::TogglePause,
                moved(999),
                button(Button::Left, true),
                moved(1999)
            ]
        );
    }

    #[test]
    fn a_stalled_queue_keeps_the_newest_window_size_and_never_drops_it() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut outbox = Outbox::new();
        outbox.send(&tx, Command::TogglePause);
        outbox.send(&tx, Command::ViewSize((800, 600)));
        for _ in 0..OVERFLOW * 2 {
            outbox.send(&tx, Command::NextMonitor);
        }
        outbox.send(&tx, Command::ViewSize((640, 480)));
        assert_eq!(outbox.len(), OVERFLOW);
        let mut sent = Vec::new();
        for _ in 0..=OVERFLOW {
            drain(&mut rx, &mut sent);
            outbox.flush(&tx);
        }
        drain(&mut rx, &mut sent);
        let sizes: Vec<_> = sent
            .iter()
            .filter(|c| matches!(c, Command::ViewSize(_)))
            .collect();
        assert_eq!(sizes, [&Command::ViewSize((640, 480))]);
    }

    #[test]
    fn a_closed_queue_empties_the_outbox() {
        let (tx, rx) = mpsc::channel(1);
        let mut outbox = Outbox::new();
        outbox.send(&tx, Command::TogglePause);
        outbox.send(&tx, key(Key::Control, false));
        assert_eq!(outbox.len(), 1);
        drop(rx);
        outbox.flush(&tx);
        assert!(outbox.is_empty());
    }
}

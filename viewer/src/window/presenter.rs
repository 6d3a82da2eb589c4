//! The edge between the window core (`Ui`) and a real window:
//! the [`Presenter`] trait. minifb implements it for the screen
//! (`minifb_window`); the core's tests implement it with a fake that
//! scripts input and records what was shown, so every rule of the window
//! runs without a display.

use minifb::Key as WinKey;

use crate::error::RunError;

/// What the user did in the window since the last [`Presenter::show`].
/// One value is reused every iteration, so nothing is allocated per frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Input {
    /// Key transitions as they happened, in order (`true` = pressed). A tap
    /// shorter than one iteration is here even though no key is down now.
    pub(crate) key_events: Vec<(WinKey, bool)>,
    /// Every key down now.
    pub(crate) keys_down: Vec<WinKey>,
    /// Whether the window has the keyboard focus.
    pub(crate) focused: bool,
    /// The pointer in window pixels; `None` when the window does not know.
    pub(crate) pointer: Option<(f32, f32)>,
    /// Left, right, middle: down or not.
    pub(crate) buttons: [bool; 3],
    /// Wheel movement since the last iteration, in the window system's units.
    pub(crate) wheel: Option<(f32, f32)>,
}

/// A window the core can draw into and read input from.
pub(crate) trait Presenter {
    /// `false` once the user closed the window.
    fn is_open(&self) -> bool;

    /// The drawable area in pixels, at least 1x1.
    fn size(&self) -> (usize, usize);

    /// Replaces `input` with what happened since the last [`Self::show`].
    fn input(&mut self, input: &mut Input);

    /// Sets the window title (the core calls this only when it changed).
    fn set_title(&mut self, title: &str);

    /// Shows `buffer` (`size.0 * size.1` pixels, row-major `0RGB`) and
    /// paces the loop to the window's rate.
    fn show(&mut self, buffer: &[u32], size: (usize, usize)) -> Result<(), RunError>;
}

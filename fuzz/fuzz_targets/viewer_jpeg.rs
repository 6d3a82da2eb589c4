//! `viewer_jpeg`: arbitrary bytes as the JPEG of an `HT` frame, through the
//! viewer's decode path (`lookout_viewer::decode::decode_jpeg`, not the
//! guarded one: a panic must reach the fuzzer).
//!
//! Each input is decoded twice within a 1024x1024 bound: announced as 1x1,
//! which any other size must refuse (and the refusal names the JPEG's real
//! size), then announced at the size the header claims, which takes it
//! through the full decode. Checks that whatever decodes has the announced
//! size, inside the bound, with one `0RGB` pixel per position, and that
//! nothing panics.
//!
//! Its checks live here, not in `src/lib.rs`: that file is shared with the
//! protocol crate's tests, which do not depend on the viewer.
//!
//! **Known upstream panics.** zune-jpeg 0.5.15 (the newest) panics on some
//! crafted JPEGs (`idct/avx2.rs`: an `unwrap` on `None`; the input is
//! `fuzz/regressions/viewer_jpeg/upstream-*`). The viewer decodes through
//! `decode_guarded`, which turns a decoder panic into a refused frame, and
//! the regression test checks that; here a panic whose location is inside
//! zune-jpeg's sources is that known bug and ends the input, while a panic
//! anywhere else (our code, our checks) still aborts as libFuzzer expects.
#![no_main]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use lookout_protocol::{EncodedFrame, FrameMeta};
use lookout_viewer::decode::{DecodeError, FrameBound, decode_jpeg};

/// Small enough that one input costs at most 4 MiB of pixels.
const BOUND: FrameBound = FrameBound::new(1024, 1024);

fn frame(jpeg: &Bytes, (width, height): (u32, u32)) -> EncodedFrame {
    EncodedFrame {
        meta: FrameMeta {
            seq: 1,
            width,
            height,
            captured_at_us: 0,
            quality: 75,
        },
        jpeg: jpeg.clone(),
    }
}

fn check(data: &[u8]) {
    let jpeg = Bytes::copy_from_slice(data);
    let claimed = match decode_jpeg(&frame(&jpeg, (1, 1)), BOUND) {
        Ok(decoded) => {
            assert_eq!((decoded.width, decoded.height), (1, 1));
            assert_eq!(decoded.pixels.len(), 1);
            return;
        }
        Err(DecodeError::SizeMismatch { announced, actual }) => {
            assert_eq!(announced, (1, 1));
            assert!(
                BOUND.admits(actual.0, actual.1),
                "{actual:?} is outside the bound, yet not refused as too large"
            );
            actual
        }
        Err(DecodeError::TooLarge { width, height, .. }) => {
            assert!(!BOUND.admits(width, height));
            return;
        }
        Err(_) => return,
    };
    match decode_jpeg(&frame(&jpeg, claimed), BOUND) {
        Ok(decoded) => {
            assert_eq!((decoded.width, decoded.height), claimed);
            assert_eq!(
                decoded.pixels.len(),
                claimed.0 as usize * claimed.1 as usize
            );
            assert!(decoded.pixels.iter().all(|p| p >> 24 == 0), "not 0RGB");
        }
        Err(DecodeError::SizeMismatch { .. } | DecodeError::TooLarge { .. }) => {
            panic!("the same header read twice gave two sizes")
        }
        Err(_) => {}
    }
}

/// Whether a panic's location is in the JPEG decoder's own sources.
fn in_decoder(info: &std::panic::PanicHookInfo<'_>) -> bool {
    info.location()
        .is_some_and(|l| l.file().contains("/zune-jpeg-"))
}

/// Lets panics inside zune-jpeg unwind to [`check_decoder_panics`]; every
/// other panic goes to libFuzzer's hook (which aborts: a finding).
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !in_decoder(info) {
                fuzzer_hook(info);
            }
        }));
    });
}

/// [`check`], a known zune-jpeg panic ending the input (see the module docs).
fn check_decoder_panics(data: &[u8]) {
    install_hook();
    // Only a panic inside zune-jpeg unwinds this far: any other aborts in
    // the hook.
    let _ = catch_unwind(AssertUnwindSafe(|| check(data)));
}

fuzz_target!(|data: &[u8]| check_decoder_panics(data));

//! The encoders the benchmarks race against libjpeg-turbo
//! (`benches/encoders/`) encode the same pictures the agent does: baseline
//! JPEG of the right size and colour, BGRX and RGBA alike, and (jpeg-encoder)
//! box-averaged chroma. Otherwise the race would not be fair.

#[path = "../benches/encoders/mod.rs"]
mod encoders;

use encoders::Contender;
use lookout_server::capture::{CapturedImage, PixelOrder};
use lookout_server::encode::Subsampling;

fn red(width: u32, height: u32) -> CapturedImage {
    CapturedImage::rgba(
        width,
        height,
        [200u8, 30, 30, 255].repeat((width * height) as usize),
    )
}

#[test]
fn every_contender_encodes_a_baseline_jpeg_of_the_same_size_and_colour() {
    for subsampling in [Subsampling::Half, Subsampling::Full] {
        for mut contender in Contender::all(75, subsampling) {
            let jpeg = contender.encode(&red(64, 48)).unwrap();
            assert_eq!(&jpeg[..2], &[0xff, 0xd8], "{contender:?}: SOI marker");
            // SOF0 (baseline), not progressive.
            assert!(jpeg.windows(2).any(|w| w == [0xff, 0xc0]), "{contender:?}");
            let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
            assert_eq!(decoded.dimensions(), (64, 48), "{contender:?}");
            let p = decoded.get_pixel(10, 10).0;
            assert!(p[0] > 180 && p[1] < 60 && p[2] < 60, "{contender:?}: {p:?}");
        }
    }
}

#[test]
fn every_contender_encodes_bgrx_and_rgba_of_one_picture_alike() {
    let rgba = red(32, 16);
    let bgrx = CapturedImage {
        order: PixelOrder::Bgrx,
        pixels: rgba
            .pixels
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0], 0])
            .collect(),
        ..rgba.clone()
    };
    for mut contender in Contender::all(90, Subsampling::Half) {
        let mut encode = |image: &CapturedImage| {
            let jpeg = contender.encode(image).unwrap();
            image::load_from_memory(&jpeg).unwrap().to_rgb8()
        };
        let (from_rgba, from_bgrx) = (encode(&rgba), encode(&bgrx));
        assert_eq!(from_rgba, from_bgrx, "{contender:?}");
    }
}

#[test]
fn jpeg_encoder_full_chroma_keeps_colour_detail_that_half_chroma_blurs_by_averaging() {
    // Alternating red and blue columns: pure chroma detail.
    let (w, h) = (64u32, 16u32);
    let mut rgba = Vec::with_capacity((w * h * 4) as usize);
    for _ in 0..h {
        for x in 0..w {
            rgba.extend_from_slice(if x % 2 == 0 {
                &[255, 0, 0, 255]
            } else {
                &[0, 0, 255, 255]
            });
        }
    }
    let image = CapturedImage::rgba(w, h, rgba);
    let redness = |subsampling| {
        let jpeg = Contender::JpegEncoder(95, subsampling)
            .encode(&image)
            .unwrap();
        let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        let p = decoded.get_pixel(20, 8).0; // a red column
        i32::from(p[0]) - i32::from(p[2])
    };
    let (full, half) = (redness(Subsampling::Full), redness(Subsampling::Half));
    assert!(full > 150, "{full}");
    assert!(half < full - 50, "{half} vs {full}");
    // Averaged, not point-sampled: the columns blend to purple rather than
    // taking one neighbour's colour.
    assert!(half.abs() < 60, "{half}");
}

//! What one 1920x1080 desktop-like frame costs after capture: JPEG encoding
//! at the default quality (the agent's libjpeg-turbo, next to jpeg-encoder
//! and the `image` crate's encoder from `encoders/`), the protocol framing
//! on both sides, and the
//! viewer-side decode (zune-jpeg into the window's `u32` buffer, next to the
//! straightforward `image` decode plus repacking).
//!
//! ```text
//! cargo bench -p lookout-server --bench pipeline
//! ```

mod encoders;

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{Criterion, Throughput};
use lookout_protocol::{FrameDecoder, Limits, encode_image};
use lookout_server::capture::TestPattern;
use lookout_server::encode::{FrameEncoder, Subsampling};

use encoders::Contender;

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let image = TestPattern::new(1920, 1080).render(1.0);
    let jpeg = FrameEncoder::new(75).encode(&image).expect("encode");
    eprintln!("1920x1080 desktop at quality 75: {} bytes", jpeg.len());

    let mut encode = c.benchmark_group("encode_1080p");
    encode.throughput(Throughput::Elements(1));
    // The straightforward encoder first (`image` 0.25 from an RGB copy,
    // 4:4:4 only), then jpeg-encoder and libjpeg-turbo (the default).
    let turbo = |subsampling| Contender::Turbo(FrameEncoder::with_subsampling(75, subsampling));
    for (name, mut encoder) in [
        ("image_crate_q75_444", Contender::ImageCrate(75)),
        (
            "jpeg_encoder_q75_420",
            Contender::JpegEncoder(75, Subsampling::Half),
        ),
        (
            "jpeg_encoder_q75_444",
            Contender::JpegEncoder(75, Subsampling::Full),
        ),
        ("turbojpeg_q75_420", turbo(Subsampling::Half)),
        ("turbojpeg_q75_444", turbo(Subsampling::Full)),
    ] {
        let size = encoder.encode(&image).expect("encode").len();
        eprintln!("{name}: {size} bytes");
        encode.bench_function(name, |b| {
            b.iter(|| encoder.encode(black_box(&image)).expect("encode"));
        });
    }
    encode.finish();

    let mut decode = c.benchmark_group("decode_1080p");
    // The straightforward path: `image` to RGB8, then packed into the
    // window's 0RGB words.
    decode.bench_function("image_rgb8_then_u32", |b| {
        b.iter(|| {
            let rgb = image::load_from_memory(black_box(&jpeg))
                .expect("decode")
                .to_rgb8();
            rgb.as_raw()
                .chunks_exact(3)
                .map(|p| u32::from_be_bytes([0, p[0], p[1], p[2]]))
                .collect::<Vec<u32>>()
        });
    });
    // What lookout-viewer does: zune-jpeg straight into the u32 buffer.
    let frame = lookout_viewer::connection::EncodedFrame {
        meta: lookout_viewer::connection::FrameMeta {
            seq: 1,
            width: image.width,
            height: image.height,
            captured_at_us: 0,
            quality: 75,
        },
        jpeg: jpeg.clone(),
    };
    decode.bench_function("viewer_zune_to_u32", |b| {
        let bound = lookout_viewer::decode::FrameBound::new(image.width, image.height);
        b.iter(|| lookout_viewer::decode::decode_jpeg(black_box(&frame), bound).expect("decode"));
    });
    decode.finish();

    let mut framing = c.benchmark_group("framing");
    framing.throughput(Throughput::Bytes(jpeg.len() as u64));
    framing.bench_function("encode_image_frame", |b| {
        let mut dst = BytesMut::with_capacity(jpeg.len() + 16);
        b.iter(|| {
            dst.clear();
            encode_image(black_box(&jpeg), &Limits::viewer(), &mut dst).expect("frame");
        });
    });
    let mut wire = BytesMut::new();
    encode_image(&jpeg, &Limits::viewer(), &mut wire).expect("frame");
    let wire = wire.freeze();
    framing.bench_function("decode_image_frame_in_64k_reads", |b| {
        b.iter(|| {
            let mut decoder = FrameDecoder::new(Limits::viewer());
            let mut buf = BytesMut::new();
            let mut frames = 0;
            for chunk in wire.chunks(64 * 1024) {
                buf.extend_from_slice(chunk);
                while decoder.decode(&mut buf).expect("valid").is_some() {
                    frames += 1;
                }
            }
            assert_eq!(frames, 1);
        });
    });
    framing.finish();
    c.final_summary();
}

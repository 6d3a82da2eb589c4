//! What one 1920x1080 desktop-like frame costs after capture: JPEG encoding
//! at the default quality (ours, next to the `image` crate's encoder), the
//! protocol framing on both sides, and the
//! viewer-side decode (with the `image` crate, the straightforward path that
//! the speed work replaces).
//!
//! ```text
//! cargo bench -p lookout-server --bench pipeline
//! ```

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{Criterion, Throughput};
use lookout_protocol::{FrameDecoder, Limits, encode_image};
use lookout_server::capture::TestPattern;
use lookout_server::encode::{FrameEncoder, Subsampling};

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
    // The straightforward encoder, for comparison: `image` 0.25, 4:4:4 only.
    encode.bench_function("image_crate_q75_444", |b| {
        let view = image::ImageBuffer::<image::Rgba<u8>, &[u8]>::from_raw(
            image.width,
            image.height,
            &image.rgba,
        )
        .expect("sized");
        b.iter(|| {
            let mut out = Vec::with_capacity(512 * 1024);
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 75)
                .encode_image(black_box(&view))
                .expect("encode");
            out
        });
    });
    for (name, subsampling) in [
        ("lookout_q75_420", Subsampling::Half),
        ("lookout_q75_444", Subsampling::Full),
    ] {
        encode.bench_function(name, |b| {
            let mut encoder = FrameEncoder::with_subsampling(75, subsampling);
            b.iter(|| encoder.encode(black_box(&image)).expect("encode"));
        });
    }
    encode.finish();

    let mut decode = c.benchmark_group("decode_1080p");
    decode.bench_function("image_to_rgb8", |b| {
        b.iter(|| {
            image::load_from_memory(black_box(&jpeg))
                .expect("decode")
                .to_rgb8()
        });
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

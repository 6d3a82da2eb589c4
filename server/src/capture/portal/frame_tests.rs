use super::*;

/// A recorded 3x2 BGRx buffer as a compositor lays it out: rows padded to
/// a 16-byte stride (4 bytes of padding after each row), after 8 bytes of
/// something else at the chunk's offset. Pixel (x, y) is blue `10*y+x`,
/// green 100, red 200, pad 0xAA.
fn recorded_bgrx() -> (Vec<u8>, BufferLayout) {
    let mut data = vec![0xEE; 8];
    for y in 0..2u8 {
        for x in 0..3u8 {
            data.extend([10 * y + x, 100, 200, 0xAA]);
        }
        data.extend([0xEE; 4]);
    }
    let layout = BufferLayout {
        offset: 8,
        stride: 16,
        width: 3,
        height: 2,
    };
    (data, layout)
}

fn whole(width: u32, height: u32) -> Rect {
    Rect {
        x: 0,
        y: 0,
        width,
        height,
    }
}

#[test]
fn a_padded_bgrx_buffer_becomes_a_tight_bgrx_image_without_its_padding() {
    let (data, layout) = recorded_bgrx();
    let image = copy(&data, layout, SourceFormat::Bgrx, whole(3, 2), None, None).unwrap();
    assert_eq!((image.width, image.height), (3, 2));
    assert_eq!(image.order, PixelOrder::Bgrx);
    assert_eq!(image.pixels.len(), 3 * 2 * 4);
    assert!(!image.pixels.contains(&0xEE), "no padding or offset bytes");
    assert_eq!(&image.pixels[..4], &[0, 100, 200, 0xAA]);
    assert_eq!(&image.pixels[20..24], &[12, 100, 200, 0xAA]);
    // Red is 200 everywhere, in RGBA terms.
    assert!(
        image
            .to_rgba()
            .chunks(4)
            .all(|p| p[0] == 200 && p[3] == 255)
    );
}

#[test]
fn pad_first_formats_read_as_the_same_picture_as_their_reverse() {
    // One pixel red 200, green 100, blue 50 in each layout.
    let cases: [(SourceFormat, [u8; 4]); 8] = [
        (SourceFormat::Bgrx, [50, 100, 200, 0]),
        (SourceFormat::Bgra, [50, 100, 200, 255]),
        (SourceFormat::Rgbx, [200, 100, 50, 0]),
        (SourceFormat::Rgba, [200, 100, 50, 255]),
        (SourceFormat::Xrgb, [0, 200, 100, 50]),
        (SourceFormat::Argb, [255, 200, 100, 50]),
        (SourceFormat::Xbgr, [0, 50, 100, 200]),
        (SourceFormat::Abgr, [255, 50, 100, 200]),
    ];
    let layout = BufferLayout {
        offset: 0,
        stride: 0,
        width: 1,
        height: 1,
    };
    for (format, bytes) in cases {
        let image = copy(&bytes, layout, format, whole(1, 1), None, None).unwrap();
        assert_eq!(&image.to_rgba()[..3], &[200, 100, 50], "{format:?}");
    }
}

#[test]
fn the_crop_region_is_the_picture_and_a_bad_crop_is_ignored() {
    let (data, layout) = recorded_bgrx();
    let crop = visible(Some((1, 1, 2, 1)), 3, 2);
    assert_eq!(
        crop,
        Rect {
            x: 1,
            y: 1,
            width: 2,
            height: 1
        }
    );
    let image = copy(&data, layout, SourceFormat::Bgrx, crop, None, None).unwrap();
    assert_eq!((image.width, image.height), (2, 1));
    assert_eq!(image.pixels, vec![11, 100, 200, 0xAA, 12, 100, 200, 0xAA]);
    // Outside the buffer, negative or empty: the whole buffer.
    assert_eq!(visible(Some((5, 5, 2, 2)), 3, 2), whole(3, 2));
    assert_eq!(visible(Some((-1, 0, 2, 2)), 3, 2), whole(3, 2));
    assert_eq!(visible(Some((0, 0, 0, 2)), 3, 2), whole(3, 2));
    assert_eq!(visible(None, 3, 2), whole(3, 2));
    // Reaching past the edge: cut to it.
    assert_eq!(
        visible(Some((2, 0, 9, 9)), 3, 2),
        Rect {
            x: 2,
            y: 0,
            width: 1,
            height: 2
        }
    );
}

#[test]
fn a_buffer_too_short_or_too_narrow_for_its_size_is_refused_not_read_past() {
    let (data, layout) = recorded_bgrx();
    let short = copy(
        &data[..data.len() - 5],
        layout,
        SourceFormat::Bgrx,
        whole(3, 2),
        None,
        None,
    );
    assert!(matches!(short, Err(FrameError::Short { .. })), "{short:?}");
    let narrow = BufferLayout {
        stride: 8,
        ..layout
    };
    let narrow = copy(&data, narrow, SourceFormat::Bgrx, whole(3, 2), None, None);
    assert!(
        matches!(narrow, Err(FrameError::Stride { .. })),
        "{narrow:?}"
    );
    // The last row needs no padding after it.
    let exact = &data[..8 + 16 + 12];
    assert!(copy(exact, layout, SourceFormat::Bgrx, whole(3, 2), None, None).is_ok());
}

#[test]
fn only_damaged_rows_are_copied_into_the_image_before() {
    let (data, layout) = recorded_bgrx();
    let before = CapturedImage {
        width: 3,
        height: 2,
        pixels: vec![7; 24],
        order: PixelOrder::Bgrx,
    };
    let row1 = [Rect {
        x: 0,
        y: 1,
        width: 1,
        height: 1,
    }];
    let image = copy(
        &data,
        layout,
        SourceFormat::Bgrx,
        whole(3, 2),
        Some(&row1),
        Some(before),
    )
    .unwrap();
    assert_eq!(&image.pixels[..12], &[7; 12], "row 0 kept from before");
    assert_eq!(&image.pixels[12..16], &[10, 100, 200, 0xAA], "row 1 copied");
    // An image of another size is not a canvas: everything is copied.
    let small = CapturedImage::rgba(1, 1, vec![7; 4]);
    let image = copy(
        &data,
        layout,
        SourceFormat::Bgrx,
        whole(3, 2),
        Some(&row1),
        Some(small),
    )
    .unwrap();
    assert_eq!(&image.pixels[..4], &[0, 100, 200, 0xAA]);
}

#[test]
fn damage_is_moved_into_the_crop_and_cut_to_it() {
    let visible = Rect {
        x: 10,
        y: 20,
        width: 100,
        height: 50,
    };
    let hint = damage(
        &[(15, 25, 10, 10), (0, 0, 5, 5), (105, 60, 20, 20)],
        visible,
    );
    assert_eq!(
        hint,
        Some(vec![
            Rect {
                x: 5,
                y: 5,
                width: 10,
                height: 10
            },
            Rect {
                x: 95,
                y: 40,
                width: 5,
                height: 10
            },
        ])
    );
    assert_eq!(damage(&[], visible), None, "no damage sent: unknown");
}

#[test]
fn many_damage_rectangles_become_their_bounding_box() {
    let visible = whole(1000, 1000);
    let many: Vec<_> = (0..40).map(|i| (i * 10, i * 5, 2, 2)).collect();
    let hint = damage(&many, visible).unwrap();
    assert_eq!(
        hint,
        vec![Rect {
            x: 0,
            y: 0,
            width: 392,
            height: 197
        }]
    );
}

#[test]
fn changes_accumulate_between_takes_and_unknown_wins() {
    let a = Rect {
        x: 0,
        y: 0,
        width: 1,
        height: 1,
    };
    let b = Rect {
        x: 5,
        y: 5,
        width: 1,
        height: 1,
    };
    assert_eq!(accumulate(Some(vec![a]), Some(vec![b])), Some(vec![a, b]));
    assert_eq!(accumulate(Some(vec![a]), None), None);
    assert_eq!(accumulate(None, Some(vec![b])), None);
    let many = accumulate(Some(vec![a; MAX_DAMAGE_RECTS]), Some(vec![b])).unwrap();
    assert_eq!(many, vec![a.union(&b)]);
}

#[test]
fn a_corrupted_or_flagged_chunk_a_negative_stride_or_one_past_the_mapping_is_refused() {
    let chunk = Chunk {
        offset: 8,
        size: 32,
        stride: 16,
        flags: 0,
    };
    assert_eq!(chunk_region(chunk, 40), Ok((8..40, 16)));
    let corrupted = Chunk {
        flags: CHUNK_CORRUPTED,
        ..chunk
    };
    assert_eq!(chunk_region(corrupted, 40), Err(FrameError::Flags(1)));
    let empty = Chunk { flags: 2, ..chunk };
    assert!(chunk_region(empty, 40).is_err());
    let upside_down = Chunk {
        stride: -16,
        ..chunk
    };
    assert_eq!(
        chunk_region(upside_down, 40),
        Err(FrameError::NegativeStride)
    );
    assert!(matches!(
        chunk_region(chunk, 39),
        Err(FrameError::Short {
            needed: 40,
            got: 39
        })
    ));
    let wrapping = Chunk {
        offset: u32::MAX,
        size: u32::MAX,
        ..chunk
    };
    assert!(chunk_region(wrapping, 1 << 20).is_err());
}

#[test]
fn a_picture_made_in_a_spare_image_from_an_older_one_gets_the_rows_changed_since() {
    // The spare holds the picture of two frames ago; each frame since
    // changed one row: both rows are copied, the rest is kept.
    let (data, layout) = recorded_bgrx();
    let older = CapturedImage {
        width: 3,
        height: 2,
        pixels: vec![7; 24],
        order: PixelOrder::Bgrx,
    };
    let row = |y| Rect {
        x: 0,
        y,
        width: 3,
        height: 1,
    };
    let rows = accumulate(Some(vec![row(0)]), Some(vec![row(1)]));
    let image = copy(
        &data,
        layout,
        SourceFormat::Bgrx,
        whole(3, 2),
        rows.as_deref(),
        Some(older),
    )
    .unwrap();
    assert_eq!(&image.pixels[0..4], &[0, 100, 200, 0xAA]);
    assert_eq!(&image.pixels[12..16], &[10, 100, 200, 0xAA]);
}

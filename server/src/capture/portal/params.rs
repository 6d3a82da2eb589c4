//! What the capturer asks PipeWire for, as SPA pods: raw video in the
//! 4-byte formats [`super::frame`] reads, buffers in memory it can map
//! (not DMA-BUF), and the crop and damage metadata. Public (as
//! `capture::pipewire_params`) for the test harness's video source, which
//! builds its format with the same pieces.

use pipewire as pw;
use pw::spa;
use spa::param::video::VideoFormat;
use spa::pod::{ChoiceValue, Object, Property, PropertyFlags, Value};
use spa::utils::{Choice, ChoiceEnum, ChoiceFlags, Id};

use super::frame::SourceFormat;

pub(super) fn source_format(format: VideoFormat) -> Option<SourceFormat> {
    Some(match format {
        VideoFormat::BGRx => SourceFormat::Bgrx,
        VideoFormat::BGRA => SourceFormat::Bgra,
        VideoFormat::RGBx => SourceFormat::Rgbx,
        VideoFormat::RGBA => SourceFormat::Rgba,
        VideoFormat::xRGB => SourceFormat::Xrgb,
        VideoFormat::ARGB => SourceFormat::Argb,
        VideoFormat::xBGR => SourceFormat::Xbgr,
        VideoFormat::ABGR => SourceFormat::Abgr,
        _ => return None,
    })
}

/// A property without flags.
pub fn prop(key: u32, value: Value) -> Property {
    Property {
        key,
        flags: PropertyFlags::empty(),
        value,
    }
}

/// Raw video in the 4-byte formats [`frame`] reads, any size and rate.
pub(super) fn enum_format() -> Object {
    let formats = [
        VideoFormat::BGRx,
        VideoFormat::BGRA,
        VideoFormat::RGBx,
        VideoFormat::RGBA,
        VideoFormat::xRGB,
        VideoFormat::ARGB,
        VideoFormat::xBGR,
        VideoFormat::ABGR,
    ]
    .map(|f| Id(f.as_raw()));
    let choice = |default, alternatives: Vec<Id>| {
        Value::Choice(ChoiceValue::Id(Choice(
            ChoiceFlags::empty(),
            ChoiceEnum::Enum {
                default,
                alternatives,
            },
        )))
    };
    raw_video(choice(formats[0], formats.to_vec()), Vec::new())
}

/// A raw video `EnumFormat` of `format` (a pixel format, or a choice of
/// them), with `more` properties (size, rate...).
pub fn raw_video(format: Value, more: Vec<Property>) -> Object {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    let mut properties = vec![
        prop(
            FormatProperties::MediaType.as_raw(),
            Value::Id(Id(MediaType::Video.as_raw())),
        ),
        prop(
            FormatProperties::MediaSubtype.as_raw(),
            Value::Id(Id(MediaSubtype::Raw.as_raw())),
        ),
        prop(FormatProperties::VideoFormat.as_raw(), format),
    ];
    properties.extend(more);
    Object {
        type_: spa::utils::SpaTypes::ObjectParamFormat.as_raw(),
        id: spa::param::ParamType::EnumFormat.as_raw(),
        properties,
    }
}

/// Buffers we can map: plain memory or memfd, not DMA-BUF.
pub(super) fn buffers() -> Object {
    let types = (1 << spa::sys::SPA_DATA_MemPtr) | (1 << spa::sys::SPA_DATA_MemFd);
    Object {
        type_: spa::utils::SpaTypes::ObjectParamBuffers.as_raw(),
        id: spa::param::ParamType::Buffers.as_raw(),
        properties: vec![prop(
            spa::sys::SPA_PARAM_BUFFERS_dataType,
            Value::Choice(ChoiceValue::Int(Choice(
                ChoiceFlags::empty(),
                ChoiceEnum::Flags {
                    default: types,
                    flags: vec![types],
                },
            ))),
        )],
    }
}

/// Metadata of `kind`, room for up to `regions` regions.
pub(super) fn meta(kind: u32, regions: i32) -> Object {
    let size = std::mem::size_of::<spa::sys::spa_meta_region>() as i32;
    Object {
        type_: spa::utils::SpaTypes::ObjectParamMeta.as_raw(),
        id: spa::param::ParamType::Meta.as_raw(),
        properties: vec![
            prop(spa::sys::SPA_PARAM_META_type, Value::Id(Id(kind))),
            prop(
                spa::sys::SPA_PARAM_META_size,
                Value::Choice(ChoiceValue::Int(Choice(
                    ChoiceFlags::empty(),
                    ChoiceEnum::Range {
                        default: size * regions,
                        min: size,
                        max: size * regions,
                    },
                ))),
            ),
        ],
    }
}

/// `object` as the bytes of a pod.
pub fn serialize(object: Object) -> Result<Vec<u8>, pw::Error> {
    spa::pod::serialize::PodSerializer::serialize(
        std::io::Cursor::new(Vec::new()),
        &Value::Object(object),
    )
    .map(|(cursor, _)| cursor.into_inner())
    .map_err(|_| pw::Error::CreationFailed)
}

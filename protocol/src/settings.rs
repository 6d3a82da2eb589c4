//! Per-viewer stream settings (feature `profiles`): the optional fields of
//! `start_monitor`, and the ranges a server holds them to.
//!
//! ```text
//! {"type":"start_monitor","max_width":1280,"max_height":720,"fps":15,"quality":60,"regions":true}
//! ```
//!
//! Every field is optional; an absent one is the server's default, and
//! `{"type":"start_monitor"}` reads as [`StreamSettings::default`].
//!
//! A value outside its range is not a broken message but a request the
//! server refuses: the contract answers it with `bad_request` and keeps the
//! connection and the settings it had. So decoding accepts any JSON number
//! (the stream must not end over it), and [`StreamSettings::check`] is the
//! range rule. A number that is not a `u32` integer (negative, fractional,
//! past `u32::MAX`) decodes as a value below or above every range, so
//! `check` refuses it like any other out-of-range value; a value of another
//! JSON kind (a string, an object) is a malformed message.

use std::ops::RangeInclusive;

use serde::{Deserialize, Deserializer, Serialize};

/// `max_width` and `max_height`, in pixels.
pub const STREAM_SIZE_RANGE: RangeInclusive<u32> = 16..=16384;

/// `fps`, frames a second.
pub const STREAM_FPS_RANGE: RangeInclusive<u32> = 1..=120;

/// `quality`, the JPEG quality ceiling (and the range of `frame.quality`).
pub const STREAM_QUALITY_RANGE: RangeInclusive<u32> = 1..=100;

/// What one viewer asks of its stream: the optional fields of
/// `start_monitor`, each absent by default.
///
/// Any JSON number decodes (one that is not a `u32` integer as a value
/// outside every range), so that a value out of range does not end the
/// stream: [`check`](Self::check) is the range rule, and a server answers
/// its error with `bad_request`. A value of another JSON kind is a malformed
/// message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSettings {
    /// Scale the image down (aspect kept) to at most this wide; never up.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "setting"
    )]
    pub max_width: Option<u32>,
    /// Scale the image down (aspect kept) to at most this high; never up.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "setting"
    )]
    pub max_height: Option<u32>,
    /// At most this many frames a second to this viewer.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "setting"
    )]
    pub fps: Option<u32>,
    /// JPEG quality ceiling for this viewer.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "setting"
    )]
    pub quality: Option<u32>,
    /// Whether the viewer accepts region updates. Absent means `false`, and
    /// `false` is not sent.
    #[serde(default, skip_serializing_if = "is_false")]
    pub regions: bool,
}

/// A stream setting outside its range: the server answers `bad_request`
/// and keeps the settings it had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be an integer in {}..={}", range.start(), range.end())]
pub struct SettingOutOfRange {
    /// The field's name on the wire (`fps`, `max_width`, ...).
    pub field: &'static str,
    /// The values it may take.
    pub range: RangeInclusive<u32>,
}

impl StreamSettings {
    /// No field set: the server's defaults for everything.
    pub const DEFAULT: Self = Self {
        max_width: None,
        max_height: None,
        fps: None,
        quality: None,
        regions: false,
    };

    /// Checks every present field against its range, in wire order, and
    /// names the first one outside it.
    pub fn check(&self) -> Result<(), SettingOutOfRange> {
        let fields = [
            ("max_width", self.max_width, STREAM_SIZE_RANGE),
            ("max_height", self.max_height, STREAM_SIZE_RANGE),
            ("fps", self.fps, STREAM_FPS_RANGE),
            ("quality", self.quality, STREAM_QUALITY_RANGE),
        ];
        for (field, value, range) in fields {
            if let Some(value) = value
                && !range.contains(&value)
            {
                return Err(SettingOutOfRange { field, range });
            }
        }
        Ok(())
    }
}

/// Serde's `skip_serializing_if` for [`StreamSettings::regions`].
fn is_false(value: &bool) -> bool {
    !*value
}

/// Reads any JSON number (or `null`, as absent) as a setting; see the
/// [module](self) docs for what a non-`u32` number becomes.
fn setting<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let value = Option::<serde_json::Number>::deserialize(deserializer)?;
    Ok(
        value.map(|number| match (number.as_u64(), number.as_i64()) {
            (Some(n), _) => u32::try_from(n).unwrap_or(u32::MAX),
            // Negative: below every range.
            (None, Some(_)) => 0,
            // Not an integer: no range holds it either.
            (None, None) => 0,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> StreamSettings {
        serde_json::from_str(json).unwrap()
    }

    fn refused(s: StreamSettings) -> Option<&'static str> {
        s.check().err().map(|e| e.field)
    }

    #[test]
    fn every_range_is_checked_at_both_ends() {
        let size = |v| StreamSettings {
            max_width: Some(v),
            ..StreamSettings::default()
        };
        let height = |v| StreamSettings {
            max_height: Some(v),
            ..StreamSettings::default()
        };
        let fps = |v| StreamSettings {
            fps: Some(v),
            ..StreamSettings::default()
        };
        let quality = |v| StreamSettings {
            quality: Some(v),
            ..StreamSettings::default()
        };
        for (make, field, low, high) in [
            (
                &size as &dyn Fn(u32) -> StreamSettings,
                "max_width",
                16,
                16384,
            ),
            (&height, "max_height", 16, 16384),
            (&fps, "fps", 1, 120),
            (&quality, "quality", 1, 100),
        ] {
            assert_eq!(refused(make(low - 1)), Some(field), "{field} {}", low - 1);
            assert_eq!(refused(make(low)), None, "{field} {low}");
            assert_eq!(refused(make(high)), None, "{field} {high}");
            assert_eq!(refused(make(high + 1)), Some(field), "{field} {}", high + 1);
            assert_eq!(refused(make(0)), Some(field), "{field} 0");
            assert_eq!(refused(make(u32::MAX)), Some(field), "{field} max");
        }
        assert_eq!(StreamSettings::default().check(), Ok(()));
    }

    #[test]
    fn the_refusal_names_the_field_and_its_range() {
        let err = settings(r#"{"fps":0}"#).check().unwrap_err();
        assert_eq!(err.to_string(), "fps must be an integer in 1..=120");
        let err = settings(r#"{"max_height":16385}"#).check().unwrap_err();
        assert_eq!(
            err.to_string(),
            "max_height must be an integer in 16..=16384"
        );
    }

    #[test]
    fn numbers_no_u32_holds_decode_as_out_of_range_not_as_errors() {
        for json in [
            r#"{"fps":-1}"#,
            // Wraps to 1 in a careless cast.
            r#"{"fps":-4294967295}"#,
            // Rounds to 30 in a careless cast.
            r#"{"fps":30.4}"#,
            r#"{"fps":1.5}"#,
            r#"{"fps":30.0}"#,
            r#"{"fps":4294967296}"#,
            r#"{"fps":1e300}"#,
            r#"{"fps":-9223372036854775808}"#,
            r#"{"fps":18446744073709551616}"#,
        ] {
            assert_eq!(refused(settings(json)), Some("fps"), "{json}");
        }
    }

    #[test]
    fn null_reads_as_absent() {
        assert_eq!(settings(r#"{"fps":null}"#), StreamSettings::default());
    }

    #[test]
    fn a_value_of_another_kind_is_malformed() {
        for json in [r#"{"fps":"30"}"#, r#"{"fps":[30]}"#, r#"{"regions":1}"#] {
            assert!(
                serde_json::from_str::<StreamSettings>(json).is_err(),
                "{json}"
            );
        }
    }
}

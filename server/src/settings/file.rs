//! One config file: read, parsed as [`Options`] (so an unknown key or a
//! value of the wrong type is an error at its `FILE:LINE`), its token
//! checked to be private, its relative token-file paths made absolute.

use std::path::Path;

use super::{Options, SettingsError, private, table_of};

/// A config file's keys, and its text for finding their lines.
pub(super) struct Layer {
    /// The keys it sets, as values.
    pub(super) table: toml::Table,
    /// As written.
    pub(super) text: String,
}

/// Reads `path`; a missing file is `None` unless `required`.
pub(super) fn read(path: &Path, required: bool) -> Result<Option<Layer>, SettingsError> {
    let text = match std::fs::read_to_string(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(source) => {
            return Err(SettingsError::Io {
                path: path.to_owned(),
                source,
            });
        }
        Ok(text) => text,
    };
    let mut options: Options = toml::from_str(&text).map_err(|err| SettingsError::Invalid {
        path: path.to_owned(),
        line: err.span().map_or(1, |span| line_at(&text, span.start)),
        message: err.message().trim_end().to_owned(),
    })?;
    if options.token.is_some() || options.view_token.is_some() {
        private::check_owner_only(path)?;
    }
    // A token file is found beside the config file that names it, wherever
    // the agent was started.
    let base = path.parent().unwrap_or(Path::new("."));
    for file in [&mut options.token_file, &mut options.view_token_file] {
        if let Some(file) = file.as_mut().filter(|f| f.is_relative()) {
            *file = base.join(&*file);
        }
    }
    Ok(Some(Layer {
        table: table_of(&options),
        text,
    }))
}

/// The 1-based line holding byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line where top-level `key` is set (`key = ...`), for `--print-config`.
pub(super) fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|index| index + 1)
}

//! `--print-config`: the effective settings as a config file would say
//! them, each with where it came from; tokens never shown.

use std::fmt::Write;

use super::{Options, Origin, Resolved, all_keys, table_of};

/// Keys whose values are never printed.
const SECRET_KEYS: [&str; 2] = ["token", "view_token"];

/// What an unset key without a plain default means.
fn unset_meaning(key: &str) -> &'static str {
    match key {
        "name" => "the host name",
        "token" => "generated at start",
        "identity" => "~/.config/lookout-server/identity",
        "monitor" => "the primary monitor",
        "control_socket" => "$XDG_RUNTIME_DIR/lookout-server/control.sock",
        "exit_on_display_loss" => "wait for the display to come back",
        "timeouts" => "the protocol's: handshake=10s,silence=15s,write=10s,auth-block=10s",
        _ => "none",
    }
}

/// The effective settings, one `key = value  # origin` line per key (valid
/// TOML: unset keys are comments).
pub fn render(resolved: &Resolved) -> String {
    let set = table_of(&resolved.options);
    let defaults = table_of(&Options::defaults());
    let mut out = String::new();
    for key in all_keys() {
        let origin = resolved.origin(&key);
        let value = set.get(&key).or(defaults.get(&key));
        let line = match value {
            Some(_) if SECRET_KEYS.contains(&key.as_str()) => {
                format!("{key} = \"<redacted>\"")
            }
            Some(value) => format!("{key} = {value}"),
            None => format!("# {key} = ({})", unset_meaning(&key)),
        };
        let _ = match origin {
            Origin::Default => writeln!(out, "{line:<40} # default"),
            origin => writeln!(out, "{line:<40} # {origin}"),
        };
    }
    out
}

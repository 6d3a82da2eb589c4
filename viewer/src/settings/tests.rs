use std::os::unix::fs::PermissionsExt;

use clap::{CommandFactory, FromArgMatches};

use super::*;
use crate::trust::Trust;

const TOKEN: &str = "the-lab-token-0123456789";
const PIN: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A private temporary directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "lookout-viewer-settings-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The viewer's arguments with the file at `config` applied.
fn run(config: &Path, argv: &[&str]) -> Result<Args, SettingsError> {
    let argv = ["lookout-viewer"].iter().chain(argv).copied();
    let matches = Args::command().try_get_matches_from(argv).unwrap();
    let mut args = Args::from_arg_matches(&matches).unwrap();
    let file = ViewerFile::read(config, true)?;
    file.apply(&mut args, &matches)?;
    Ok(args)
}

#[test]
fn a_named_host_brings_its_address_token_file_and_pin() {
    let dir = Dir::new();
    dir.write("lab-3.token", &format!("{TOKEN}\n"), 0o600);
    let config = dir.write(
        "config.toml",
        &format!(
            "timeout = 20\nmonitor = \"all\"\n\n[hosts.lab-3]\naddress = \"10.0.0.13:7000\"\n\
             token_file = \"lab-3.token\"\nfingerprint = \"{PIN}\"\nmonitor = \"left\"\n"
        ),
        0o644,
    );
    let config = run(&config, &["lab-3"]).unwrap().into_config().unwrap();
    assert_eq!(
        (config.target.host.as_str(), config.target.port),
        ("10.0.0.13", 7000)
    );
    assert_eq!(config.token, Some(Token::new(TOKEN)));
    assert_eq!(config.trust, Trust::Pinned(PIN.parse().unwrap()));
    assert_eq!(config.monitor, Some(MonitorChoice::Name("left".into())));
    assert_eq!(
        config.timeouts.handshake,
        std::time::Duration::from_secs(20)
    );
}

#[test]
fn flags_beat_the_host_entry_which_beats_the_top_level() {
    let dir = Dir::new();
    let config = dir.write(
        "config.toml",
        "timeout = 20\nmax_image_mb = 8\nmonitor = \"all\"\n[hosts.lab]\naddress = \"h\"\ntimeout = 30\n",
        0o644,
    );
    let args = run(&config, &["lab", "--monitor", "2"]).unwrap();
    assert_eq!((args.timeout, args.max_image_mb), (30, 8));
    assert_eq!(args.monitor, Some(MonitorChoice::Id(2)));
    // Another target gets the top level only.
    let args = run(&config, &["elsewhere"]).unwrap();
    assert_eq!(
        (args.target.as_deref(), args.timeout),
        (Some("elsewhere"), 20)
    );
    let args = run(&config, &["lab", "--timeout", "5"]).unwrap();
    assert_eq!(args.timeout, 5);
}

#[test]
fn unknown_keys_and_misplaced_ones_name_the_file_and_line() {
    let dir = Dir::new();
    for (text, line, what) in [
        ("timeout = 20\nspeed = 1\n", 2, "speed"),
        ("[hosts.a]\naddress = \"h\"\nadress = \"x\"\n", 3, "adress"),
        ("timeout = \"soon\"\n", 1, "u64"),
        ("fingerprint = \"sha1:00\"\n", 1, ""),
        ("\naddress = \"h\"\n", 2, "hosts.NAME"),
        ("x = 1\n\n[hosts.b]\nmonitor = \"all\"\n", 1, "x"),
        ("\n\n[hosts.b]\nmonitor = \"all\"\n", 3, "needs an address"),
    ] {
        let config = dir.write("config.toml", text, 0o644);
        let message = run(&config, &["h"]).unwrap_err().to_string();
        let want = format!("{}:{line}: ", config.display());
        assert!(
            message.starts_with(&want) && message.contains(what),
            "{text:?}: {message}"
        );
    }
}

#[test]
fn a_token_only_comes_from_files_no_one_else_can_read() {
    let dir = Dir::new();
    let text = format!("[hosts.a]\naddress = \"h\"\ntoken = \"{TOKEN}\"\n");
    let config = dir.write("config.toml", &text, 0o644);
    let message = run(&config, &["a"]).unwrap_err().to_string();
    assert!(
        message.contains(&format!("chmod 600 {}", config.display())),
        "{message}"
    );
    let config = dir.write("config.toml", &text, 0o600);
    assert_eq!(run(&config, &["a"]).unwrap().token, Some(Token::new(TOKEN)));
    let token = dir.write("t", TOKEN, 0o640);
    let config = dir.write("config.toml", "token_file = \"t\"\n", 0o644);
    let message = run(&config, &["a"]).unwrap_err().to_string();
    assert!(
        message.contains(&format!("chmod 600 {}", token.display())),
        "{message}"
    );
}

#[test]
fn values_out_of_range_in_the_file_are_refused() {
    let dir = Dir::new();
    let config = dir.write("config.toml", "timeout = 0\n", 0o644);
    let err = run(&config, &["h"]).unwrap().into_config().unwrap_err();
    assert!(
        err.to_string().contains("timeout must be 1 to 3600"),
        "{err}"
    );
    let config = dir.write("config.toml", "max_image_mb = 100000\n", 0o644);
    assert!(run(&config, &["h"]).unwrap().into_config().is_err());
}

#[test]
fn the_packaged_example_config_is_read_without_error() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/viewer.toml");
    let file = ViewerFile::read(&example, true).unwrap();
    assert_eq!(file.defaults.timeout, Some(10));
    // Uncommented, its host entry is valid too.
    let dir = Dir::new();
    let text = std::fs::read_to_string(&example).unwrap();
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|l| l.starts_with('[') || l.contains(" = "))
                .unwrap_or(l)
        })
        .map(|l| format!("{}\n", l.replace("sha256:...", PIN)))
        .collect();
    let config = dir.write("config.toml", &uncommented, 0o644);
    dir.write("lab.token", TOKEN, 0o600);
    let args = run(&config, &["lab-3"]).unwrap();
    assert_eq!(args.target.as_deref(), Some("10.0.0.13:6868"));
    assert_eq!(args.token, Some(Token::new(TOKEN)));
}

#[test]
fn stream_settings_come_from_the_host_entry_the_top_level_or_the_flags() {
    use crate::stream::{MaxSize, StreamAsk};
    let dir = Dir::new();
    let config = dir.write(
        "config.toml",
        "fps = 10\nquality = 60\nmax_size = \"1280x720\"\n\
         [hosts.thumb]\naddress = \"h\"\nfps = 2\nmax_size = \"320x180\"\n",
        0o644,
    );
    let ask = |argv: &[&str]| run(&config, argv).unwrap().into_config().unwrap().stream;
    let size = |width, height| Some(MaxSize { width, height });
    assert_eq!(
        ask(&["thumb"]),
        StreamAsk {
            fps: Some(2),
            quality: Some(60),
            max_size: size(320, 180),
        }
    );
    assert_eq!(
        ask(&["other", "--fps", "30", "--max-size", "640x480"]),
        StreamAsk {
            fps: Some(30),
            quality: Some(60),
            max_size: size(640, 480),
        }
    );
    for (text, what) in [
        ("fps = 0\n", "fps must be 1 to 120"),
        ("fps = 121\n", "fps must be 1 to 120"),
        ("quality = 101\n", "quality must be 1 to 100"),
        ("quality = 99999999999\n", "quality must be 1 to 100"),
    ] {
        let config = dir.write("config.toml", text, 0o644);
        let err = run(&config, &["h"]).unwrap().into_config().unwrap_err();
        assert!(err.to_string().contains(what), "{text:?}: {err}");
    }
    let config = dir.write("config.toml", "\nmax_size = \"8x8\"\n", 0o644);
    let message = run(&config, &["h"]).unwrap_err().to_string();
    assert!(
        message.contains(":2: ") && message.contains("WIDTHxHEIGHT"),
        "{message}"
    );
}

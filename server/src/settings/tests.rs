use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use lookout_tests::process::TempDir;

use super::*;

const TOKEN: &str = "a-token-of-twenty-chars";

fn write(path: &Path, text: &str, mode: u32) -> PathBuf {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_owned()
}

/// The standard places inside `dir`: `dir/etc/server.toml`, `dir/user/config.toml`.
fn places(dir: &TempDir) -> (Locations, PathBuf, PathBuf) {
    let (etc, user) = (dir.path().join("etc"), dir.path().join("user"));
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&user).unwrap();
    let (system, user) = (etc.join(SYSTEM_FILE), user.join(USER_FILE));
    let locations = Locations::Standard {
        system: system.clone(),
        user: Some(user.clone()),
    };
    (locations, system, user)
}

fn flags(args: &[&str]) -> Flags {
    use clap::Parser;
    let args = crate::cli::Args::try_parse_from(
        std::iter::once("lookout-server").chain(args.iter().copied()),
    )
    .unwrap();
    Flags::from_options(args.options)
}

fn err(result: Result<Resolved, SettingsError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn flags_beat_the_user_file_which_beats_the_system_file_which_beats_defaults() {
    let dir = TempDir::new("settings");
    let (locations, system, user) = places(&dir);
    write(
        &system,
        "fps = 10\nquality = 50\nname = \"machine\"\n",
        0o644,
    );
    write(&user, "# mine\n\nquality = 60\nname = \"mine\"\n", 0o644);
    let resolved = load(&locations, &flags(&["--name", "flag"])).unwrap();
    let o = &resolved.options;
    assert_eq!(
        (o.fps, o.quality, o.name.as_deref()),
        (Some(10), Some(60), Some("flag"))
    );
    assert_eq!(
        resolved.origin("fps"),
        Origin::File {
            path: system,
            line: Some(1)
        }
    );
    assert_eq!(
        resolved.origin("quality"),
        Origin::File {
            path: user,
            line: Some(3)
        }
    );
    assert_eq!(resolved.origin("name"), Origin::Flag("--name".into()));
    assert_eq!(resolved.origin("bind"), Origin::Default);
    let config = resolved.options.into_config().unwrap();
    assert_eq!((config.capture.fps, config.capture.quality), (10, 60));
    assert_eq!(config.name, "flag");
    assert_eq!(config.bind.port(), 6868);
}

#[test]
fn missing_standard_files_are_fine_but_a_missing_config_file_is_not() {
    let dir = TempDir::new("settings");
    let (locations, _, _) = places(&dir);
    assert!(load(&locations, &Flags::default()).is_ok());
    let missing = dir.path().join("nope.toml");
    let message = err(load(&Locations::Only(missing.clone()), &Flags::default()));
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
}

#[test]
fn config_file_replaces_the_standard_files() {
    let dir = TempDir::new("settings");
    let (_, system, _) = places(&dir);
    write(&system, "fps = 10\n", 0o644);
    let chosen = write(&dir.path().join("chosen.toml"), "quality = 20\n", 0o644);
    let resolved = load(&Locations::Only(chosen), &Flags::default()).unwrap();
    assert_eq!(
        (resolved.options.fps, resolved.options.quality),
        (None, Some(20))
    );
}

#[test]
fn an_unknown_key_is_an_error_naming_the_file_and_line() {
    let dir = TempDir::new("settings");
    let (locations, _, user) = places(&dir);
    write(&user, "fps = 10\n\nframes_per_second = 5\n", 0o644);
    let message = err(load(&locations, &Flags::default()));
    assert!(
        message.starts_with(&format!("{}:3: ", user.display())),
        "{message}"
    );
    assert!(message.contains("frames_per_second"), "{message}");
}

#[test]
fn a_value_of_the_wrong_type_or_range_is_an_error_naming_the_file_and_line() {
    let dir = TempDir::new("settings");
    let (locations, system, _) = places(&dir);
    for (text, line) in [
        ("name = \"x\"\nfps = \"fast\"\n", 2),
        ("bind = \"nowhere\"\n", 1),
        ("\n\n\nsubsampling = \"422\"\n", 4),
        ("pattern_size = \"10x10\"\n", 1),
        ("timeouts = \"silence=zero\"\n", 1),
        ("max_viewers = 0\n", 1),
        ("fps = 10\nfps = 11\n", 2),
        ("not toml at all", 1),
    ] {
        write(&system, text, 0o644);
        let message = err(load(&locations, &Flags::default()));
        let want = format!("{}:{line}: ", system.display());
        assert!(message.starts_with(&want), "{text:?}: {message}");
    }
}

#[test]
fn rules_about_values_hold_for_files_as_for_flags() {
    let dir = TempDir::new("settings");
    let chosen = write(&dir.path().join("c.toml"), "no_auth = true\n", 0o644);
    let resolved = load(&Locations::Only(chosen.clone()), &Flags::default()).unwrap();
    let message = resolved.options.into_config().unwrap_err().to_string();
    assert!(message.contains("loopback"), "{message}");
    write(&chosen, "fps = 500\n", 0o644);
    let resolved = load(&Locations::Only(chosen.clone()), &Flags::default()).unwrap();
    let message = resolved.options.into_config().unwrap_err().to_string();
    assert!(message.contains("1 to 240"), "{message}");
    write(&chosen, "quality = 0\n", 0o644);
    let resolved = load(&Locations::Only(chosen.clone()), &Flags::default()).unwrap();
    let message = resolved.options.into_config().unwrap_err().to_string();
    assert!(message.contains("1 to 100"), "{message}");
}

#[test]
fn a_token_in_a_file_others_can_read_is_refused_with_the_chmod_to_run() {
    let dir = TempDir::new("settings");
    let (locations, _, user) = places(&dir);
    write(&user, &format!("token = \"{TOKEN}\"\n"), 0o644);
    let message = err(load(&locations, &Flags::default()));
    assert!(
        message.contains(&format!("chmod 600 {}", user.display())),
        "{message}"
    );
    assert!(message.contains("0644"), "{message}");
    write(&user, &format!("token = \"{TOKEN}\"\n"), 0o600);
    let resolved = load(&locations, &Flags::default()).unwrap();
    assert_eq!(resolved.options.token.unwrap().expose(), TOKEN);
    write(&user, &format!("view_token = \"{TOKEN}\"\n"), 0o640);
    assert!(err(load(&locations, &Flags::default())).contains("chmod 600"));
}

#[test]
fn a_token_file_is_read_beside_its_config_and_must_be_owner_only() {
    let dir = TempDir::new("settings");
    let (locations, _, user) = places(&dir);
    // Readable config: it holds only the token file's (relative) path.
    write(&user, "token_file = \"token\"\n", 0o644);
    let token = write(
        &user.with_file_name("token"),
        &format!("{TOKEN}\nignored\n"),
        0o600,
    );
    let resolved = load(&locations, &Flags::default()).unwrap();
    assert_eq!(resolved.options.token.as_ref().unwrap().expose(), TOKEN);
    assert_eq!(
        resolved.options.token_file.as_deref(),
        Some(token.as_path())
    );
    assert!(matches!(resolved.origin("token"), Origin::File { .. }));
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let message = err(load(&locations, &Flags::default()));
    assert!(
        message.contains(&format!("chmod 600 {}", token.display())),
        "{message}"
    );
    write(&token, "\n", 0o600);
    assert!(err(load(&locations, &Flags::default())).contains("empty"));
}

#[test]
fn a_token_and_a_token_file_at_one_level_conflict_but_a_flag_overrides_a_file() {
    let dir = TempDir::new("settings");
    let (locations, _, user) = places(&dir);
    let token = write(&dir.path().join("t"), TOKEN, 0o600);
    write(
        &user,
        &format!(
            "token = \"{TOKEN}\"\ntoken_file = \"{}\"\n",
            token.display()
        ),
        0o600,
    );
    assert!(err(load(&locations, &Flags::default())).contains("keep one"));
    write(
        &user,
        &format!("token_file = \"{}\"\n", token.display()),
        0o600,
    );
    let from_flag = "another-token-from-a-flag";
    let resolved = load(&locations, &flags(&["--token", from_flag])).unwrap();
    assert_eq!(resolved.options.token.as_ref().unwrap().expose(), from_flag);
    assert_eq!(resolved.origin("token"), Origin::Flag("--token".into()));
}

#[test]
fn a_flag_turns_off_what_a_file_turned_on() {
    let dir = TempDir::new("settings");
    let chosen = write(&dir.path().join("c.toml"), "view_only = true\n", 0o644);
    let on = load(&Locations::Only(chosen.clone()), &Flags::default()).unwrap();
    assert!(!on.options.into_config().unwrap().control);
    let off = load(&Locations::Only(chosen), &flags(&["--view-only=false"])).unwrap();
    assert!(off.options.into_config().unwrap().control);
}

#[test]
fn print_config_shows_every_key_with_its_origin_and_never_a_token() {
    let dir = TempDir::new("settings");
    let (locations, _, user) = places(&dir);
    write(&user, &format!("fps = 12\ntoken = \"{TOKEN}\"\n"), 0o600);
    let resolved = load(&locations, &flags(&["--quality", "90"])).unwrap();
    let shown = render(&resolved);
    assert!(!shown.contains(TOKEN), "{shown}");
    let line = |key: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")) || l.starts_with(&format!("# {key} =")))
            .unwrap_or_else(|| panic!("no {key} in\n{shown}"))
            .to_owned()
    };
    assert!(
        line("fps").ends_with(&format!("# {} line 1", user.display())),
        "{shown}"
    );
    assert!(
        line("token").starts_with("token = \"<redacted>\""),
        "{shown}"
    );
    assert!(line("quality").ends_with("# --quality"), "{shown}");
    assert!(
        line("bind").starts_with("bind = \"0.0.0.0:6868\""),
        "{shown}"
    );
    assert!(line("bind").ends_with("# default"), "{shown}");
    assert!(line("monitor").starts_with("# monitor ="), "{shown}");
    for key in all_keys() {
        line(&key);
    }
    // What it prints is a config file the agent reads back.
    let again = write(&dir.path().join("again.toml"), &shown, 0o600);
    let reread = load(&Locations::Only(again), &Flags::default()).unwrap();
    assert_eq!(reread.options.fps, Some(12));
    assert_eq!(reread.options.bind, Some("0.0.0.0:6868".parse().unwrap()));
}

#[test]
fn the_packaged_example_config_is_read_without_error_and_sets_what_it_says() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/server.toml");
    let resolved = load(&Locations::Only(example.clone()), &Flags::default()).unwrap();
    assert_eq!(resolved.options.max_viewers.map(|n| n.get()), Some(16));
    assert!(matches!(
        resolved.origin("fps"),
        Origin::File { line: Some(_), .. }
    ));
    // No token in a file anyone may read, and the result starts.
    assert!(resolved.options.token.is_none());
    resolved.options.into_config().unwrap();
}

#[test]
fn no_discovery_is_a_flag_and_discovery_false_a_config_key_shown_in_print_config() {
    let dir = TempDir::new("settings");
    let on = load(&Locations::None, &Flags::default()).unwrap();
    assert!(on.options.clone().into_config().unwrap().discovery);
    assert!(render(&on).contains("discovery = true"), "{}", render(&on));
    let flag = load(&Locations::None, &flags(&["--no-discovery"])).unwrap();
    assert!(!flag.options.clone().into_config().unwrap().discovery);
    let shown = render(&flag);
    let line = shown
        .lines()
        .find(|l| l.starts_with("discovery ="))
        .unwrap();
    assert!(
        line.starts_with("discovery = false") && line.ends_with("# --no-discovery"),
        "{shown}"
    );
    let file = write(&dir.path().join("c.toml"), "discovery = false\n", 0o644);
    let off = load(&Locations::Only(file), &Flags::default()).unwrap();
    assert!(!off.options.into_config().unwrap().discovery);
}

#[test]
fn control_socket_is_a_flag_and_a_config_key() {
    let dir = TempDir::new("settings");
    let unset = load(&Locations::None, &Flags::default()).unwrap();
    assert_eq!(unset.options.control_socket, None);
    let file = write(
        &dir.path().join("c.toml"),
        "control_socket = \"/run/x.sock\"\n",
        0o644,
    );
    let from_file = load(&Locations::Only(file.clone()), &Flags::default()).unwrap();
    assert_eq!(
        from_file.options.control_socket.as_deref(),
        Some(Path::new("/run/x.sock"))
    );
    let flag = load(
        &Locations::Only(file),
        &flags(&["--control-socket", "/tmp/y.sock"]),
    )
    .unwrap();
    assert_eq!(
        flag.options.control_socket.as_deref(),
        Some(Path::new("/tmp/y.sock"))
    );
}

#[test]
fn no_web_is_a_flag_and_web_false_a_config_key_shown_in_print_config() {
    let dir = TempDir::new("settings");
    let on = load(&Locations::None, &Flags::default()).unwrap();
    assert!(on.options.clone().into_config().unwrap().web);
    let flag = load(&Locations::None, &flags(&["--no-web"])).unwrap();
    assert!(!flag.options.clone().into_config().unwrap().web);
    let shown = render(&flag);
    let line = shown.lines().find(|l| l.starts_with("web =")).unwrap();
    assert!(
        line.starts_with("web = false") && line.ends_with("# --no-web"),
        "{shown}"
    );
    let file = write(&dir.path().join("c.toml"), "web = false\n", 0o644);
    let off = load(&Locations::Only(file), &Flags::default()).unwrap();
    assert!(!off.options.into_config().unwrap().web);
}

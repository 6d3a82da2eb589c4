//! The agent binary as it is deployed: settings from config files (merged
//! with flags, shown by `--print-config`, tokens only in private files) and
//! the systemd user unit `service install` writes. Every run points the
//! config and unit directories at temporary ones: the machine's own
//! `/etc/lookout` and `~/.config` are never read.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lookout_protocol::ServerMessage;
use lookout_tests::client::{Client, Endpoint};
use lookout_tests::process::{Running, TempDir, binary};

const TOKEN: &str = "a-deployed-token-0123456789";

/// The agent binary reading its config from inside `home` only: the user's
/// file in `home/config`, the machine's in `home/etc`.
fn agent_in(home: &TempDir) -> Command {
    let mut cmd = Command::new(binary("lookout-server"));
    cmd.env_remove("LOOKOUT_NO_CONFIG")
        .env_remove("LOOKOUT_TOKEN")
        .env_remove("LOOKOUT_VIEW_TOKEN")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        // Its control socket in there too, never a shared one.
        .env("XDG_RUNTIME_DIR", home.path().join("run"))
        .env("LOOKOUT_SYSTEM_CONFIG_DIR", home.path().join("etc"));
    cmd
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn user_file(home: &TempDir) -> std::path::PathBuf {
    home.path().join("config/lookout-server/config.toml")
}

#[test]
fn print_config_names_the_user_files_line_the_system_files_and_the_flag() {
    let home = TempDir::new("deploy");
    let user = user_file(&home);
    let system = home.path().join("etc/server.toml");
    write(&system, "fps = 5\nquality = 40\n", 0o644);
    write(
        &user,
        &format!("# lab\nquality = 50\ntoken = \"{TOKEN}\"\n"),
        0o600,
    );
    let output = agent_in(&home)
        .args(["--print-config", "--max-viewers", "3"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |key: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in\n{shown}"))
    };
    assert!(
        line("fps").ends_with(&format!("# {} line 1", system.display())),
        "{shown}"
    );
    assert!(line("quality").starts_with("quality = 50 "), "{shown}");
    assert!(
        line("quality").ends_with(&format!("# {} line 2", user.display())),
        "{shown}"
    );
    assert!(
        line("max_viewers").starts_with("max_viewers = 3 "),
        "{shown}"
    );
    assert!(line("max_viewers").ends_with("# --max-viewers"), "{shown}");
    assert!(line("bind").ends_with("# default"), "{shown}");
    assert!(line("token").contains("<redacted>"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    // --no-config leaves both files out.
    let output = agent_in(&home)
        .args(["--print-config", "--no-config"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.lines().any(|l| l.starts_with("quality = 75 ")),
        "{shown}"
    );
}

#[test]
fn a_config_file_with_a_token_that_others_can_read_stops_the_agent_with_the_fix() {
    let home = TempDir::new("deploy");
    let user = user_file(&home);
    write(
        &user,
        &format!("token = \"{TOKEN}\"\nsource = \"test-pattern\"\n"),
        0o644,
    );
    let output = agent_in(&home).output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains(&format!("chmod 600 {}", user.display())),
        "{said}"
    );
    assert!(!said.contains("listening"), "{said}");
    write(&user, "token = 12\n", 0o600);
    let output = agent_in(&home).output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains(&format!("{}:1:", user.display())), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_takes_its_name_address_and_token_file_from_its_config_file() {
    let home = TempDir::new("deploy");
    let config = home.path().join("agent.toml");
    write(&home.path().join("token"), &format!("{TOKEN}\n"), 0o600);
    write(
        &config,
        &format!(
            "name = \"from-the-file\"\nbind = \"127.0.0.1:0\"\nsource = \"test-pattern\"\n\
             token_file = \"token\"\nidentity = \"{}\"\n",
            home.path().join("identity").display()
        ),
        0o644,
    );
    let mut cmd = agent_in(&home);
    cmd.arg("--config").arg(&config).env("RUST_LOG", "info");
    let agent = Running::spawn(cmd);
    let addr = agent.stderr.wait_for(Duration::from_secs(20), |line| {
        if !line.contains("listening") {
            return None;
        }
        let start = line.find("addr=")? + 5;
        line[start..].split_whitespace().next()?.parse().ok()
    });
    let addr = addr.unwrap_or_else(|| panic!("no listening line: {}", agent.process_output()));
    let pin = agent.stdout.wait_for(Duration::from_secs(5), |line| {
        line.strip_prefix("fingerprint ")?.parse().ok()
    });
    let (_client, welcome) = Client::welcome(Endpoint { addr, pin }, TOKEN).await;
    assert!(
        matches!(welcome, ServerMessage::Welcome { ref name, .. } if name == "from-the-file"),
        "{welcome:?}"
    );
}

#[test]
fn service_install_without_a_user_manager_writes_a_unit_systemd_analyze_accepts() {
    let home = TempDir::new("deploy");
    // No systemctl on PATH: the fallback, whatever runs on this machine.
    let empty = TempDir::new("nopath");
    let config = home.path().join("agent.toml");
    write(&config, "fps = 5\n", 0o644);
    let output = agent_in(&home)
        .env("PATH", empty.path())
        .args(["service", "install", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("not reachable"), "{said}");
    assert!(
        said.contains("systemctl --user enable --now lookout-server"),
        "{said}"
    );
    let unit_path = home
        .path()
        .join("config/systemd/user/lookout-server.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let exec = format!(
        "ExecStart={} --config {}\n",
        binary("lookout-server").display(),
        config.display()
    );
    assert!(unit.contains(&exec), "{exec} in\n{unit}");
    // `--user` needs a runtime directory; the manual pages are not installed.
    let runtime = TempDir::new("runtime");
    let verify = Command::new("systemd-analyze")
        .args(["--user", "verify", "--man=no"])
        .arg(&unit_path)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("systemd-analyze (package systemd; ./dev.sh deps installs it)");
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{complaints}");
    // Unknown keys are only warnings for verify: none is allowed.
    assert!(complaints.trim().is_empty(), "{complaints}");
    let output = agent_in(&home)
        .env("PATH", empty.path())
        .args(["service", "status"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains(&format!("installed: {}", unit_path.display())),
        "{said}"
    );
    let output = agent_in(&home)
        .env("PATH", empty.path())
        .args(["service", "uninstall"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!unit_path.exists());
}

#[test]
fn a_viewer_reaches_a_named_host_with_the_address_token_file_and_pin_of_its_config() {
    let agent = lookout_tests::process::AgentProcess::start(
        None,
        &["--source", "test-pattern", "--token", TOKEN],
    );
    let home = TempDir::new("viewer-config");
    write(&home.path().join("lab-3.token"), TOKEN, 0o600);
    let config = home.path().join("config.toml");
    let pin = agent.fingerprint.expect("a TLS agent");
    write(
        &config,
        &format!(
            "timeout = 20\n\n[hosts.lab-3]\naddress = \"{}\"\ntoken_file = \"lab-3.token\"\n\
             fingerprint = \"{pin}\"\n",
            agent.addr
        ),
        0o644,
    );
    let out = home.path().join("shot.png");
    let mut viewer = Command::new(binary("lookout-viewer"));
    viewer
        .env_remove("LOOKOUT_NO_CONFIG")
        .env_remove("LOOKOUT_TOKEN")
        .arg("--config")
        .arg(&config)
        .arg("lab-3")
        .arg("--snapshot")
        .arg(&out);
    let mut viewer = Running::spawn(viewer);
    let status = viewer
        .wait_exit(Duration::from_secs(30))
        .expect("the snapshot ends the viewer");
    assert!(status.success(), "{}", viewer.process_output());
    assert!(std::fs::metadata(&out).unwrap().len() > 0);
    // A token file others can read is refused before connecting.
    write(&home.path().join("lab-3.token"), TOKEN, 0o644);
    let output = Command::new(binary("lookout-viewer"))
        .env_remove("LOOKOUT_NO_CONFIG")
        .arg("--config")
        .arg(&config)
        .arg("lab-3")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("chmod 600"), "{said}");
}

use lookout_tests::process::TempDir;

use super::*;

fn env(dir: &TempDir) -> ServiceEnv {
    ServiceEnv {
        unit_dir: dir.path().join("systemd").join("user"),
        systemctl: dir.path().join("no-systemctl-here"),
    }
}

#[test]
fn install_without_a_user_manager_writes_the_unit_and_says_what_to_run() {
    let dir = TempDir::new("service");
    let env = env(&dir);
    let report = install(&env, Path::new("/usr/bin/lookout-server"), None).unwrap();
    let unit = std::fs::read_to_string(env.unit_path()).unwrap();
    assert_eq!(unit, unit_text(Path::new("/usr/bin/lookout-server"), None));
    assert!(report.contains("not reachable"), "{report}");
    assert!(report.contains("no-systemctl-here"), "says why: {report}");
    assert!(
        report.contains("systemctl --user enable --now lookout-server"),
        "{report}"
    );
    // Nothing but the unit is left in its directory.
    assert_eq!(std::fs::read_dir(&env.unit_dir).unwrap().count(), 1);
    let shown = status(&env);
    assert!(
        shown.contains(&format!("installed: {}", env.unit_path().display())),
        "{shown}"
    );
    assert!(shown.contains("not reachable"), "{shown}");
    let report = uninstall(&env).unwrap();
    assert!(report.contains("removed"), "{report}");
    assert!(!env.unit_path().exists());
    assert!(status(&env).contains("installed: no"));
    assert!(uninstall(&env).unwrap().contains("was not installed"));
}

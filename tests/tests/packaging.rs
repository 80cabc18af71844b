//! The packaging runs: the container's entrypoint initialises a data directory on first start
//! and only then, and the systemd unit passes `systemd-analyze verify` (skipped loudly where
//! systemd is not installed). Docker itself is not run here (no registry for base images).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_tests::*;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// A PATH where `me2b` is the binary under test.
fn path_with_me2b() -> String {
    let dir = binary().parent().unwrap().display().to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

#[test]
fn the_container_entrypoint_initialises_once_and_then_runs_the_command() {
    let data = tempfile::tempdir().unwrap();
    let entrypoint = root().join("packaging/docker-entrypoint.sh");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new("sh");
        command.arg(&entrypoint).args(args).env("PATH", path_with_me2b()).env("ME2B_DATA_DIR", data.path());
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    // Without a role the first start refuses, and says what to set.
    let refused = run(&["config", "get", "role"], &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ME2B_ROLE"));

    let first = run(
        &["config", "get", "role"],
        &[("ME2B_ROLE", "business"), ("ME2B_NAME", "Stride"), ("ME2B_NO_PASSPHRASE", "1")],
    );
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("initialised") && stdout.trim_end().ends_with("business"), "{stdout}");
    // The second start finds the directory and does not initialise it again.
    let second = run(&["config", "get", "name"], &[("ME2B_ROLE", "person"), ("ME2B_NAME", "Other")]);
    assert!(second.status.success());
    assert_eq!(String::from_utf8_lossy(&second.stdout).trim(), "Stride");
}

#[test]
fn the_systemd_unit_verifies() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("!! SKIPPED: systemd-analyze is not installed; the unit file was not verified");
        return;
    }
    let unit = std::fs::read_to_string(root().join("packaging/systemd/me2b.service")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("me2b.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/me2b", &binary().display().to_string())).unwrap();
    let verified = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&path).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&verified.stdout), String::from_utf8_lossy(&verified.stderr));
    // User me2b need not exist on a test machine; everything else must be clean.
    let problems: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty() && !l.contains("User")).collect();
    assert!(verified.status.success() && problems.is_empty(), "{said}");
}

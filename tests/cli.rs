//! The command line as a site engineer uses it.

use std::path::Path;

mod support;
use support::{anprd, text};

#[test]
fn check_config_accepts_the_example_and_shows_labels_only_locally() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/anprd.toml");
    let out = anprd(&["check-config", "--config", example.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(": OK"), "{stdout}");
    assert!(
        stdout.contains("camera cam-01") && stdout.contains("free text for people on site"),
        "{stdout}"
    );
    // The example's certificate files do not exist here: a warning, not a failure.
    assert!(
        text(&out.stderr).contains("warning: mqtt.ca_file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn check_config_fails_with_ex_config_and_a_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anprd.toml");
    std::fs::write(
        &path,
        "[gateway]\nid = \"gw-1\"\n[[camera]]\nid = \"cam-1\"\nsource = \"gst:videotestsrc ! appsink name=sink\"\nfps = 25\n[mqtt]\nurl = \"mqtt://127.0.0.1:1\"\nallow_insecure = true\n",
    )
    .unwrap();
    let out = anprd(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "{}:6:1: camera[0].fps: unknown field `fps`",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let out = anprd(&["check-config", "--config", "/nonexistent/anprd.toml"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(text(&out.stderr).contains("/nonexistent/anprd.toml: cannot read configuration"));
    let out = anprd(&["run", "--config", "/nonexistent/anprd.toml"]);
    assert_eq!(
        out.status.code(),
        Some(78),
        "run refuses to start without a valid config"
    );
}

#[test]
fn every_command_has_help() {
    let out = anprd(&["--help"]);
    let help = text(&out.stdout);
    for cmd in [
        "run",
        "check-config",
        "version",
        "id",
        "status",
        "recognise",
        "eval",
    ] {
        assert!(help.contains(cmd), "--help lists {cmd}: {help}");
        let out = anprd(&[cmd, "--help"]);
        assert!(
            out.status.success() && text(&out.stdout).contains("Usage: anprd"),
            "{cmd} --help"
        );
    }
}

/// The commands `anprd --help` lists, without clap's own `help`.
fn commands_in_help() -> Vec<String> {
    let help = text(&anprd(&["--help"]).stdout);
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn the_manual_page_describes_every_command() {
    let commands = commands_in_help();
    assert!(
        commands.len() >= 7 && commands.iter().any(|c| c == "eval"),
        "{commands:?}"
    );
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/anprd.8"))
            .unwrap();
    let section = |name: &str| {
        let start = page.find(&format!(".SH {name}\n")).unwrap();
        let rest = &page[start + 4..];
        rest[..rest.find("\n.SH ").unwrap_or(rest.len())].to_string()
    };
    let (synopsis, described) = (section("SYNOPSIS"), section("COMMANDS"));
    for cmd in &commands {
        // groff spells a hyphen in a name \-.
        let roff = cmd.replace('-', "\\-");
        assert!(
            synopsis.contains(&format!(".B anprd {roff}")),
            "the SYNOPSIS of packaging/anprd.8 lacks {cmd}"
        );
        assert!(
            described
                .lines()
                .any(|l| l == format!(".B {roff}") || l.starts_with(&format!(".B {roff} "))),
            "the COMMANDS of packaging/anprd.8 lack {cmd}"
        );
    }
}

#[test]
fn version_and_fresh_ids() {
    let out = anprd(&["version"]);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("anprd {}", env!("CARGO_PKG_VERSION"))
    );
    let a = text(&anprd(&["id"]).stdout).trim().to_string();
    let b = text(&anprd(&["id", "--kind", "camera"]).stdout)
        .trim()
        .to_string();
    assert!(a.starts_with("gw-") && a.len() == 15, "{a}");
    assert!(b.starts_with("cam-") && b.len() == 16, "{b}");
    assert_ne!(a[3..], b[4..], "ids are random");
}

//! The Debian package: built with cargo-deb from the binary these tests
//! use, its files and conffiles checked, lintian run (no errors; overrides
//! justified in packaging/lintian/anprd), and its maintainer scripts run
//! against throwaway copies of /etc and /var/lib in a private mount namespace.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/setup.sh installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the .deb into `dir` from the binary cargo built for these tests
/// (no second build); releases run plain `cargo deb`.
fn build_deb(dir: &Path) -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_anprd"));
    let profile_dir = exe.parent().unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev",
        other => other,
    };
    run(Command::new("cargo")
        .args([
            "deb",
            "--no-build",
            "--quiet",
            "--profile",
            profile,
            "--output",
        ])
        .arg(dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", target_dir));
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("cargo deb wrote a .deb")
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

#[test]
fn the_deb_has_its_files_passes_lintian_and_its_scripts_work() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_deb(dir.path());

    let listing = stdout(&run(Command::new("dpkg-deb").arg("--contents").arg(&deb)));
    for path in [
        "./usr/bin/anprd",
        "./etc/anprd/anprd.toml",
        "./usr/lib/systemd/system/anprd.service",
        "./usr/share/man/man8/anprd.8.gz",
        "./usr/share/doc/anprd/changelog.Debian.gz",
        "./usr/share/doc/anprd/copyright",
        "./usr/share/doc/anprd/operations.md",
        "./usr/share/doc/anprd/security.md",
        "./usr/share/doc/anprd/delivery.md",
        "./usr/share/doc/anprd/schema/status.json",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(path)),
            "{path} missing from the package:\n{listing}"
        );
    }
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("-rw-r----- 0/0") && l.ends_with("./etc/anprd/anprd.toml")),
        "anprd.toml is not 0640 root:\n{listing}"
    );

    let unpacked = dir.path().join("unpacked");
    run(Command::new("dpkg-deb")
        .arg("--raw-extract")
        .arg(&deb)
        .arg(&unpacked));
    let conffiles = std::fs::read_to_string(unpacked.join("DEBIAN/conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/anprd/anprd.toml");
    let control = std::fs::read_to_string(unpacked.join("DEBIAN/control")).unwrap();
    let depends = control
        .lines()
        .find_map(|l| l.strip_prefix("Depends: "))
        .expect("a Depends field");
    for dep in [
        "adduser",
        "libgstreamer1.0-0",
        "gstreamer1.0-plugins-good",
        "gstreamer1.0-plugins-bad",
        "libc6",
    ] {
        assert!(depends.contains(dep), "Depends lacks {dep}: {depends}");
    }
    let postinst = std::fs::read_to_string(unpacked.join("DEBIAN/postinst")).unwrap();
    assert!(
        postinst.contains("deb-systemd-helper enable anprd.service"),
        "{postinst}"
    );
    assert!(
        !postinst.contains("deb-systemd-invoke start"),
        "the unit must not start before it is configured:\n{postinst}"
    );

    // lintian: no errors. Its exit status is non-zero on errors only
    // (with --fail-on error); warnings are printed for the record.
    let lint = Command::new("lintian")
        .args(["--fail-on", "error", "--tag-display-limit", "0"])
        .arg(&deb)
        .output()
        .expect("lintian is installed by scripts/setup.sh");
    let report = stdout(&lint);
    eprintln!("lintian:\n{report}");
    assert!(
        lint.status.success() && !report.lines().any(|l| l.starts_with("E:")),
        "lintian errors:\n{report}{}",
        String::from_utf8_lossy(&lint.stderr)
    );

    // The maintainer scripts need root to mount over /etc in a namespace
    // (a container may refuse even root one).
    if !is_root() {
        eprintln!("not root: maintainer scripts not run (CI runs as root)");
        return;
    }
    if !Command::new("unshare")
        .args(["--mount", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("no mount namespace here: maintainer scripts not run");
        return;
    }
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/check-maintainer-scripts.sh");
    let out = run(Command::new(script)
        .arg(&unpacked)
        .arg(dir.path().join("scratch")));
    let said = stdout(&out);
    assert!(
        said.contains("installed: user, group") && said.contains("removed and purged"),
        "{said}"
    );
}

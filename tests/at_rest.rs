//! Encryption at rest: with a key, no VRM or payload text can be found in the
//! spool's files; without one it can (which proves the search works). A sealed
//! spool does not open without its key, and a record moved to another key
//! does not open at all.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anprd::config::SpoolConfig;
use anprd::record::Read;
use anprd::seal::Sealer;
use anprd::spool::{Spool, SpoolError};
use support::daemon::{Daemon, clip_site};

const KEY: [u8; 32] = *b"at-rest test key, 32 bytes long!";

fn cfg(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        path: dir.join("spool"),
        max_bytes: 64 << 20,
        ..SpoolConfig::default()
    }
}

fn reads(n: usize) -> Vec<Read> {
    (0..n)
        .map(|i| support::sample_read("gw-atrest", "cam-atrest", i as i64, format!("QZ{i:02}XKV")))
        .collect()
}

fn hits(dir: &Path, needles: &[String]) -> usize {
    support::scan::count_in_files(dir, needles)
}

/// The VRMs of `reads` and text every payload carries.
fn needles(reads: &[Read]) -> Vec<String> {
    let mut n: Vec<String> = reads.iter().map(|r| r.vrm.clone()).collect();
    n.extend(["anprd.read/1".into(), "\"vrm\"".into()]);
    n
}

fn store(dir: &Path, sealer: Sealer, reads: &[Read]) {
    let spool = Spool::open_sealed(&cfg(dir), sealer).unwrap();
    spool.append(reads).unwrap();
    spool.flush().unwrap();
}

#[test]
fn sealed_spool_files_hold_no_vrm_or_payload_text_and_clear_ones_do() {
    let sent = reads(20);
    let sealed = tempfile::tempdir().unwrap();
    store(sealed.path(), Sealer::with_key(&KEY), &sent);
    assert_eq!(hits(sealed.path(), &needles(&sent)), 0);

    let clear = tempfile::tempdir().unwrap();
    store(clear.path(), Sealer::clear(), &sent);
    assert!(
        hits(clear.path(), &needles(&sent)) >= sent.len(),
        "the search finds the reads when they are not sealed"
    );

    // With the key every read comes back whole, in order.
    let spool = Spool::open_sealed(&cfg(sealed.path()), Sealer::with_key(&KEY)).unwrap();
    let mut after = None;
    for r in &sent {
        let (key, entry) = spool.next_after(after).unwrap().expect("every read");
        assert_eq!(Read::from_payload(&entry.payload).unwrap(), *r);
        after = Some(key);
    }
}

#[test]
fn a_sealed_spool_without_its_key_is_a_clear_error_and_keeps_every_read() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), Sealer::with_key(&KEY), &reads(5));

    for (sealer, expect) in [
        (Sealer::clear(), "no spool key is configured"),
        (Sealer::with_key(&[1; 32]), "wrong spool key"),
    ] {
        let err = match Spool::open_sealed(&cfg(dir.path()), sealer) {
            Err(e @ SpoolError::Sealed { .. }) => e.to_string(),
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("a sealed spool opened without its key"),
        };
        assert!(err.contains(expect), "{err}");
        assert!(err.contains("5 stored reads"), "{err}");
    }
    let spool = Spool::open_sealed(&cfg(dir.path()), Sealer::with_key(&KEY)).unwrap();
    assert_eq!(spool.stats().pending, 5, "nothing was set aside meanwhile");
    assert_eq!(spool.corrupt_count(), 0);
}

#[test]
fn a_sealed_record_moved_to_another_key_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), Sealer::with_key(&KEY), &reads(3));
    {
        // Swap the first two records under their keys, as an attacker with
        // the disk (but not the key) could.
        let db = open_sled_when_free(&dir.path().join("spool"));
        let tree = db.open_tree("reads").unwrap();
        let mut it = tree.iter();
        let (k1, v1) = it.next().unwrap().unwrap();
        let (k2, v2) = it.next().unwrap().unwrap();
        tree.insert(k1, v2).unwrap();
        tree.insert(k2, v1).unwrap();
        db.flush().unwrap();
    }
    let spool = Spool::open_sealed(&cfg(dir.path()), Sealer::with_key(&KEY)).unwrap();
    assert_eq!(
        spool.stats().pending,
        1,
        "only the untouched read is queued"
    );
    assert_eq!(
        spool.corrupt_count(),
        2,
        "the moved ones are set aside, kept"
    );
}

/// sled at `path`, once the spool just dropped there has let go of its file
/// lock: sled finishes a dropped database's writes on background threads
/// (the spool's own open waits the same way).
fn open_sled_when_free(path: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.unwrap(),
        }
    }
}

fn key_file(dir: &Path, mode: u32) -> PathBuf {
    let path = dir.join("spool.key");
    std::fs::write(&path, KEY).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn the_daemon_seals_the_reads_it_stores_from_a_camera() {
    let dir = tempfile::tempdir().unwrap();
    // The key as systemd hands over a credential: a file in $CREDENTIALS_DIRECTORY.
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    key_file(&creds, 0o400);
    let (config, truth) = clip_site(dir.path(), 31, None, "key_credential = \"spool.key\"");
    let mut daemon = Daemon::start_with(&config, |cmd| {
        cmd.env("CREDENTIALS_DIRECTORY", &creds);
    });
    daemon.wait_log(
        "camera cam-01: recognition finished",
        Duration::from_secs(60),
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(!log.contains("no spool key"), "a key is set:\n{log}");

    let spool = Spool::open_sealed(&cfg(dir.path()), Sealer::with_key(&KEY)).unwrap();
    let stored = spool.stats().pending;
    drop(spool);
    assert!(stored >= 1, "the clip yields reads:\n{log}");
    let mut vrms = truth;
    vrms.push("anprd.read/1".into());
    assert_eq!(hits(&dir.path().join("spool"), &vrms), 0, "{vrms:?}");
}

#[test]
fn the_daemon_refuses_a_key_file_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), 0o644);
    let (config, _) = clip_site(dir.path(), 32, None, &format!("key_file = {key:?}"));
    let daemon = Daemon::start(&config);
    let (status, log) = daemon.wait_exit(Duration::from_secs(30));
    // EX_CONFIG: the unit does not restart on it (RestartPreventExitStatus).
    assert_eq!(status.code(), Some(78), "{log}");
    assert!(
        log.contains(&format!("spool key {}: mode 0644", key.display())),
        "{log}"
    );
}

#[test]
fn key_settings_are_validated_with_their_place_in_the_file() {
    let text = |spool: &str| {
        format!(
            "[gateway]\nid = \"gw-1\"\n[[camera]]\nid = \"c1\"\nsource = \"v4l2:///dev/video0\"\n\
             [mqtt]\nurl = \"mqtt://127.0.0.1:1\"\nallow_insecure = true\n[spool]\n{spool}\n"
        )
    };
    let file = Path::new("site.toml");
    let both = anprd::config::Config::parse(
        &text("key_file = \"/k\"\nkey_credential = \"spool-key\""),
        file,
    )
    .unwrap_err()
    .to_string();
    assert!(
        both.contains("site.toml:11:18: spool.key_credential: set key_file or key_credential"),
        "{both}"
    );
    let path = anprd::config::Config::parse(&text("key_credential = \"../k\""), file)
        .unwrap_err()
        .to_string();
    assert!(path.contains("is not a credential name"), "{path}");
}

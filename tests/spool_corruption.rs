//! Damaged spool files: truncated, overwritten, emptied. Whatever the damage,
//! opening never panics nor fails for good: sled recovers what it can (and
//! reads that no longer decode are set aside), or the spool is moved into
//! quarantine (kept, never deleted) and a fresh one started. Either way new
//! reads are stored and survive a reopen — no crash loop.

use std::path::{Path, PathBuf};

use anprd::config::SpoolConfig;
use anprd::record::Read;
use anprd::spool::Spool;
use uuid::Uuid;

fn cfg(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        path: dir.join("spool"),
        max_bytes: 1 << 30,
        ..Default::default()
    }
}

fn read(i: usize) -> Read {
    Read {
        read_id: Uuid::now_v7(),
        gateway_id: "gw-c".into(),
        camera_id: "cam-01".into(),
        captured_at: anprd::record::now_millis(),
        vrm: format!("CR{i:05}"),
        confidence: 0.9,
        char_confidence: vec![0.9; 7],
        plate_box: [1, 2, 3, 4],
        plate_jpeg: vec![0x11; 500],
        overview_jpeg: vec![0x22; 3000],
        frames: 1,
        preview: false,
        supersedes: None,
        clock_unsynchronised: false,
    }
}

/// A spool holding 300 reads, closed; returns sled's files in it (not the
/// payload files beside them: the spool's unit tests damage those).
fn filled(dir: &Path) -> Vec<PathBuf> {
    let spool = Spool::open(&cfg(dir)).unwrap();
    let reads: Vec<Read> = (0..300).map(read).collect();
    for chunk in reads.chunks(30) {
        spool.append(chunk).unwrap();
    }
    drop(spool);
    let mut files = Vec::new();
    let mut stack = vec![dir.join("spool")];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() && path.file_name().is_some_and(|n| n == "payloads") {
                continue;
            } else if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Opens the damaged spool, checks what must hold, and says what happened.
fn survives(dir: &Path, damage: &str) -> String {
    let spool =
        Spool::open(&cfg(dir)).unwrap_or_else(|e| panic!("{damage}: the spool did not open: {e}"));
    let s = spool.stats();
    // Every read still pending decodes (the rest was set aside).
    let mut cursor = None;
    let mut readable = 0;
    while let Some((k, e)) = spool.next_after(cursor).unwrap() {
        Read::from_payload(&e.payload).unwrap_or_else(|e| panic!("{damage}: {e}"));
        cursor = Some(k);
        readable += 1;
    }
    let fresh = read(999);
    spool
        .append(std::slice::from_ref(&fresh))
        .unwrap_or_else(|e| panic!("{damage}: new reads cannot be stored: {e}"));
    drop(spool);
    let again = Spool::open(&cfg(dir)).unwrap();
    assert!(
        again.stats().pending >= 1,
        "{damage}: the new read did not survive a reopen"
    );
    if s.spool_quarantined {
        let q = dir.join("spool.quarantine");
        assert!(
            std::fs::read_dir(&q).unwrap().count() >= 1,
            "{damage}: quarantined spool kept"
        );
    }
    format!(
        "{damage}: quarantined {}, {readable} reads recovered, {} records set aside",
        s.spool_quarantined, s.quarantined
    )
}

#[test]
fn truncated_corrupted_and_emptied_files_never_stop_the_spool() {
    type Damage = fn(&Path, usize) -> std::io::Result<()>;
    let damages: [(&str, Damage); 5] = [
        ("truncated to half", |f, len| truncate(f, len / 2)),
        ("truncated to 10 bytes", |f, _| truncate(f, 10)),
        ("emptied", |f, _| truncate(f, 0)),
        ("middle overwritten", |f, len| overwrite(f, len / 3, 4096)),
        ("start overwritten", |f, _| overwrite(f, 0, 512)),
    ];
    let mut seen = Vec::new();
    for (name, damage) in damages {
        // Each file sled keeps, damaged in turn on a fresh spool.
        let template = tempfile::tempdir().unwrap();
        let files = filled(template.path());
        for (i, _) in files.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let files = filled(dir.path());
            let f = &files[i];
            let len = std::fs::metadata(f).unwrap().len() as usize;
            damage(f, len).unwrap();
            let rel = f.strip_prefix(dir.path()).unwrap().display().to_string();
            seen.push(survives(dir.path(), &format!("{rel} {name}")));
        }
    }
    for s in &seen {
        eprintln!("{s}");
    }
    assert!(
        seen.iter().any(|s| s.contains("quarantined true")),
        "{seen:#?}"
    );
}

fn truncate(f: &Path, len: usize) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(f)?
        .set_len(len as u64)
}

fn overwrite(f: &Path, at: usize, n: usize) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().write(true).open(f)?;
    file.seek(SeekFrom::Start(at as u64))?;
    // A fixed pattern, not zeros: sled treats zeroed tails as torn writes.
    let junk: Vec<u8> = (0..n).map(|i| (i * 7 + 13) as u8).collect();
    file.write_all(&junk)
}

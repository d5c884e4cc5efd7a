//! anprd opens no listening socket: nothing on the box answers the network
//! on its behalf. While the binary runs the whole pipeline (a camera, the
//! spool, a connected broker), its sockets are sampled from /proc: no TCP
//! socket in LISTEN, no bound UDP socket, no listening Unix socket.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use support::daemon::{Daemon, clip_site};
use support::{Mosquitto, Subscriber};

/// Inodes of the sockets the process holds open.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_str()?;
            t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// `(table, line)` for every socket of `inodes` that listens.
fn listening(pid: u32, inodes: &HashSet<u64>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(state), Some(inode)) = (f.get(3), f.get(9).and_then(|i| i.parse().ok()))
            else {
                continue;
            };
            // TCP: 0A is LISTEN. UDP has no connection: any socket at all
            // would be one that can receive from anyone.
            let listens = if table.starts_with("tcp") {
                *state == "0A"
            } else {
                true
            };
            if listens && inodes.contains(&inode) {
                found.push((table.to_string(), line.to_string()));
            }
        }
    }
    let unix = std::fs::read_to_string(format!("/proc/{pid}/net/unix")).unwrap_or_default();
    for line in unix.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Flags 00010000 is __SO_ACCEPTCON: a listening socket.
        let (Some(flags), Some(inode)) = (f.get(3), f.get(6).and_then(|i| i.parse().ok())) else {
            continue;
        };
        if *flags == "00010000" && inodes.contains(&inode) {
            found.push(("unix".to_string(), line.to_string()));
        }
    }
    found
}

#[test]
fn anprd_opens_no_listening_socket() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port(), "#");
    let mut daemon = Daemon::start(&clip_site(dir.path(), 61, Some(broker.port()), "").0);
    let pid = daemon.pid();

    // Sample through start-up, capture, recognition and forwarding.
    let mut samples = 0;
    let mut seen_sockets = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !daemon.log().contains("recognition finished") || sub.count() == 0 {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        let inodes = socket_inodes(pid);
        seen_sockets = seen_sockets.max(inodes.len());
        let found = listening(pid, &inodes);
        assert!(found.is_empty(), "anprd listens: {found:?}");
        samples += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.wait_log("broker connected", Duration::from_secs(10));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(samples > 5, "sampled while it ran ({samples} samples)");
    assert!(
        seen_sockets >= 1,
        "the MQTT connection was seen among its sockets, so the sampling works"
    );
}

#[test]
fn the_check_finds_listening_sockets_when_there_are_some() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let unix = std::os::unix::net::UnixListener::bind(dir.path().join("s")).unwrap();
    let pid = std::process::id();
    let found = listening(pid, &socket_inodes(pid));
    for table in ["tcp", "udp", "unix"] {
        assert!(
            found.iter().any(|(t, _)| t == table),
            "no {table} listener found: {found:?}"
        );
    }
    drop((tcp, udp, unix));
}

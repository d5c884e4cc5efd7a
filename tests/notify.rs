//! systemd's notify protocol, spoken to the real binary on a NOTIFY_SOCKET
//! the test holds: READY only once the camera delivered, watchdog pings only
//! while frames are analysed, STATUS= lines, STOPPING on SIGTERM, and SIGHUP
//! re-reading the configuration.

mod site;

use std::time::Duration;

use nix::sys::signal::Signal;
use site::{Daemon, NotifySocket, closed_port, count_line, write_config};

/// systemd's WatchdogSec as the daemon sees it: 2 s.
const WATCHDOG_USEC: &str = "2000000";

#[test]
fn ready_after_the_first_frame_and_watchdog_only_while_frames_are_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let notify = NotifySocket::bind(dir.path());
    let state = dir.path().join("status.json");
    let config = write_config(
        dir.path(),
        closed_port(),
        &format!("[health]\nstate_file = \"{}\"\n", state.display()),
    );
    let daemon = Daemon::start_idle(
        &config,
        &[
            ("NOTIFY_SOCKET", notify.path.to_str().unwrap()),
            ("WATCHDOG_USEC", WATCHDOG_USEC),
        ],
    );
    // No frame yet: not ready, and no pings.
    let early = notify.collect(Duration::from_secs(2));
    assert_eq!(
        count_line(&early, "READY=1"),
        0,
        "READY before any frame: {early:?}"
    );
    assert_eq!(
        count_line(&early, "WATCHDOG=1"),
        0,
        "pings before READY: {early:?}"
    );

    daemon.feed(true);
    notify.wait_line("READY=1", Duration::from_secs(15));
    let running = notify.collect(Duration::from_secs(3));
    assert!(
        count_line(&running, "WATCHDOG=1") >= 3,
        "pings at least twice per watchdog interval while frames flow: {running:?}"
    );
    let status = running
        .iter()
        .flat_map(|m| m.lines())
        .find(|l| l.starts_with("STATUS="))
        .expect("a STATUS= line");
    assert!(status.contains("1/1 camera(s) streaming"), "{status}");
    assert!(status.contains("fps analysed"), "{status}");

    // An empty road: frames keep coming, nothing moves, the motion gate
    // skips them all. Not a stall: pings go on for twice the interval.
    daemon.hold_still(true);
    let _drain = notify.collect(Duration::from_millis(300));
    let still = notify.collect(Duration::from_secs(4));
    assert!(
        count_line(&still, "WATCHDOG=1") >= 4,
        "pings while nothing moves: {still:?}"
    );
    assert!(
        !daemon.log().contains("pipeline stalled"),
        "{}",
        daemon.log()
    );
    daemon.hold_still(false);

    // The camera goes silent without ending: a stall. Pings stop (after at
    // most the stall window plus a tick), and the stall is logged.
    daemon.feed(false);
    daemon.wait_log("pipeline stalled", Duration::from_secs(5));
    let _drain = notify.collect(Duration::from_millis(300));
    let stalled = notify.collect(Duration::from_secs(4));
    assert_eq!(
        count_line(&stalled, "WATCHDOG=1"),
        0,
        "no pings for twice the watchdog interval while stalled: {stalled:?}"
    );
    assert!(
        stalled.iter().any(|m| m.starts_with("STATUS=STALLED: ")),
        "STATUS= still flows while stalled: {stalled:?}"
    );

    // Frames again: pings resume.
    daemon.feed(true);
    notify.wait_line("WATCHDOG=1", Duration::from_secs(5));

    // SIGHUP: the log level is applied live, other changes wait for a restart.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("level = \"info\"", "level = \"debug\"")
            .replace("reconnect_max_s = 1", "reconnect_max_s = 2"),
    )
    .unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_log("SIGHUP: log level is now debug", Duration::from_secs(5));
    daemon.wait_log(
        "SIGHUP: changes to mqtt take effect only after a restart",
        Duration::from_secs(5),
    );

    // A broken file is refused, and the daemon keeps running.
    std::fs::write(&config, "[gateway\n").unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_log("configuration not reloaded", Duration::from_secs(5));
    notify.wait_line("WATCHDOG=1", Duration::from_secs(5));

    daemon.signal(Signal::SIGTERM);
    notify.wait_line("STOPPING=1", Duration::from_secs(10));
    let log = daemon.stop();
    assert!(
        !log.contains(site::LABEL),
        "the camera label was logged:\n{log}"
    );
}

#[test]
fn without_notify_socket_the_daemon_runs_and_says_nothing() {
    // The same binary must run without systemd (NOTIFY_SOCKET unset).
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), closed_port(), "");
    let daemon = Daemon::start(&config, &[]);
    daemon.wait_log("ready: every camera", Duration::from_secs(15));
    let log = daemon.stop();
    assert!(!log.contains("cannot notify systemd"), "{log}");
}

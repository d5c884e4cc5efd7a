//! The spool's limits in anprd.toml: defaults, and located errors.

use std::path::Path;

use anprd::config::Config;

const BASE: &str = r#"
[gateway]
id = "gw-1"

[[camera]]
id = "cam-01"
source = "rtsp://10.0.0.5/stream1"

[mqtt]
url = "mqtt://127.0.0.1:1883"
allow_insecure = true

[spool]
path = "/var/lib/anprd/spool"
"#;

fn parse(extra: &str) -> Result<Config, String> {
    Config::parse(
        &format!("{BASE}{extra}"),
        Path::new("/etc/anprd/anprd.toml"),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn max_age_defaults_to_a_week() {
    let c = parse("").unwrap();
    assert_eq!(c.spool.max_age_days, 7);
    assert_eq!(
        c.spool.max_age(),
        std::time::Duration::from_secs(7 * 86_400)
    );
    assert_eq!(parse("max_age_days = 30\n").unwrap().spool.max_age_days, 30);
}

#[test]
fn a_zero_or_absurd_max_age_is_refused_with_its_location() {
    for (value, col) in [("0", 16), ("5000", 16)] {
        let e = parse(&format!("max_age_days = {value}\n")).unwrap_err();
        let line = BASE.lines().count() + 1;
        assert!(
            e.starts_with(&format!("/etc/anprd/anprd.toml:{line}:{col}: spool.max_age_days: must be between 1 and 366 days")),
            "{e}"
        );
    }
    let e = parse("max_age_days = \"a week\"\n").unwrap_err();
    assert!(e.contains("spool.max_age_days"), "{e}");
}

//! Configuration mistakes a site engineer makes, and the message each gets.
//! Every message must name the file, line, column and key.

use std::path::Path;

use anprd::config::Config;

const GOOD: &str = r#"
[gateway]
id = "gw-3f9a2c"

[[camera]]
id = "cam-01"
source = "rtsp://10.0.0.5/stream1"
label = "north side, lane 1"

[[camera]]
id = "cam-02"
source = "file:///var/lib/anprd/clip.mp4"
enabled = false

[mqtt]
url = "mqtts://broker.example:8883"
topic_prefix = "anpr"
ca_file = "/etc/anprd/ca.pem"
cert_file = "/etc/anprd/client.pem"
key_file = "/etc/anprd/client.key"

[spool]
path = "/var/lib/anprd/spool"
max_bytes = 2147483648
"#;

/// Parses `text` as /etc/anprd/anprd.toml and returns the one-line error.
fn error_of(text: &str) -> String {
    match Config::parse(text, Path::new("/etc/anprd/anprd.toml")) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// GOOD with `from` replaced by `to` (which must occur exactly once).
fn with(from: &str, to: &str) -> String {
    assert_eq!(GOOD.matches(from).count(), 1, "{from:?} must occur once");
    GOOD.replace(from, to)
}

#[test]
fn the_reference_shape_is_accepted() {
    let c = Config::parse(GOOD, Path::new("x.toml")).unwrap();
    assert_eq!(c.gateway.id, "gw-3f9a2c");
    assert_eq!(c.cameras.len(), 2);
    assert!(c.cameras[0].enabled, "enabled defaults to true");
    assert!(!c.cameras[1].enabled);
    assert_eq!(c.enabled_cameras().count(), 1);
    assert_eq!(c.mqtt.topic_prefix, "anpr");
    assert_eq!(c.spool.max_bytes, 2147483648);
}

#[test]
fn a_misspelt_key_is_named_with_its_position() {
    let e = error_of(&with("source = \"rtsp", "sorce = \"rtsp"));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:7:1: camera[0].sorce: unknown field `sorce`"),
        "{e}"
    );
}

#[test]
fn a_wrong_type_is_named_with_its_position() {
    let e = error_of(&with("enabled = false", "enabled = \"no\""));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:13:11: camera[1].enabled: invalid type: string"),
        "{e}"
    );
    assert!(e.contains("expected a boolean"), "{e}");
}

#[test]
fn a_missing_required_key_points_at_its_table() {
    let e = error_of(&with("source = \"rtsp://10.0.0.5/stream1\"\n", ""));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:5:1: camera[0]: missing field `source`"),
        "{e}"
    );
}

#[test]
fn broken_toml_syntax_is_located() {
    let e = error_of(&with("[spool]", "[spool"));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:22:7: unclosed table"),
        "{e}"
    );
}

#[test]
fn plain_mqtt_needs_allow_insecure() {
    let e = error_of(&with(
        "mqtts://broker.example:8883",
        "mqtt://broker.example:1883",
    ));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:16:7: mqtt.url: mqtt:// sends reads unencrypted"),
        "{e}"
    );
    let ok = with("mqtts://broker.example:8883", "mqtt://broker.example:1883")
        .replace("topic_prefix", "allow_insecure = true\ntopic_prefix");
    Config::parse(&ok, Path::new("x.toml")).unwrap();
}

#[test]
fn an_unknown_source_scheme_is_refused_without_echoing_the_address() {
    let e = error_of(&with("rtsp://10.0.0.5/stream1", "http://10.0.0.5/stream1"));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:7:10: camera[0].source: unsupported scheme"),
        "{e}"
    );
    assert!(
        !e.contains("10.0.0.5"),
        "the message must not repeat the camera's address: {e}"
    );
}

#[test]
fn a_duplicate_camera_id_is_refused() {
    let e = error_of(&with("id = \"cam-02\"", "id = \"cam-01\""));
    assert!(
        e.starts_with(
            "/etc/anprd/anprd.toml:11:6: camera[1].id: camera id \"cam-01\" is already used"
        ),
        "{e}"
    );
}

#[test]
fn an_id_that_reads_like_a_place_is_refused() {
    let e = error_of(&with("id = \"gw-3f9a2c\"", "id = \"M62 J26 Eastbound\""));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:3:6: gateway.id: contains ' '"),
        "{e}"
    );
}

#[test]
fn a_wildcard_in_the_topic_prefix_is_refused() {
    let e = error_of(&with(
        "topic_prefix = \"anpr\"",
        "topic_prefix = \"anpr/#\"",
    ));
    assert!(
        e.starts_with(
            "/etc/anprd/anprd.toml:17:16: mqtt.topic_prefix: must not contain MQTT wildcards"
        ),
        "{e}"
    );
}

#[test]
fn free_text_in_the_topic_prefix_is_refused() {
    let e = error_of(&with(
        "topic_prefix = \"anpr\"",
        "topic_prefix = \"anpr/Kings Road\"",
    ));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:17:16: mqtt.topic_prefix: contains ' '"),
        "{e}"
    );
    assert!(!e.contains("Kings"), "{e}");
}

#[test]
fn a_tiny_spool_cap_is_refused() {
    let e = error_of(&with("max_bytes = 2147483648", "max_bytes = 1000"));
    assert!(
        e.starts_with(
            "/etc/anprd/anprd.toml:24:13: spool.max_bytes: must be at least 1048576 bytes"
        ),
        "{e}"
    );
}

#[test]
fn a_negative_size_is_a_type_error() {
    let e = error_of(&with("max_bytes = 2147483648", "max_bytes = -5"));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:24:13: spool.max_bytes: invalid value: integer `-5`"),
        "{e}"
    );
}

#[test]
fn a_client_certificate_without_its_key_is_refused() {
    let e = error_of(&with("key_file = \"/etc/anprd/client.key\"\n", ""));
    assert!(
        e.starts_with(
            "/etc/anprd/anprd.toml:15:1: mqtt.key_file: cert_file and key_file go together"
        ),
        "{e}"
    );
}

#[test]
fn mqtts_without_a_ca_is_refused() {
    let e = error_of(&with("ca_file = \"/etc/anprd/ca.pem\"\n", ""));
    assert!(
        e.contains("anprd.toml:15:1: mqtt.ca_file: mqtts:// needs ca_file"),
        "{e}"
    );
}

#[test]
fn an_unknown_log_level_is_refused() {
    let e = error_of(&format!("{GOOD}\n[log]\nlevel = \"loud\"\n"));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:27:9: log.level: unknown level \"loud\""),
        "{e}"
    );
}

#[test]
fn a_gateway_without_cameras_is_refused() {
    let text = GOOD.split("[[camera]]").next().unwrap().to_string()
        + "[mqtt]\nurl = \"mqtts://b:8883\"\nca_file = \"/ca.pem\"\n";
    let e = error_of(&text);
    assert!(
        e.starts_with("/etc/anprd/anprd.toml: camera: at least one [[camera]] is needed"),
        "{e}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = with("id = \"cam-02\"", "id = \"cam 2\"")
        .replace("max_bytes = 2147483648", "max_bytes = 10");
    let e = error_of(&text);
    assert_eq!(e.lines().count(), 2, "{e}");
    assert!(e.contains("camera[1].id"), "{e}");
    assert!(e.contains("spool.max_bytes"), "{e}");
}

#[test]
fn a_gst_pipeline_without_the_named_appsink_is_refused() {
    let e = error_of(&with(
        "rtsp://10.0.0.5/stream1",
        "gst:videotestsrc ! fakesink",
    ));
    assert!(
        e.starts_with(
            "/etc/anprd/anprd.toml:7:10: camera[0].source: a gst: pipeline must end in an appsink"
        ),
        "{e}"
    );
}

#[test]
fn the_shipped_example_passes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/anprd.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        c.cameras.iter().all(|c| c.label.is_some()),
        "the example shows what label is for"
    );
}

#[test]
fn a_region_needs_three_points() {
    let e = error_of(&with(
        "label = \"north side, lane 1\"",
        "roi = [[0, 0], [10, 10]]",
    ));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:8:7: camera[0].roi: a region needs at least 3 points"),
        "{e}"
    );
}

#[test]
fn a_region_point_must_be_two_pixel_coordinates() {
    let e = error_of(&with(
        "label = \"north side, lane 1\"",
        "roi = [[0, 0, 5], [10, 10], [0, 10]]",
    ));
    assert!(e.starts_with("/etc/anprd/anprd.toml:8:8: camera[0].roi[0]: a point is [x, y] in pixels, not 3 numbers"), "{e}");
}

#[test]
fn a_region_must_enclose_an_area_within_a_frame() {
    let e = error_of(&with(
        "label = \"north side, lane 1\"",
        "roi = [[0, 700], [640, 700], [1280, 700]]",
    ));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:8:7: camera[0].roi: the region encloses no area"),
        "{e}"
    );
    let e = error_of(&with(
        "label = \"north side, lane 1\"",
        "roi = [[0, 0], [19200, 0], [0, 1080]]",
    ));
    assert!(
        e.starts_with(
            "/etc/anprd/anprd.toml:8:16: camera[0].roi[1]: [19200, 0] lies past 16384 pixels"
        ),
        "{e}"
    );
}

#[test]
fn group_timings_are_bounded() {
    let e = error_of(&format!("{GOOD}\n[group]\nmax_pass_ms = 86400000\n"));
    assert!(
        e.contains("group.max_pass_ms: must be at most 600000 ms"),
        "{e}"
    );
    let e = error_of(&format!("{GOOD}\n[group]\nmin_frames = 300\n"));
    assert!(e.contains("group.min_frames: must be at most 250"), "{e}");
}

#[test]
fn previews_need_at_least_min_frames() {
    let e = error_of(&format!(
        "{GOOD}\n[group]\nmin_frames = 3\npreview_after_frames = 2\n"
    ));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:28:24: group.preview_after_frames: must be 0"),
        "{e}"
    );
}

#[test]
fn the_worker_count_is_bounded() {
    let e = error_of(&format!("{GOOD}\n[recognise]\nworkers = 0\n"));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:27:11: recognise.workers: must be between 1 and 64"),
        "{e}"
    );
}

#[test]
fn a_redaction_box_must_have_four_numbers() {
    let e = error_of(&with(
        "label = \"north side, lane 1\"",
        "redact = [[0, 0, 100, 20, 9]]",
    ));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:8:10: camera[0].redact: item 0 has 5 numbers, not 4"),
        "{e}"
    );
}

#[test]
fn an_unknown_engine_is_named_with_the_choices() {
    let e = error_of(&format!("{GOOD}\n[recognise]\nengine = \"yolo\"\n"));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:27:10: recognise.engine: unknown variant `yolo`"),
        "{e}"
    );
    assert!(e.contains("`neural`") && e.contains("`classic`"), "{e}");
}

#[test]
fn the_engine_defaults_to_neural_and_a_model_dir_must_be_absolute() {
    use anprd::recognise::EngineKind;
    let c = Config::parse(GOOD, Path::new("x.toml")).unwrap();
    assert_eq!(c.recognise.engine, EngineKind::Neural);
    assert_eq!(c.recognise.models, None);
    let text = format!("{GOOD}\n[recognise]\nengine = \"classic\"\nmodels = \"/opt/m\"\n");
    let c = Config::parse(&text, Path::new("x.toml")).unwrap();
    assert_eq!(c.recognise.engine, EngineKind::Classic);
    assert_eq!(c.recognise.models.as_deref(), Some(Path::new("/opt/m")));
    let e = error_of(&format!("{GOOD}\n[recognise]\nmodels = \"models\"\n"));
    assert!(
        e.starts_with("/etc/anprd/anprd.toml:27:10: recognise.models: must be an absolute path"),
        "{e}"
    );
}

#[test]
fn broker_urls_parse_with_default_ports() {
    use anprd::config::BrokerUrl;
    let url = |tls, host: &str, port| BrokerUrl {
        tls,
        host: host.into(),
        port,
    };
    let p = |s| BrokerUrl::parse(s).unwrap();
    assert_eq!(p("mqtt://127.0.0.1:1999"), url(false, "127.0.0.1", 1999));
    assert_eq!(
        p("mqtt://broker.example"),
        url(false, "broker.example", 1883)
    );
    assert_eq!(
        p("mqtts://broker.example"),
        url(true, "broker.example", 8883)
    );
    assert_eq!(
        p("mqtts://broker.example:443/"),
        url(true, "broker.example", 443)
    );
    // IPv6 literals keep their brackets, with or without a port.
    assert_eq!(p("mqtt://[::1]:1884"), url(false, "[::1]", 1884));
    assert_eq!(p("mqtt://[::1]"), url(false, "[::1]", 1883));
    assert_eq!(p("mqtts://[fd00::10]"), url(true, "[fd00::10]", 8883));
}

#[test]
fn bad_broker_urls_are_refused_without_echoing_them() {
    for (bad, why) in [
        ("http://secret.example", "must start with"),
        ("mqtt://", "no host"),
        ("mqtt://secret.example:99999", "port"),
        ("mqtt://secret.example:0", "port"),
        ("mqtt://secret.example:x", "port"),
        ("mqtt://secret.example/path", "no path"),
        ("mqtt://user@secret.example", "credentials"),
        ("mqtt://[]:1883", "no host"),
        ("mqtt://[fd00::5ec:1883", "closing"),
        ("mqtt://[fd00::5ec]1883", "after the IPv6 address"),
    ] {
        let err = anprd::config::BrokerUrl::parse(bad).unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
        assert!(
            !err.contains("secret") && !err.contains("5ec"),
            "{bad}: {err}"
        );
    }
}

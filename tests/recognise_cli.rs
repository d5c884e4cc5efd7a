//! `anprd recognise` and `anprd eval` on images this test renders itself
//! (JPEG and PNG, with OpenALPR-format labels), and on bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use anprd::plate::scene::{PlatePlacement, Scene, Vehicle, draw_vehicle, random_body};
use anprd::plate::{PlateStyle, RgbImage, SplitMix64, random_vrm};
use anprd::recognise::eval::{Label, Score, edit_distance, iou, normalise, parse_line};

mod support;
use support::{anprd, text};

/// A 1280×720 road scene with one plate; its text and box.
fn scene(seed: u64, style: PlateStyle) -> (RgbImage, String, [u32; 4]) {
    let (w, h) = (1280, 720);
    let mut rng = SplitMix64::new(seed);
    let vrm = random_vrm(&mut rng);
    let width = rng.range(140.0, 220.0);
    let v = Vehicle::still(&vrm, style, random_body(&mut rng));
    let (cx, cy) = (
        rng.range(0.3, 0.7) * w as f32,
        rng.range(0.5, 0.75) * h as f32,
    );
    let p = PlatePlacement::centred(cx, cy, width);
    let mut img = Scene::new(w, h, seed).background().clone();
    draw_vehicle(&mut img, &v, &p).unwrap();
    (img, vrm, p.to_box())
}

fn write_jpeg(img: &RgbImage, path: &Path) {
    let mut buf = Vec::new();
    jpeg_encoder::Encoder::new(&mut buf, 90)
        .encode(
            &img.data,
            img.width as u16,
            img.height as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    std::fs::write(path, buf).unwrap();
}

fn write_png(img: &RgbImage, path: &Path) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, img.width, img.height);
    enc.set_color(png::ColorType::Rgb);
    enc.write_header()
        .unwrap()
        .write_image_data(&img.data)
        .unwrap();
}

/// Three labelled images (two JPEG, one PNG) in a fresh directory.
fn labelled_dir() -> (tempfile::TempDir, Vec<(PathBuf, String, [u32; 4])>) {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for (i, style) in [PlateStyle::FRONT, PlateStyle::REAR, PlateStyle::FRONT]
        .into_iter()
        .enumerate()
    {
        let (img, vrm, b) = scene(100 + i as u64, style);
        let name = if i == 2 {
            format!("car{i}.png")
        } else {
            format!("car{i}.jpg")
        };
        let path = dir.path().join(&name);
        if i == 2 {
            write_png(&img, &path);
        } else {
            write_jpeg(&img, &path);
        }
        let label = format!("{name}\t{}\t{}\t{}\t{}\t{vrm}\n", b[0], b[1], b[2], b[3]);
        std::fs::write(dir.path().join(format!("car{i}.txt")), label).unwrap();
        out.push((path, vrm, b));
    }
    (dir, out)
}

#[test]
fn recognise_json_reads_rendered_jpeg_and_png() {
    let (dir, cases) = labelled_dir();
    let no_config = dir.path().join("absent.toml");
    let out = anprd(&[
        "recognise",
        "--json",
        "--config",
        no_config.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert_eq!(lines.len(), cases.len(), "{stdout}");
    for (line, (path, vrm, truth)) in lines.iter().zip(&cases) {
        assert_eq!(line["image"], path.to_str().unwrap());
        assert!(line["ms"].as_f64().unwrap() > 0.0);
        let best = &line["plates"][0];
        assert_eq!(best["text"], vrm.as_str(), "{line}");
        assert_eq!(best["format"], "uk-current");
        let chars = best["chars"].as_array().unwrap();
        assert_eq!(chars.len(), vrm.len());
        assert_eq!(chars[0]["char"], &vrm[..1]);
        assert!(
            chars
                .iter()
                .all(|c| c["confidence"].as_f64().unwrap() > 0.3)
        );
        let b: Vec<u32> = best["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert!(
            iou(&[b[0], b[1], b[2], b[3]], truth) > 0.5,
            "{b:?} vs {truth:?}"
        );
        let corners = best["corners"].as_array().unwrap();
        assert_eq!(corners.len(), 4);
        // Corners lie around the box: clockwise from top left.
        let c = |i: usize, k: usize| corners[i][k].as_f64().unwrap();
        assert!(c(0, 0) < c(1, 0) && c(1, 1) < c(2, 1) && c(3, 0) < c(2, 0));
        let conf: Vec<f64> = line["plates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["confidence"].as_f64().unwrap())
            .collect();
        assert!(
            conf.windows(2).all(|w| w[0] >= w[1]),
            "most confident first"
        );
    }

    // The table names every image and plate; --as-frame reads as the
    // daemon reads a video frame.
    let out = anprd(&[
        "recognise",
        "--as-frame",
        "--config",
        no_config.to_str().unwrap(),
        cases[2].0.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let table = text(&out.stdout);
    assert!(
        table.contains(&cases[2].1) && table.contains("car2.png"),
        "{table}"
    );
}

/// `anprd eval [FLAGS] --config CONFIG DIR`.
fn eval(config: &Path, dir: &Path, flags: &[&str]) -> std::process::Output {
    let mut args = vec!["eval"];
    args.extend(flags);
    args.extend(["--config", config.to_str().unwrap(), dir.to_str().unwrap()]);
    anprd(&args)
}

#[test]
fn eval_scores_rendered_labelled_images() {
    let (dir, _) = labelled_dir();
    let no_config = dir.path().join("absent.toml");
    let out = eval(&no_config, dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("3 images, 3 plates"), "{stdout}");
    assert!(stdout.contains("exact 100.0% (3)"), "{stdout}");
    assert!(stdout.contains("centre-in-box 100.0%"), "{stdout}");
    assert!(stdout.contains("chars 100.0%"), "{stdout}");

    // Looked at as video frames (no tiles), the same large plates read too.
    let out = eval(&no_config, dir.path(), &["--as-frame"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("exact 100.0% (3)"), "{stdout}");
    assert!(
        !stdout.contains("miss\t"),
        "misses are listed only when asked for"
    );
}

#[test]
fn eval_lists_the_plates_it_missed_when_asked() {
    let (dir, cases) = labelled_dir();
    let no_config = dir.path().join("absent.toml");
    // car1's label names another plate, and a fourth plate is labelled
    // where car2's picture has only road.
    let label = |name: &str, b: &[u32; 4], text: &str| {
        format!("{name}\t{}\t{}\t{}\t{}\t{text}\n", b[0], b[1], b[2], b[3])
    };
    let (path1, vrm1, b1) = &cases[1];
    std::fs::write(
        dir.path().join("car1.txt"),
        label("car1.jpg", b1, "ZZ99ZZZ"),
    )
    .unwrap();
    let (path2, vrm2, b2) = &cases[2];
    let both = label("car2.png", b2, vrm2) + &label("car2.png", &[0, 0, 20, 10], "AB12CDE");
    std::fs::write(dir.path().join("car2.txt"), both).unwrap();
    let out = eval(&no_config, dir.path(), &["--misses"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let misses: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with("miss\t"))
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(misses.len(), 2, "{stdout}");
    assert_eq!(
        misses[0][..4],
        [
            "miss",
            path1.to_str().unwrap(),
            "ZZ99ZZZ",
            vrm1.replace(' ', "").as_str()
        ],
        "{stdout}"
    );
    let confidence: f32 = misses[0][4].parse().unwrap();
    assert!((0.0..=1.0).contains(&confidence), "{stdout}");
    assert_eq!(
        misses[1],
        ["miss", path2.to_str().unwrap(), "AB12CDE", "-", "-"],
        "{stdout}"
    );
    assert!(stdout.contains("4 plates | exact 50.0% (2)"), "{stdout}");
}

#[test]
fn eval_reads_a_file_holding_only_the_recognise_section() {
    let (dir, _) = labelled_dir();
    let conf_dir = tempfile::tempdir().unwrap();
    let cfg = conf_dir.path().join("recognise.toml");
    // Only a format no UK mark fits (nine digits: fixes never change a
    // read's length), and reads fitting none rejected: the UK plates read
    // right are dropped, so none scores exact. No [gateway],
    // [mqtt] or [[camera]]: eval needs none of them.
    std::fs::write(
        &cfg,
        "[recognise]\nformats = []\nunmatched = \"reject\"\n\n\
         [[recognise.pattern]]\nname = \"nine\"\npattern = \"D{9}\"\n",
    )
    .unwrap();
    let out = eval(&cfg, dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("3 images, 3 plates"), "{stdout}");
    assert!(stdout.contains("exact 0.0% (0)"), "{stdout}");

    // A mistake in that section is named by file, line and key.
    std::fs::write(&cfg, "[recognise]\nmax_fixes = 9\n").unwrap();
    let out = eval(&cfg, dir.path(), &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("recognise.toml:2:")
            && err.contains("recognise.max_fixes: must be between 0 and 4, not 9"),
        "{err}"
    );
}

#[test]
fn bad_images_and_labels_are_named_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let no_config = dir.path().join("absent.toml");
    let cfg = no_config.to_str().unwrap();
    let broken = dir.path().join("broken.jpg");
    std::fs::write(&broken, b"\xFF\xD8 not really a jpeg").unwrap();
    let out = anprd(&["recognise", "--config", cfg, broken.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("broken.jpg") && err.contains("JPEG does not decode"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // Headers claiming enormous pictures in a few dozen bytes: refused by
    // their size before anything is allocated (the process used to abort).
    let png_bomb = dir.path().join("bomb.png");
    std::fs::write(&png_bomb, png_claiming(65_536, 2_147_483_647)).unwrap();
    let jpeg_bomb = dir.path().join("bomb.jpg");
    std::fs::write(&jpeg_bomb, jpeg_claiming(65_535, 65_535)).unwrap();
    for bomb in [&png_bomb, &jpeg_bomb] {
        let out = anprd(&["recognise", "--config", cfg, bomb.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("bomb.") && err.contains("larger than"),
            "{err}"
        );
    }

    let missing = dir.path().join("missing.png");
    let out = anprd(&["recognise", "--config", cfg, missing.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("missing.png: cannot open"));

    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "car.jpg\t1\t2\tthree\t4\tAB12CDE\n").unwrap();
    let out = anprd(&["eval", "--config", cfg, dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("notes.txt:1") && err.contains("`three` is not a pixel coordinate"),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    let out = anprd(&["eval", "--config", cfg, empty.path().to_str().unwrap()]);
    assert!(text(&out.stderr).contains("no label files"));
}

#[test]
fn scoring_rules() {
    assert_eq!(normalise("ab-12 cOe"), "AB12C0E");
    assert_eq!(edit_distance("AB12CDE", "AB12CDE"), 0);
    assert_eq!(edit_distance("AB12CDE", "AB2CDE"), 1);
    assert_eq!(edit_distance("", "ABC"), 3);
    assert_eq!(iou(&[0, 0, 10, 10], &[5, 0, 10, 10]), 50.0 / 150.0);
    assert_eq!(iou(&[0, 0, 10, 10], &[20, 20, 5, 5]), 0.0);
    let l = parse_line(Path::new("/d"), "a.jpg\t-1\t5\t20\t10\tAB1 2C").unwrap();
    assert_eq!(l.image, Path::new("/d/a.jpg"));
    assert_eq!(l.plate_box, [0, 5, 19, 10], "clipped to the image");
    assert_eq!(l.text, "AB12C");
    // Boxes whose sums or areas pass u32 (or i64) are refused or scored,
    // never overflowed.
    for huge in [
        "a.jpg\t4294967295\t0\t5\t5\tAB1",
        "a.jpg\t9223372036854775807\t0\t5\t5\tAB1",
        "a.jpg\t0\t9223372036854775807\t0\t9223372036854775807\tAB1",
    ] {
        let err = parse_line(Path::new("/d"), huge).unwrap_err();
        assert!(err.to_string().contains("box too large"), "{huge}: {err}");
    }
    let big = parse_line(Path::new("/d"), "a.jpg\t0\t0\t70000\t70000\tAB1").unwrap();
    assert_eq!(iou(&big.plate_box, &big.plate_box), 1.0);
    assert_eq!(iou(&[u32::MAX - 1, 0, 1, 1], &[0, 0, 70_000, 70_000]), 0.0);

    let label = Label {
        image: "x".into(),
        plate_box: [100, 100, 100, 20],
        text: "AB12COE".into(),
    };
    let read = |t: &str, b: [u32; 4]| anprd::recognise::PlateCandidate {
        text: t.into(),
        confidence: 0.9,
        char_confidence: vec![0.9; t.len()],
        char_at: Vec::new(),
        plate_box: b,
        corners: anprd::recognise::box_corners(b),
        format: None,
    };
    let mut s = Score::default();
    let missed = s.add(
        std::slice::from_ref(&label),
        &[read("AB12C0E", [102, 98, 100, 24])],
        1.0,
    );
    assert!(missed.is_empty(), "O and 0 are equal: {missed:?}");
    let missed = s.add(
        std::slice::from_ref(&label),
        &[read("AB12CDE", [300, 98, 100, 24])],
        2.0,
    );
    assert_eq!(missed.len(), 1);
    assert_eq!(
        (missed[0].truth.as_str(), &missed[0].read),
        ("AB12COE", &None),
        "a read off the plate is no read of it"
    );
    let missed = s.add(
        std::slice::from_ref(&label),
        &[read("A812CDE", [100, 100, 180, 30])],
        3.0,
    );
    assert_eq!(missed[0].read, Some(("A812CDE".to_string(), 0.9)));
    assert_eq!(missed[0].to_string(), "miss\tx\tAB12COE\tA812CDE\t0.900");
    assert_eq!((s.images, s.plates), (3, 3));
    assert_eq!(s.exact, 1, "O and 0 are equal");
    assert_eq!((s.found_iou, s.found_centre), (1, 2));
    assert_eq!(s.false_reads, 1);
    assert_eq!((s.chars, s.chars_right), (21, 7 + 5));
    assert_eq!(
        (s.kept_exact, s.kept_false_reads),
        (1, 1),
        "a plain Score keeps every read"
    );

    // Scored as the daemon keeps reads: an unsure exact read and an unsure
    // false read count in the totals but not among the kept.
    let unsure = |t: &str, b: [u32; 4], confidence: f32| anprd::recognise::PlateCandidate {
        confidence,
        ..read(t, b)
    };
    let mut kept = Score::keeping_from(0.5);
    kept.add(
        &[label],
        &[
            unsure("AB12COE", [100, 100, 100, 20], 0.4),
            unsure("XY", [300, 300, 40, 10], 0.3),
            unsure("ZZ99ZZZ", [500, 300, 40, 10], 0.6),
        ],
        1.0,
    );
    assert_eq!((kept.exact, kept.kept_exact), (1, 0));
    assert_eq!((kept.false_reads, kept.kept_false_reads), (2, 1));
    let line = kept.summary("set");
    assert!(
        line.contains("kept (confidence ≥ 0.50): exact 0.0%, false reads 1"),
        "{line}"
    );
}

#[test]
fn synth_plates_write_labels_that_eval_reads() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_anprd-synth"))
        .args(["plates", "--count", "6", "--seed", "3", "--width", "480"])
        .args(["--height", "320", "--crops", "96x24", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let jsonl = std::fs::read_to_string(dir.path().join("labels.jsonl")).unwrap();
    let labels: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(labels.len(), 6);
    let rules = anprd::recognise::rules::PlateRules::uk();
    for l in &labels {
        let t = l["text"].as_str().unwrap();
        assert_eq!(
            rules.judge(t).format.as_deref(),
            l["format"].as_str(),
            "{t}"
        );
        assert_eq!(l["corners"].as_array().unwrap().len(), 4);
        assert!(l["two_line"].is_boolean(), "{l}");
        let file = dir.path().join(l["file"].as_str().unwrap());
        let img = anprd::recognise::image_file::load_luma(&file).unwrap();
        assert_eq!((img.width, img.height), (480, 320));
        let crop = anprd::recognise::image_file::load_luma(
            &dir.path().join("crops").join(l["file"].as_str().unwrap()),
        )
        .unwrap();
        assert_eq!((crop.width, crop.height), (96, 24));
    }
    let cfg = dir.path().join("absent.toml");
    let out = eval(&cfg, dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("6 images, 6 plates"));
}

/// CRC-32 (as PNG chunks carry it).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header says `w`×`h` grey pixels, with the start of its data.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let body = [kind, data].concat();
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x01]);
    out
}

/// A progressive JPEG whose frame header says `w`×`h` colour pixels.
fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    // One quantisation table of ones.
    out.extend([0xFF, 0xDB, 0x00, 0x43, 0x00]);
    out.extend([1u8; 64]);
    // SOF2: 8-bit, h, w, three components sampled 1×1 on table 0.
    out.extend([0xFF, 0xC2, 0x00, 0x11, 0x08]);
    out.extend(h.to_be_bytes());
    out.extend(w.to_be_bytes());
    out.extend([0x03, 0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00]);
    out.extend([0xFF, 0xD9]);
    out
}

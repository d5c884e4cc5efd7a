//! Golden test of the classical recogniser: plates drawn with the renderer at
//! several sizes and colours, on vehicles in a road scene, some softened and
//! JPEG-compressed like camera video, must be read exactly.

use std::time::Instant;

use anprd::capture::Frame;
use anprd::plate::scene::{PlatePlacement, Scene, Vehicle, draw_vehicle, random_body};
use anprd::plate::{PlateStyle, RgbImage, SplitMix64, random_vrm};
use anprd::recognise::Recogniser;
use anprd::recognise::classic::ClassicRecogniser;

const W: u32 = 1280;
const H: u32 = 720;

/// Round trip through JPEG at `quality`: blocking and ringing like video.
fn compress(img: &RgbImage, quality: u8) -> RgbImage {
    let mut buf = Vec::new();
    jpeg_encoder::Encoder::new(&mut buf, quality)
        .encode(
            &img.data,
            img.width as u16,
            img.height as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .expect("JPEG encode");
    let mut dec = jpeg_decoder::Decoder::new(&buf[..]);
    let data = dec.decode().expect("JPEG decode");
    RgbImage {
        width: img.width,
        height: img.height,
        data,
    }
}

/// 3×3 box blur: a slightly soft lens.
fn blur(img: &RgbImage) -> RgbImage {
    let (w, h) = (img.width as usize, img.height as usize);
    let mut out = img.clone();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            for k in 0..3 {
                let mut s = 0u32;
                for dy in 0..3 {
                    for dx in 0..3 {
                        s += img.data[((y + dy - 1) * w + x + dx - 1) * 3 + k] as u32;
                    }
                }
                out.data[(y * w + x) * 3 + k] = ((s + 4) / 9) as u8;
            }
        }
    }
    out
}

struct Case {
    vrm: String,
    frame: Frame,
    truth: [u32; 4],
    width: u32,
}

fn cases(n: usize, (w, h): (u32, u32), widths: &[f32], seed: u64) -> Vec<Case> {
    let scene = Scene::new(w, h, seed);
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let vrm = random_vrm(&mut rng);
            let width = widths[i % widths.len()] + rng.range(-4.0, 4.0);
            let style = if i % 2 == 0 {
                PlateStyle::FRONT
            } else {
                PlateStyle::REAR
            };
            let v = Vehicle::still(&vrm, style, random_body(&mut rng));
            let (cx, cy) = (
                rng.range(0.25, 0.75) * w as f32,
                rng.range(0.45, 0.8) * h as f32,
            );
            let p = PlatePlacement::centred(cx, cy, width);
            let mut img = scene.background().clone();
            draw_vehicle(&mut img, &v, &p).expect("valid plate");
            let img = match i % 3 {
                0 => compress(&img, 75),
                1 => compress(&blur(&img), 85),
                _ => img,
            };
            Case {
                vrm,
                frame: img.to_frame(i as u64, 0),
                truth: p.to_box(),
                width: width as u32,
            }
        })
        .collect()
}

fn iou(a: &[u32; 4], b: &[u32; 4]) -> f32 {
    let ix = ((a[0] + a[2]).min(b[0] + b[2]) as f32 - a[0].max(b[0]) as f32).max(0.0);
    let iy = ((a[1] + a[3]).min(b[1] + b[3]) as f32 - a[1].max(b[1]) as f32).max(0.0);
    let inter = ix * iy;
    inter / ((a[2] * a[3] + b[2] * b[3]) as f32 - inter)
}

/// Reads every case; returns the fraction read exactly with a good box.
fn score(cases: &[Case]) -> f32 {
    let mut rec = ClassicRecogniser::new();
    let mut correct = 0;
    let mut spent = std::time::Duration::ZERO;
    for c in cases {
        let t = Instant::now();
        let found = rec.recognise(&c.frame);
        spent += t.elapsed();
        let best = found.first();
        let ok = best.is_some_and(|b| b.text == c.vrm && iou(&b.plate_box, &c.truth) > 0.5);
        if let Some(b) = best {
            assert_eq!(b.char_confidence.len(), b.text.chars().count());
            assert!((0.0..=1.0).contains(&b.confidence));
        }
        if ok {
            correct += 1;
        } else {
            eprintln!(
                "{} at {} px (case {}): got {:?}",
                c.vrm,
                c.width,
                c.frame.seq,
                found
                    .iter()
                    .map(|f| (&f.text, f.confidence, f.plate_box))
                    .collect::<Vec<_>>()
            );
        }
    }
    let acc = correct as f32 / cases.len() as f32;
    let f = &cases[0].frame;
    eprintln!(
        "classic recogniser: {correct}/{} exact ({:.1} %), {:.1} ms per {}x{} frame",
        cases.len(),
        acc * 100.0,
        spent.as_secs_f64() * 1000.0 / cases.len() as f64,
        f.width,
        f.height
    );
    acc
}

#[test]
fn reads_rendered_plates_exactly() {
    let acc = score(&cases(48, (W, H), &[100.0, 160.0, 250.0], 2024));
    assert!(acc >= 0.95, "accuracy {acc}");
}

#[test]
fn reads_small_and_large_plates_in_full_hd() {
    let acc = score(&cases(30, (1920, 1080), &[82.0, 130.0, 400.0], 77));
    assert!(acc >= 0.9, "accuracy {acc}");
}

#[test]
fn empty_road_yields_no_plate() {
    let mut rec = ClassicRecogniser::new();
    for seed in [1, 2, 3] {
        let scene = Scene::new(W, H, seed);
        let frame = compress(scene.background(), 80).to_frame(0, 0);
        let found = rec.recognise(&frame);
        assert!(found.is_empty(), "seed {seed}: {found:?}");
    }
}

#[test]
fn vehicle_without_readable_plate_yields_nothing() {
    // A plate too small to read (40 px) on a vehicle: no guess is better than garbage.
    let scene = Scene::new(W, H, 5);
    let mut img = scene.background().clone();
    let v = Vehicle {
        vrm: "AB12CDE".into(),
        style: PlateStyle::FRONT,
        body: [40, 42, 48],
        enter_s: 0.0,
        pass_s: 1.0,
        lane: 0.0,
        receding: false,
    };
    let p = PlatePlacement {
        x: 620.0,
        y: 400.0,
        width: 40.0,
        height: 40.0 * 111.0 / 520.0,
    };
    draw_vehicle(&mut img, &v, &p).unwrap();
    let found = ClassicRecogniser::new().recognise(&img.to_frame(0, 0));
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn malformed_frame_is_refused_without_panic() {
    let frame = Frame {
        seq: 9,
        captured_at: 0,
        width: 640,
        height: 360,
        luma: vec![0; 100].into(),
        chroma: None,
    };
    assert!(ClassicRecogniser::new().recognise(&frame).is_empty());
}

#[test]
fn reads_older_and_short_formats_without_forcing_the_current_one() {
    // Prefix (A123 BCD), suffix (ABC 123D) and short cherished plates.
    let plates = [
        "A123 BCD", "ABC 123D", "K1 NGS", "R8 HXT", "M456 XKP", "XJB 739L",
    ];
    let scene = Scene::new(W, H, 8);
    let mut rec = ClassicRecogniser::new();
    let mut correct = 0;
    for (i, text) in plates.iter().enumerate() {
        for width in [120.0f32, 220.0] {
            let v = Vehicle {
                vrm: text.to_string(),
                style: PlateStyle::FRONT,
                body: [60, 60, 140],
                enter_s: 0.0,
                pass_s: 1.0,
                lane: 0.0,
                receding: false,
            };
            let p = PlatePlacement {
                x: 400.0 + 60.0 * i as f32,
                y: 420.0,
                width,
                height: width * 111.0 / 520.0,
            };
            let mut img = scene.background().clone();
            draw_vehicle(&mut img, &v, &p).unwrap();
            let found = rec.recognise(&compress(&img, 80).to_frame(0, 0));
            let want = text.replace(' ', "");
            match found.first() {
                Some(c) if c.text == want => correct += 1,
                other => eprintln!("{text} at {width} px: {other:?}"),
            }
        }
    }
    assert!(correct >= 11, "{correct}/12 read");
}

/// `img` turned by `deg` degrees about (`cx`, `cy`): camera roll.
fn rotate(img: &RgbImage, deg: f32, cx: f32, cy: f32) -> RgbImage {
    let (w, h) = (img.width as usize, img.height as usize);
    let (s, c) = deg.to_radians().sin_cos();
    let mut out = img.clone();
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let sx = (cx + c * dx + s * dy - 0.5).clamp(0.0, (w - 2) as f32);
            let sy = (cy - s * dx + c * dy - 0.5).clamp(0.0, (h - 2) as f32);
            let (ix, iy) = (sx as usize, sy as usize);
            let (ax, ay) = (sx - ix as f32, sy - iy as f32);
            for k in 0..3 {
                let p = |xx: usize, yy: usize| img.data[(yy * w + xx) * 3 + k] as f32;
                let top = p(ix, iy) * (1.0 - ax) + p(ix + 1, iy) * ax;
                let bot = p(ix, iy + 1) * (1.0 - ax) + p(ix + 1, iy + 1) * ax;
                out.data[(y * w + x) * 3 + k] = (top * (1.0 - ay) + bot * ay).round() as u8;
            }
        }
    }
    out
}

#[test]
fn reads_tilted_plates() {
    let scene = Scene::new(W, H, 21);
    let mut rng = SplitMix64::new(31);
    let mut rec = ClassicRecogniser::new();
    let angles = [-7.0f32, -4.0, -2.0, 2.0, 4.0, 7.0];
    let mut correct = 0;
    let n = angles.len() * 2;
    for (i, deg) in angles.iter().chain(&angles).enumerate() {
        let vrm = random_vrm(&mut rng);
        let width = if i < angles.len() { 130.0 } else { 220.0 };
        let v = Vehicle {
            vrm: vrm.clone(),
            style: PlateStyle::REAR,
            body: random_body(&mut rng),
            enter_s: 0.0,
            pass_s: 1.0,
            lane: 0.0,
            receding: true,
        };
        let p = PlatePlacement {
            x: 640.0 - width * 0.5,
            y: 440.0,
            width,
            height: width * 111.0 / 520.0,
        };
        let mut img = scene.background().clone();
        draw_vehicle(&mut img, &v, &p).unwrap();
        let (cx, cy) = (640.0, 440.0 + p.height * 0.5);
        let img = compress(&rotate(&img, *deg, cx, cy), 80);
        let found = rec.recognise(&img.to_frame(0, 0));
        match found.first() {
            Some(c) if c.text == vrm => {
                let b = c.plate_box;
                assert!(b[0] as f32 <= cx && (b[0] + b[2]) as f32 >= cx, "{b:?}");
                assert!(b[1] as f32 <= cy && (b[1] + b[3]) as f32 >= cy, "{b:?}");
                correct += 1;
            }
            other => eprintln!("{vrm} at {width} px, {deg}°: {other:?}"),
        }
    }
    assert!(correct * 10 >= n * 9, "{correct}/{n} tilted plates read");
}

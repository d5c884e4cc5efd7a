//! Recognition speed per frame and per plate crop, for each engine.
//!
//! Run on one core: `taskset -c 0 cargo bench --bench recognise`.
//! Reports median and p90 per 1280×720 frame, per 1920×1080 frame and per
//! plate crop, the engine's load time, and each figure as a ratio to a
//! baseline measured in the same run (one 3×3 box blur over the same frame,
//! a memory-bound pass every engine must at least match), so numbers from
//! different machines compare. The targets are printed beside them.
//! Last, what taking a read's pictures (plate patch and overview) costs.

#[path = "common.rs"]
mod common;

use std::time::Instant;

use anprd::capture::{Chroma, Frame};
use anprd::imaging::Snapshot;
use anprd::plate::scene::{PlatePlacement, Scene, Vehicle, draw_vehicle, random_body};
use anprd::plate::{PlateStyle, SplitMix64, random_vrm, render_plate};
use anprd::recognise::Recogniser;
use anprd::recognise::classic::ClassicRecogniser;
use anprd::recognise::image_file::frame;
use anprd::recognise::neural::{NeuralModels, NeuralRecogniser, default_models_dir};

/// Frames of `w`×`h` with one plate each, of varied size and place.
fn frames(w: u32, h: u32, n: usize) -> Vec<Frame> {
    let scene = Scene::new(w, h, 11);
    let mut rng = SplitMix64::new(w as u64);
    (0..n)
        .map(|i| {
            let vrm = random_vrm(&mut rng);
            let width = rng.range(0.1, 0.25) * w as f32;
            let style = [PlateStyle::FRONT, PlateStyle::REAR][i % 2];
            let v = Vehicle::still(&vrm, style, random_body(&mut rng));
            let (cx, cy) = (
                rng.range(0.25, 0.75) * w as f32,
                rng.range(0.5, 0.8) * h as f32,
            );
            let p = PlatePlacement::centred(cx, cy, width);
            let mut img = scene.background().clone();
            draw_vehicle(&mut img, &v, &p).expect("plate fits");
            img.to_frame(i as u64, 0)
        })
        .collect()
}

/// The plate's corners in a crop from [`crops`].
fn crop_quad(f: &Frame) -> [[f32; 2]; 4] {
    let (w, h) = ((f.width - 40) as f32, (f.height - 30) as f32);
    [[40.0, 30.0], [w, 30.0], [w, h], [40.0, h]]
}

/// Plate crops as a reader would get them: the plate and a small margin.
fn crops(n: usize) -> Vec<Frame> {
    let mut rng = SplitMix64::new(5);
    (0..n)
        .map(|_| {
            let plate = render_plate(&random_vrm(&mut rng), PlateStyle::FRONT, 200)
                .expect("plate fits")
                .to_gray();
            let (w, h) = (plate.width + 80, plate.height + 60);
            let mut luma = vec![90u8; (w * h) as usize];
            for y in 0..plate.height {
                let at = ((y + 30) * w + 40) as usize;
                let row = &plate.data[(y * plate.width) as usize..((y + 1) * plate.width) as usize];
                luma[at..at + plate.width as usize].copy_from_slice(row);
            }
            frame(w, h, luma)
        })
        .collect()
}

/// Median and p90 in milliseconds of `f` over `inputs`, `rounds` times each.
fn time(inputs: &[Frame], rounds: usize, mut f: impl FnMut(&Frame) -> usize) -> (f64, f64) {
    let mut ms = Vec::new();
    let mut sink = 0;
    for _ in 0..rounds {
        for fr in inputs {
            let t = Instant::now();
            sink += f(fr);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    std::hint::black_box(sink);
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}

/// The baseline: a 3×3 box blur of the luma plane.
fn box_blur(f: &Frame) -> usize {
    let (w, h) = (f.width as usize, f.height as usize);
    let mut out = vec![0u8; w * h];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let mut s = 0u32;
            for dy in 0..3 {
                let row = &f.luma[(y + dy - 1) * w + x - 1..(y + dy - 1) * w + x + 2];
                s += row.iter().map(|&v| v as u32).sum::<u32>();
            }
            out[y * w + x] = (s / 9) as u8;
        }
    }
    out[w + 1] as usize
}

fn main() {
    if common::answered_test_listing() {
        return;
    }
    let sets = [
        ("frame 1280x720", frames(1280, 720, 12), 15.0),
        ("frame 1920x1080", frames(1920, 1080, 12), 25.0),
        ("plate crop", crops(24), 2.0),
    ];
    println!(
        "{:<10} {:<16} {:>9} {:>9} {:>11} {:>9}",
        "engine", "input", "median ms", "p90 ms", "× baseline", "target ms"
    );
    let mut bases = Vec::new();
    for (name, inputs, _) in &sets {
        let (base, base90) = time(inputs, 3, box_blur);
        println!(
            "{:<10} {name:<16} {base:>9.3} {base90:>9.3} {:>11} {:>9}",
            "baseline", "1.00", "-"
        );
        bases.push(base);
    }
    let t = Instant::now();
    let mut classic = ClassicRecogniser::new();
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    for ((name, inputs, target), base) in sets.iter().zip(&bases) {
        let (med, p90) = time(inputs, 3, |f| classic.recognise(f).len());
        let found = inputs
            .iter()
            .filter(|f| !classic.recognise(f).is_empty())
            .count();
        println!(
            "{:<10} {name:<16} {med:>9.3} {p90:>9.3} {:>11.2} {target:>9.1}  (a plate read in {found}/{})",
            "classic",
            med / base,
            inputs.len()
        );
    }
    println!("classic    load time {load_ms:.2} ms (target ≤ 200 ms)");
    neural(&sets, &bases);
    snapshots(&sets, &bases);
}

/// What a read's pictures cost to take from a camera frame (I420, as
/// cameras deliver): the plate patch and the overview, resampled, as
/// grouping does for each better reading of a track (JPEG encoding comes
/// once per read, later).
fn snapshots(sets: &[(&str, Vec<Frame>, f64)], bases: &[f64]) {
    for ((name, inputs, _), base) in sets
        .iter()
        .zip(bases)
        .filter(|((n, ..), _)| n.starts_with("frame"))
    {
        let coloured: Vec<Frame> = inputs
            .iter()
            .map(|f| {
                let half = (f.width.div_ceil(2) * f.height.div_ceil(2)) as usize;
                let mut f = f.clone();
                f.chroma = Some(Chroma {
                    u: vec![100; half].into(),
                    v: vec![150; half].into(),
                });
                f
            })
            .collect();
        let (med, p90) = time(&coloured, 3, |f| {
            let plate = [f.width / 3, f.height / 2, f.width / 8, f.width / 36];
            std::hint::black_box(Snapshot::of(f, plate));
            1
        });
        println!(
            "{:<10} {name:<16} {med:>9.3} {p90:>9.3} {:>11.2} {:>9}  (plate patch and overview, resampled)",
            "snapshot",
            med / base,
            "-"
        );
    }
}

/// The neural engine: whole frames (letterbox, detector, and the reader for
/// any plate found), blank frames (letterbox and detector), and the reader alone on a crop's known corners, one
/// plate per run and four per run (as a frame with four plates batches).
fn neural(sets: &[(&str, Vec<Frame>, f64)], bases: &[f64]) {
    let t = Instant::now();
    let models = match NeuralModels::load(&default_models_dir()) {
        Ok(m) => m,
        Err(e) => {
            println!("neural     not measured: {e:#}");
            return;
        }
    };
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut engine = NeuralRecogniser::new(models.clone());
    let row = |name: &str, (med, p90): (f64, f64), base: f64, target: f64, note: &str| {
        println!(
            "{:<10} {name:<16} {med:>9.3} {p90:>9.3} {:>11.2} {target:>9.1}  {note}",
            "neural",
            med / base
        );
    };
    for ((name, inputs, target), &base) in sets.iter().zip(bases) {
        if name.starts_with("frame") {
            let times = time(inputs, 3, |f| engine.recognise(f).len());
            let found = inputs
                .iter()
                .filter(|f| !engine.recognise(f).is_empty())
                .count();
            let note = format!("(a plate read in {found}/{})", inputs.len());
            row(name, times, base, *target, &note);
            // Letterbox and detector alone: nothing in the frame to read.
            let (w, h) = (inputs[0].width, inputs[0].height);
            let blank = [frame(w, h, vec![128; (w * h) as usize])];
            let times = time(&blank, 24, |f| engine.recognise(f).len());
            row(
                name,
                times,
                base,
                *target,
                "(letterbox and detector: a blank frame)",
            );
        } else {
            let times = time(inputs, 3, |f| {
                engine.read_quads(f, &[(crop_quad(f), false)]).len()
            });
            row(
                name,
                times,
                base,
                *target,
                "(reader alone, one plate per run)",
            );
            let (med, p90) = time(inputs, 3, |f| {
                engine.read_quads(f, &[(crop_quad(f), false); 4]).len()
            });
            let per_plate = (med / 4.0, p90 / 4.0);
            row(
                name,
                per_plate,
                base,
                *target,
                "(reader alone, four plates per run, per plate)",
            );
        }
    }
    println!(
        "neural     load time {load_ms:.2} ms (target ≤ 200 ms; models {} from {})",
        models.version(),
        models.dir().display()
    );
}

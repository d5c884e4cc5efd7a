//! How much the detector's corners cost the reader: exact reads (no plate
//! rules, O and 0 equal) from the true corners and from the detector, by
//! plate width, kind (lines, colour, infrared) and format, on a directory
//! written by `anprd-synth plates`.
//!
//!     cargo run --release --example true_corners -- DIR [MODELS_DIR] [--no-close-ups] [--no-deskew]
//!         [--no-second-looks] [--no-refine] [--no-invert] [--sure-enough=S]
//!
//! Also prints the detector path's mean time per picture.

use std::collections::BTreeMap;
use std::path::Path;

use anprd::recognise::Recogniser;
use anprd::recognise::neural::{NeuralModels, NeuralRecogniser};

fn normalise(s: &str) -> String {
    s.to_uppercase().replace('O', "0").replace(' ', "")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let close_ups = !args.iter().any(|a| a == "--no-close-ups");
    let sure_enough: Option<f32> = args
        .iter()
        .find_map(|a| a.strip_prefix("--sure-enough="))
        .map(|v| v.parse().expect("--sure-enough=S takes a number"));
    let mut paths = args.iter().filter(|a| !a.starts_with("--"));
    let dir = Path::new(paths.next().expect("usage: true_corners DIR [MODELS_DIR]"));
    let models = NeuralModels::load(Path::new(paths.next().map_or("models", |s| s.as_str())))?;
    let mut engine = NeuralRecogniser::new(models);
    engine.set_close_ups(close_ups);
    engine.set_deskew(!args.iter().any(|a| a == "--no-deskew"));
    engine.set_second_looks(!args.iter().any(|a| a == "--no-second-looks"));
    engine.set_refine(!args.iter().any(|a| a == "--no-refine"));
    engine.set_invert_light_on_dark(!args.iter().any(|a| a == "--no-invert"));
    if let Some(s) = sure_enough {
        engine.set_sure_enough(s);
    }
    let mut detector_time = std::time::Duration::ZERO;
    // By width band: pictures, exact from the true corners, exact from the detector.
    let mut bands = BTreeMap::<String, [usize; 3]>::new();
    for line in std::fs::read_to_string(dir.join("labels.jsonl"))?.lines() {
        let label: serde_json::Value = serde_json::from_str(line)?;
        let file = dir.join(label["file"].as_str().unwrap_or_default());
        let frame = anprd::recognise::image_file::load_luma(&file)?;
        let truth = normalise(label["text"].as_str().unwrap_or_default());
        let corner = |i: usize, j: usize| label["corners"][i][j].as_f64().unwrap_or(0.0) as f32;
        let quad = [0, 1, 2, 3].map(|i| [corner(i, 0), corner(i, 1)]);
        let two_line = label["two_line"].as_bool().unwrap_or(false);
        let from_truth = engine
            .read_quads(&frame, &[(quad, two_line)])
            .first()
            .is_some_and(|p| normalise(&p.text) == truth);
        let b = [0, 1, 2, 3].map(|i| label["box"][i].as_u64().unwrap_or(0) as u32);
        let (cx, cy) = (b[0] + b[2] / 2, b[1] + b[3] / 2);
        let started = std::time::Instant::now();
        let plates = engine.recognise(&frame);
        detector_time += started.elapsed();
        let from_detector = plates
            .iter()
            .filter(|p| {
                let [x, y, w, h] = p.plate_box;
                (x..=x + w).contains(&cx) && (y..=y + h).contains(&cy)
            })
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
            .is_some_and(|p| normalise(&p.text) == truth);
        let width = label["width_px"].as_f64().unwrap_or(0.0);
        let band = match width {
            w if w < 80.0 => "  60-80 px",
            w if w < 120.0 => " 80-120 px",
            w if w < 200.0 => "120-200 px",
            _ => "200-400 px",
        };
        let kind = format!(
            "{}{} {}",
            if two_line { "two-line " } else { "" },
            label["colour"].as_str().unwrap_or("?"),
            if label["ir"].as_bool().unwrap_or(false) {
                "infrared"
            } else {
                ""
            }
        );
        let format = label["format"].as_str().unwrap_or("?").to_string();
        for key in ["       all".to_string(), band.to_string(), kind, format] {
            let tally = bands.entry(key).or_default();
            tally[0] += 1;
            tally[1] += usize::from(from_truth);
            tally[2] += usize::from(from_detector);
        }
    }
    let pct = |a: usize, n: usize| 100.0 * a as f64 / n.max(1) as f64;
    let pictures = bands.get("       all").map_or(0, |t| t[0]);
    println!(
        "detector path: {:.2} ms per picture (mean, decoding excluded)",
        detector_time.as_secs_f64() * 1e3 / pictures.max(1) as f64
    );
    for (band, [n, truth, detector]) in bands {
        println!(
            "{band}: {n:5} plates, exact from the true corners {:5.1} %, from the detector {:5.1} %",
            pct(truth, n),
            pct(detector, n)
        );
    }
    Ok(())
}

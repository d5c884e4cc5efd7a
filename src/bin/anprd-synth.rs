//! anprd-synth: makes synthetic traffic clips with ground truth, to exercise
//! and score the daemon without a camera on a real road.

use std::path::PathBuf;
use std::process::ExitCode;

use anprd::plate::clip::{ClipSpec, Traffic, write_clip, write_truth};
use anprd::plate::{GrayImage, SplitMix64, degrade, sample};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "anprd-synth", version, about = "Synthetic ANPR test clips")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Render vehicles passing one after another into a video file.
    Clip(ClipArgs),
    /// Write labelled still pictures of plates (training and test data).
    Plates(PlatesArgs),
}

#[derive(clap::Args)]
struct PlatesArgs {
    /// Directory to write NNNNN.png, NNNNN.txt (OpenALPR label) and labels.jsonl.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 100)]
    count: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 1280)]
    width: u32,
    #[arg(long, default_value_t = 720)]
    height: u32,
    /// Also write each plate rectified to this size (WxH) under crops/.
    #[arg(long, value_parser = parse_size)]
    crops: Option<(u32, u32)>,
    /// Random letters and digits in any order instead of UK marks (reader
    /// training data: every glyph in every position).
    #[arg(long)]
    any_text: bool,
    /// Smear moving plates by 3–9 px whatever their size, as the committed
    /// models' training pictures were drawn (by default a moving plate is
    /// smeared by its travel, the same share of its width at any size).
    #[arg(long)]
    blur_in_pixels: bool,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once('x')
        .ok_or("expected WIDTHxHEIGHT, e.g. 160x40")?;
    let n = |v: &str| v.parse::<u32>().ok().filter(|&n| (8..=2048).contains(&n));
    n(w).zip(n(h))
        .ok_or_else(|| format!("bad size {s:?}: expected e.g. 160x40"))
}

#[derive(clap::Args)]
struct ClipArgs {
    /// Video file to write: .mp4 or .mkv (H.264) or .avi (motion JPEG).
    #[arg(long)]
    out: PathBuf,
    /// Ground truth JSON to write.
    #[arg(long)]
    truth: PathBuf,
    #[arg(long, default_value_t = 8.0)]
    seconds: f32,
    #[arg(long, default_value_t = 1280)]
    width: u32,
    #[arg(long, default_value_t = 720)]
    height: u32,
    #[arg(long, default_value_t = 25)]
    fps: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of random plates (default: as many as fit).
    #[arg(long, conflicts_with = "plates")]
    vehicles: Option<usize>,
    /// Registrations to show, comma separated, e.g. AB12CDE,XY70ZZA.
    #[arg(long, value_delimiter = ',')]
    plates: Option<Vec<String>>,
    /// Seconds from one vehicle appearing to the next.
    #[arg(long, default_value_t = 2.5)]
    gap_s: f32,
    /// Seconds of empty road before the first vehicle.
    #[arg(long, default_value_t = 0.5)]
    lead_s: f32,
    /// Vehicles drive away from the camera, showing yellow rear plates.
    #[arg(long)]
    rear: bool,
}

fn main() -> ExitCode {
    let a = match Cli::parse().cmd {
        Cmd::Clip(a) => a,
        Cmd::Plates(p) => {
            return match write_plates(&p) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("anprd-synth: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let traffic = match (a.vehicles, a.plates) {
        (Some(n), _) => Traffic::Count(n),
        (None, Some(p)) => Traffic::Plates(p),
        (None, None) => Traffic::Fill,
    };
    let spec = ClipSpec {
        width: a.width,
        height: a.height,
        fps: a.fps,
        seconds: a.seconds,
        seed: a.seed,
        traffic,
        gap_s: a.gap_s,
        lead_s: a.lead_s,
        rear: a.rear,
    };
    let started = std::time::Instant::now();
    let result = write_clip(&spec, &a.out).and_then(|truth| {
        write_truth(&a.truth, &truth)?;
        Ok(truth)
    });
    match result {
        Ok(truth) => {
            println!(
                "{}: {} frames, {} vehicles, in {:.1} s; truth in {}",
                a.out.display(),
                spec.frame_count(),
                truth.len(),
                started.elapsed().as_secs_f32(),
                a.truth.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("anprd-synth: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `count` generated pictures with their labels.
fn write_plates(a: &PlatesArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let crops = a.out.join("crops");
    std::fs::create_dir_all(if a.crops.is_some() { &crops } else { &a.out })
        .with_context(|| format!("{}: cannot create", a.out.display()))?;
    let jsonl = a.out.join("labels.jsonl");
    let mut labels = std::io::BufWriter::new(
        std::fs::File::create(&jsonl)
            .with_context(|| format!("{}: cannot create", jsonl.display()))?,
    );
    let mut rng = SplitMix64::new(a.seed);
    let blur = if a.blur_in_pixels {
        sample::MotionBlur::Pixels
    } else {
        sample::MotionBlur::Travel
    };
    let started = std::time::Instant::now();
    for i in 0..a.count {
        let s = if a.any_text {
            sample::generate_any_text(&mut rng, a.width, a.height, blur)
        } else {
            sample::generate(&mut rng, a.width, a.height, blur)
        };
        let name = format!("{i:05}.png");
        write_png(&a.out.join(&name), &s.image)?;
        let [x, y, w, h] = s.plate_box;
        let label = format!("{name}\t{x}\t{y}\t{w}\t{h}\t{}\n", s.text);
        let txt = a.out.join(format!("{i:05}.txt"));
        std::fs::write(&txt, label).with_context(|| format!("{}: cannot write", txt.display()))?;
        let line = serde_json::json!({
            "file": name, "text": s.text, "format": s.format,
            "corners": s.corners, "box": s.plate_box, "colour": s.colour,
            "width_px": s.width_px.round(), "ir": s.ir, "two_line": s.two_line,
        });
        writeln!(labels, "{line}").with_context(|| format!("{}: cannot write", jsonl.display()))?;
        if let Some((cw, ch)) = a.crops {
            let crop = degrade::rectify(&s.image, &s.corners, cw, ch)
                .context("degenerate plate corners")?;
            write_png(&crops.join(&name), &crop)?;
        }
    }
    labels.flush()?;
    println!(
        "{}: {} pictures in {:.1} s",
        a.out.display(),
        a.count,
        started.elapsed().as_secs_f32()
    );
    Ok(())
}

fn write_png(path: &std::path::Path, img: &GrayImage) -> anyhow::Result<()> {
    use anyhow::Context;
    let file = std::fs::File::create(path)
        .with_context(|| format!("{}: cannot create", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), img.width, img.height);
    enc.set_color(png::ColorType::Grayscale);
    enc.write_header()
        .and_then(|mut w| w.write_image_data(&img.data))
        .with_context(|| format!("{}: cannot write", path.display()))
}

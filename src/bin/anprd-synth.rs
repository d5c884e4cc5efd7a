//! anprd-synth: makes synthetic traffic clips with ground truth, to exercise
//! and score the daemon without a camera on a real road.

use std::path::PathBuf;
use std::process::ExitCode;

use anprd::plate::clip::{ClipSpec, Traffic, write_clip, write_truth};
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
    let Cmd::Clip(a) = Cli::parse().cmd;
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

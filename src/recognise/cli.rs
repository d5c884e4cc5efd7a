//! `anprd recognise [--json] PATH…`: plates in still images, for a person at
//! a terminal or a script. Output goes to stdout only, never to the log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use super::image_file;
use super::rules::RuledRecogniser;
use super::{EngineKind, Engines, PlateCandidate, Recogniser};
use crate::config::RecogniseConfig;

/// Engine choice on the command line, overriding the configuration's.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct EngineArgs {
    /// The engine to run instead of recognise.engine.
    #[arg(long, value_enum)]
    pub engine: Option<EngineKind>,
    /// The neural engine's model directory instead of recognise.models.
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Look at each image as the daemon looks at a video frame: once, as a
    /// whole, without the finer tiled look given to still pictures.
    #[arg(long)]
    pub as_frame: bool,
}

/// The engine the daemon would run, with the plate rules of `config` when
/// that file exists (the defaults otherwise); `no_rules` leaves reads as the
/// engine made them.
pub fn engine(config: &Path, no_rules: bool) -> Result<Box<dyn Recogniser>, ExitCode> {
    engine_with(config, no_rules, &EngineArgs::default())
}

/// [`engine`], with the engine and model directory `args` name instead of
/// the configured ones. Errors are reported on stderr.
pub fn engine_with(
    config: &Path,
    no_rules: bool,
    args: &EngineArgs,
) -> Result<Box<dyn Recogniser>, ExitCode> {
    engine_from(config, &section(config)?, no_rules, args)
}

/// [`engine_with`] for the `section` already loaded from `config`.
fn engine_from(
    config: &Path,
    section: &RecogniseConfig,
    no_rules: bool,
    args: &EngineArgs,
) -> Result<Box<dyn Recogniser>, ExitCode> {
    let kind = args.engine.unwrap_or(section.engine);
    let models = args.models.as_deref().or(section.models.as_deref());
    let engine = match Engines::load(kind, models) {
        Ok(engines) => engines.make(),
        Err(e) => {
            eprintln!("anprd: {e:#}");
            return Err(ExitCode::from(crate::cli::EXIT_CONFIG));
        }
    };
    if no_rules {
        return Ok(engine);
    }
    match section.rules() {
        Ok(rules) => Ok(Box::new(RuledRecogniser::new(engine, rules))),
        Err(e) => {
            eprintln!("{}: recognise: {e}", config.display());
            Err(ExitCode::from(crate::cli::EXIT_CONFIG))
        }
    }
}

/// The `[recognise]` section of `config` when that file exists (the rest of
/// the file may be missing), the defaults otherwise. Errors are reported on
/// stderr.
fn section(config: &Path) -> Result<RecogniseConfig, ExitCode> {
    if !config.exists() {
        return Ok(RecogniseConfig::default());
    }
    RecogniseConfig::load(config).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(crate::cli::EXIT_CONFIG)
    })
}

/// `anprd eval` with the engine `args` choose; reads are also scored as the
/// daemon would keep them (recognise.min_confidence).
pub fn eval(
    config: &Path,
    dirs: &[PathBuf],
    no_rules: bool,
    misses: bool,
    args: &EngineArgs,
) -> ExitCode {
    let section = match section(config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut engine = match engine_from(config, &section, no_rules, args) {
        Ok(e) => e,
        Err(code) => return code,
    };
    match super::eval::run_dirs(
        engine.as_mut(),
        dirs,
        section.min_confidence,
        !args.as_frame,
        misses,
    ) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nanprd eval: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Serialize)]
struct ImageJson<'a> {
    image: &'a str,
    plates: Vec<PlateJson<'a>>,
    ms: f64,
}

#[derive(Serialize)]
struct PlateJson<'a> {
    text: &'a str,
    confidence: f32,
    format: Option<&'a str>,
    chars: Vec<CharJson>,
    #[serde(rename = "box")]
    plate_box: [u32; 4],
    corners: [[f32; 2]; 4],
}

#[derive(Serialize)]
struct CharJson {
    #[serde(rename = "char")]
    c: char,
    confidence: f32,
}

/// Runs the command; an unreadable image is reported and the rest still read.
pub fn run(
    config: &Path,
    paths: &[PathBuf],
    json: bool,
    no_rules: bool,
    args: &EngineArgs,
) -> ExitCode {
    let mut engine = match engine_with(config, no_rules, args) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let files = match image_file::expand(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("anprd recognise: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    if !json {
        let _ = writeln!(
            out,
            "{:<40} {:<10} {:>5} {:<22} {:<20} {:>7}",
            "image", "plate", "conf", "format", "box", "ms"
        );
    }
    for file in &files {
        let frame = match image_file::load_luma(file) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("anprd recognise: {e:#}");
                failed = true;
                continue;
            }
        };
        let t = Instant::now();
        let mut plates = if args.as_frame {
            engine.recognise(&frame)
        } else {
            engine.recognise_still(&frame)
        };
        let ms = t.elapsed().as_secs_f64() * 1e3;
        plates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        let name = file.display().to_string();
        let line = if json {
            json_line(&name, &plates, ms)
        } else {
            table_rows(&name, &plates, ms)
        };
        if writeln!(out, "{line}").is_err() {
            return ExitCode::FAILURE; // stdout closed (e.g. `| head`)
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn json_line(image: &str, plates: &[PlateCandidate], ms: f64) -> String {
    let doc = ImageJson {
        image,
        plates: plates
            .iter()
            .map(|p| PlateJson {
                text: &p.text,
                confidence: p.confidence,
                format: p.format.as_deref(),
                chars: p
                    .text
                    .chars()
                    .zip(&p.char_confidence)
                    .map(|(c, &confidence)| CharJson { c, confidence })
                    .collect(),
                plate_box: p.plate_box,
                corners: p.corners,
            })
            .collect(),
        ms: (ms * 1000.0).round() / 1000.0,
    };
    serde_json::to_string(&doc).expect("plain data serialises")
}

fn table_rows(image: &str, plates: &[PlateCandidate], ms: f64) -> String {
    if plates.is_empty() {
        return format!(
            "{image:<40} {:<10} {:>5} {:<22} {:<20} {ms:>7.1}",
            "-", "", "", ""
        );
    }
    plates
        .iter()
        .map(|p| {
            let [x, y, w, h] = p.plate_box;
            format!(
                "{image:<40} {:<10} {:>5.2} {:<22} {:<20} {ms:>7.1}",
                p.text,
                p.confidence,
                p.format.as_deref().unwrap_or("(no format)"),
                format!("{x},{y} {w}x{h}"),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

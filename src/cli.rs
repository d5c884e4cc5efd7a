//! The command line: `anprd run`, `anprd check-config`, `anprd version`, `anprd id`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};

/// Exit status for a configuration the daemon cannot use (sysexits' EX_CONFIG).
/// The systemd unit does not restart on it: retrying cannot fix a bad file.
pub const EXIT_CONFIG: u8 = 78;

#[derive(Parser, Debug)]
#[command(
    name = "anprd",
    version,
    about = "ANPR edge gateway: cameras in, plate reads out over MQTT"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, short = 'c', global = true, value_name = "PATH", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway until SIGTERM or SIGINT.
    Run,
    /// Check the configuration file and exit; starts nothing.
    CheckConfig {
        /// Print nothing unless something is wrong: for systemd's
        /// ExecStartPre, whose output goes to the journal (camera labels
        /// are for a person on site, never for logs).
        #[arg(long)]
        quiet: bool,
    },
    /// Print the version.
    Version,
    /// Show the running daemon's state: cameras, spool, broker, clock.
    /// Exits 0 when it runs, 3 when it does not, 4 when this user cannot
    /// read its state.
    Status {
        /// Print JSON (schema anprd.status/1) for scripts.
        #[arg(long)]
        json: bool,
        /// The daemon's state file (default: health.state_file, else /run/anprd/status.json).
        #[arg(long, value_name = "PATH")]
        state_file: Option<PathBuf>,
    },
    /// Print a fresh random opaque id for a gateway or camera.
    Id {
        /// What the id is for: its prefix.
        #[arg(long, value_enum, default_value = "gateway")]
        kind: IdKind,
    },
    /// Read the plates in image files (JPEG, PNG) or directories of them.
    Recognise {
        /// One JSON object per image instead of a table.
        #[arg(long)]
        json: bool,
        /// Report reads as the engine made them, without the plate rules.
        #[arg(long)]
        no_rules: bool,
        #[command(flatten)]
        engine: crate::recognise::cli::EngineArgs,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Score the recogniser on labelled images (OpenALPR benchmark format).
    Eval {
        /// Score reads as the engine made them, without the plate rules.
        #[arg(long)]
        no_rules: bool,
        /// Also list each plate not read exactly: `miss`, image, labelled
        /// text, read text (`-` when none) and its confidence, tab-separated.
        #[arg(long)]
        misses: bool,
        #[command(flatten)]
        engine: crate::recognise::cli::EngineArgs,
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum IdKind {
    Gateway,
    Camera,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run => run(&cli.config),
        Command::CheckConfig { quiet } => check_config(&cli.config, quiet),
        Command::Status { json, state_file } => status(&cli.config, json, state_file),
        Command::Version => {
            println!("anprd {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Id { kind } => {
            println!("{}", random_id(kind));
            ExitCode::SUCCESS
        }
        Command::Recognise {
            json,
            no_rules,
            engine,
            paths,
        } => crate::recognise::cli::run(&cli.config, &paths, json, no_rules, &engine),
        Command::Eval {
            no_rules,
            misses,
            engine,
            dirs,
        } => crate::recognise::cli::eval(&cli.config, &dirs, no_rules, misses, &engine),
    }
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn check_config(path: &std::path::Path, quiet: bool) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    for (key, file, why) in config.unreadable_files() {
        eprintln!(
            "warning: {key}: cannot read {}: {why} (anprd run will fail until it can)",
            file.display()
        );
    }
    if quiet {
        return ExitCode::SUCCESS;
    }
    // Local output for a person on site: labels may appear here, and only here.
    println!("{}: OK", path.display());
    println!("gateway {}", config.gateway.id);
    for cam in &config.cameras {
        let state = if cam.enabled { "enabled" } else { "disabled" };
        let kind = cam.source.split(':').next().unwrap_or("");
        let label = cam
            .label
            .as_deref()
            .map(|l| format!("  \"{l}\""))
            .unwrap_or_default();
        println!("camera {:<16} {state:<8} {kind}{label}", cam.id);
    }
    ExitCode::SUCCESS
}

fn run(path: &std::path::Path) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let level = config::log_level(&config.log.level).unwrap_or(log::LevelFilter::Info);
    crate::logging::init(level);
    if config.mqtt.allow_insecure && config.mqtt.url.starts_with("mqtt://") {
        log::warn!(
            MESSAGE_ID = crate::logging::message_id::INSECURE_TRANSPORT;
            "mqtt.allow_insecure: reads are sent to the broker UNENCRYPTED"
        );
    }
    let rules = match config.recognise.rules() {
        Ok(r) => r,
        Err(e) => {
            log::error!("recognise: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Broker options (TLS files too) and the spool key are checked before
    // anything starts: a mistake there is the configuration's, and the unit
    // does not restart on EX_CONFIG (a restart would not mend it).
    let checked = crate::forward::check_options(&config.mqtt, &config.gateway.id).and_then(|()| {
        crate::seal::Sealer::from_config(&config.spool)
            .map(drop)
            .map_err(anyhow::Error::from)
    });
    if let Err(e) = checked {
        log::error!("{e:#}");
        // A file that is not there (yet) or not readable (yet) may appear:
        // an enrolment agent writing the certificate, a mount. Worth the
        // unit's retries, unlike a file that is there but wrong.
        let may_appear = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                )
            })
        });
        return if may_appear {
            ExitCode::FAILURE
        } else {
            ExitCode::from(EXIT_CONFIG)
        };
    }
    // Models load once, here, so a missing or broken one stops the start
    // with its file named; every recognition thread then shares them.
    let t = std::time::Instant::now();
    let loaded = match crate::recognise::Engines::from_config(&config.recognise) {
        Ok(e) => e,
        Err(e) => {
            log::error!("recognise: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    log::info!(
        "recognise: {} ready in {} ms",
        loaded.describe(),
        t.elapsed().as_millis()
    );
    let engines = move || -> anyhow::Result<Box<dyn crate::recognise::Recogniser>> {
        Ok(Box::new(crate::recognise::rules::RuledRecogniser::new(
            loaded.make(),
            rules.clone(),
        )))
    };
    match crate::pipeline::run(&config, &engines) {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration is optional here: it only adds labels and the
/// configured state file path.
fn status(path: &std::path::Path, json: bool, state_file: Option<PathBuf>) -> ExitCode {
    let config = Config::load(path).ok();
    let configured = config.as_ref().and_then(|c| c.health.state_file.clone());
    let file = crate::status::state_file_path(state_file.or(configured).as_deref());
    crate::status::show::main(&file, json, config.as_ref())
}

/// `gw-` or `cam-` and 12 random hex digits (48 bits from the OS).
fn random_id(kind: IdKind) -> String {
    let prefix = match kind {
        IdKind::Gateway => "gw",
        IdKind::Camera => "cam",
    };
    // UUIDv4 takes its bits from the OS's random source.
    let bits = uuid::Uuid::new_v4().as_u128();
    format!("{prefix}-{:012x}", bits & 0xffff_ffff_ffff)
}

//! Loading the models (detector, reader and the optional corner refiner):
//! read, checked against the contract, optimised for this machine, once per
//! process.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tract_onnx::prelude::*;

use super::decode::MAP_CHANNELS;
use super::refine::{REFINE_H, REFINE_OUTPUTS, REFINE_W};
use super::{
    DET_H, DET_W, READ_CLASSES, READ_COLUMNS, READ_H, READ_W, REGION_INPUTS, ZOOM_H, ZOOM_W,
};

/// File names in a model directory.
pub const DETECTOR_FILE: &str = "detector.onnx";
pub const READER_FILE: &str = "reader.onnx";
/// The corner refiner: optional, used when the directory has one.
pub const REFINER_FILE: &str = "refiner.onnx";
/// Where the Debian package installs the models.
pub const INSTALLED_MODELS: &str = "/usr/share/anprd/models";

pub(super) type Plan = Arc<TypedSimplePlan>;

/// The directory models are loaded from when none is configured: the
/// installed one when it holds a detector, else the source tree's `models/`
/// (for tests and `cargo run`).
pub fn default_models_dir() -> PathBuf {
    let installed = Path::new(INSTALLED_MODELS);
    if installed.join(DETECTOR_FILE).is_file() {
        installed.to_path_buf()
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))
    }
}

/// The networks, optimised for this machine; shared by all recognisers.
pub struct NeuralModels {
    pub(super) detector: Plan,
    /// The same detector for a close-up around one plate (ZOOM_W×ZOOM_H).
    pub(super) zoom: Plan,
    /// And for a look at part of a frame, one per size of REGION_INPUTS,
    /// each built the first time a look needs it (see [`Self::region`]);
    /// `None` if that failed.
    regions: Vec<OnceLock<Option<Plan>>>,
    /// The detector file, for those builds.
    det_bytes: Vec<u8>,
    det_path: PathBuf,
    pub(super) reader: Plan,
    /// The reader for a batch of exactly one plate.
    pub(super) reader_one: Plan,
    /// The corner refiner (see `super::refine`), when the directory has one.
    pub(super) refiner: Option<Plan>,
    version: String,
    dir: PathBuf,
    load_time: Duration,
}

impl std::fmt::Debug for NeuralModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeuralModels")
            .field("version", &self.version)
            .field("dir", &self.dir)
            .field("load_time", &self.load_time)
            .finish_non_exhaustive()
    }
}

impl NeuralModels {
    /// Loads `dir`/detector.onnx, `dir`/reader.onnx and, when there is one,
    /// `dir`/refiner.onnx, checks them against the contract and optimises
    /// them; records the version for health and status. Errors name the
    /// file at fault.
    pub fn load(dir: &Path) -> Result<Arc<NeuralModels>> {
        let t = Instant::now();
        let det_path = dir.join(DETECTOR_FILE);
        let det_bytes = std::fs::read(&det_path)
            .with_context(|| format!("cannot read the model {}", det_path.display()))?;
        // The detector is fully convolutional: one plan for the whole-frame
        // look and one for a close-up, built here, and one for each size of
        // a look at part of a frame, built when first needed (see
        // `region`). Optimising one takes about 30 ms here, so the two are
        // built on threads of their own while this one loads the reader:
        // loading is what a start waits for.
        let detector_at = |size| detector_plan(&det_bytes, &det_path, size);
        let (detector, zoom, reader, refiner) = std::thread::scope(|s| {
            let build = |size| {
                std::thread::Builder::new()
                    .name("anprd-load".into())
                    .spawn_scoped(s, move || detector_at(size))
            };
            let (detector, zoom) = (build((DET_W, DET_H)), build((ZOOM_W, ZOOM_H)));
            let refiner = std::thread::Builder::new()
                .name("anprd-load".into())
                .spawn_scoped(s, || load_refiner(dir));
            let reader = load_reader(dir);
            let joined = |built: std::io::Result<std::thread::ScopedJoinHandle<'_, _>>| {
                let handle = built.context("cannot start a thread to optimise the detector")?;
                handle
                    .join()
                    .unwrap_or_else(|_| bail!("{}: optimising it panicked", det_path.display()))
            };
            let refiner = refiner
                .context("cannot start a thread to load the refiner")
                .and_then(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        bail!("{}: loading it panicked", dir.join(REFINER_FILE).display())
                    })
                });
            (joined(detector), joined(zoom), reader, refiner)
        });
        let (detector, zoom) = (detector?, zoom?);
        let (reader, reader_one, read_bytes) = reader?;
        let (refiner, refine_bytes) = match refiner? {
            Some((plan, bytes)) => (Some(plan), bytes),
            None => (None, Vec::new()),
        };
        let version = format!(
            "nn-{:012x}",
            fnv1a(&[&det_bytes, &read_bytes, &refine_bytes]) >> 16
        );
        crate::status::set_model_version(&version);
        let models = NeuralModels {
            detector,
            zoom,
            regions: REGION_INPUTS.iter().map(|_| OnceLock::new()).collect(),
            det_bytes,
            det_path,
            reader,
            reader_one,
            refiner,
            version,
            dir: dir.to_path_buf(),
            load_time: t.elapsed(),
        };
        Ok(Arc::new(models))
    }

    /// The detector's plan for a look at part of a frame through
    /// `REGION_INPUTS[i]`, built on first use: most runs (stills, the CLI,
    /// cameras without motion gating) never need one, and each would add
    /// about 30 ms to loading. A worker that asks while another builds
    /// it waits for that build. `None`, after one warning, if it cannot be
    /// built: the caller then looks at the whole frame.
    pub(super) fn region(&self, i: usize) -> Option<&Plan> {
        let size = *REGION_INPUTS.get(i)?;
        self.regions[i]
            .get_or_init(
                || match detector_plan(&self.det_bytes, &self.det_path, size) {
                    Ok(plan) => Some(plan),
                    Err(e) => {
                        log::warn!(
                            "the detector at {}×{} for looks at part of a frame: {e:#}; \
                         looking at whole frames instead",
                            size.0,
                            size.1
                        );
                        None
                    }
                },
            )
            .as_ref()
    }

    /// `nn-` and 12 hex digits of a hash over both files.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Where the models were loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long loading and optimising took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
}

/// The detector in `bytes` (read from `path`) optimised for a `w`×`h`
/// input, its output checked.
fn detector_plan(bytes: &[u8], path: &Path, (w, h): (usize, usize)) -> Result<Plan> {
    let plan = plan_from(bytes, path, |_| Ok(f32::fact([1, 1, h, w]).into()))?;
    check_output(&plan, path, &[1, MAP_CHANNELS, h / 4, w / 4])?;
    Ok(plan)
}

/// The reader in `dir`: a plan for any batch, checked on one strip, a plan
/// for a batch of exactly one, and the file's bytes.
fn load_reader(dir: &Path) -> Result<(Plan, Plan, Vec<u8>)> {
    let path = dir.join(READER_FILE);
    let (reader, read_bytes) = load_plan(&path, |model| {
        let n = model.sym("N").to_dim();
        Ok(f32::fact(&[n, 1.to_dim(), READ_H.to_dim(), READ_W.to_dim()]).into())
    })?;
    // The reader's batch size is symbolic: check it on one strip.
    let probs = reader
        .run(tvec![Tensor::zero::<f32>(&[1, 1, READ_H, READ_W])?.into()])
        .with_context(|| format!("{}: does not run", path.display()))?;
    let shape = probs
        .first()
        .map(|p| p.shape().to_vec())
        .unwrap_or_default();
    if shape != [1, READ_COLUMNS, READ_CLASSES] {
        bail!(
            "{}: output is {shape:?} for one plate, not [1, {READ_COLUMNS}, {READ_CLASSES}]; \
             is it a reader model (training/nets.py)?",
            path.display()
        );
    }
    // Most frames have one plate to read: a plan for exactly one lets
    // tract fix every shape in advance.
    let reader_one = plan_from(&read_bytes, &path, |_| {
        Ok(f32::fact([1, 1, READ_H, READ_W]).into())
    })?;
    Ok((reader, reader_one, read_bytes))
}

/// The corner refiner in `dir` and its file's bytes, or `None` when `dir`
/// has none (a model pair from before it).
fn load_refiner(dir: &Path) -> Result<Option<(Plan, Vec<u8>)>> {
    let path = dir.join(REFINER_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let (plan, bytes) = load_plan(&path, |_| Ok(f32::fact([1, 1, REFINE_H, REFINE_W]).into()))?;
    check_output(&plan, &path, &[1, REFINE_OUTPUTS])?;
    Ok(Some((plan, bytes)))
}

/// Reads, parses and optimises one model; also returns the file's bytes.
fn load_plan(
    path: &Path,
    input: impl FnOnce(&InferenceModel) -> TractResult<InferenceFact>,
) -> Result<(Plan, Vec<u8>)> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the model {}", path.display()))?;
    let plan = plan_from(&bytes, path, input)?;
    Ok((plan, bytes))
}

/// Parses and optimises the model in `bytes` (read from `path`) for `input`.
fn plan_from(
    bytes: &[u8],
    path: &Path,
    input: impl FnOnce(&InferenceModel) -> TractResult<InferenceFact>,
) -> Result<Plan> {
    (|| {
        let model = tract_onnx::onnx().model_for_read(&mut &bytes[..])?;
        let fact = input(&model)?;
        model
            .with_input_fact(0, fact)?
            .into_optimized()?
            .into_runnable()
    })()
    .with_context(|| {
        format!(
            "{}: not a model of the expected shape (training/nets.py)",
            path.display()
        )
    })
}

/// Fails unless the plan's single output has exactly `want` as its shape.
fn check_output(plan: &Plan, path: &Path, want: &[usize]) -> Result<()> {
    let fact = plan.model().output_fact(0)?;
    let shape: Option<Vec<usize>> = fact.shape.as_concrete().map(<[usize]>::to_vec);
    if shape.as_deref() != Some(want) {
        bail!(
            "{}: output is {:?}, not {want:?}; is it the model its name says (training/)?",
            path.display(),
            fact.shape
        );
    }
    Ok(())
}

/// FNV-1a, 64 bits, over the parts in order.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(&[b""]), 0xcbf29ce484222325);
        assert_eq!(fnv1a(&[b"a"]), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(&[b"foo"]), fnv1a(&[b"f", b"oo"]));
    }

    #[test]
    fn a_part_look_plan_is_built_once_when_first_asked_for_and_fits_its_size() {
        let models = NeuralModels::load(&default_models_dir()).unwrap();
        assert!(
            models.regions.iter().all(|r| r.get().is_none()),
            "none built by loading"
        );
        for (i, &(w, h)) in REGION_INPUTS.iter().enumerate() {
            let plan = models.region(i).expect("built").clone();
            assert!(Arc::ptr_eq(&plan, models.region(i).unwrap()), "built once");
            let out = plan
                .run(tvec![Tensor::zero::<f32>(&[1, 1, h, w]).unwrap().into()])
                .unwrap();
            assert_eq!(out[0].shape(), [1, MAP_CHANNELS, h / 4, w / 4]);
        }
        assert!(models.region(REGION_INPUTS.len()).is_none());
    }
}

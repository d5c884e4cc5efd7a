//! Recognise: finds number plates in a frame and reads them.

pub mod classic;
pub mod cli;
pub mod eval;
pub mod gate;
pub mod image_file;
pub mod neural;
pub mod rules;

use std::path::Path;
use std::sync::Arc;

use crate::capture::Frame;

/// One plate found in one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateCandidate {
    /// The plate's text, upper case, no spaces (the VRM).
    pub text: String,
    /// Overall confidence, 0–1.
    pub confidence: f32,
    /// One confidence per character of `text`, 0–1.
    pub char_confidence: Vec<f32>,
    /// Where each character of a one-line plate stands across it, 0 (left
    /// edge) to 1 (right edge); empty where unknown (two-line plates, the
    /// classic engine). The plate rules use it to tell a side band's
    /// lettering from a registration's first character.
    pub char_at: Vec<f32>,
    /// Axis-aligned box in frame pixels: x, y, width, height.
    pub plate_box: [u32; 4],
    /// The plate's corners in frame pixels, clockwise from top left; for a
    /// tilted or skewed plate tighter than `plate_box`.
    pub corners: [[f32; 2]; 4],
    /// The registration format the text fits ([`rules`]); None when it fits
    /// no enabled format (or no rules were applied).
    pub format: Option<String>,
}

/// The corners of an axis-aligned box, clockwise from top left.
pub fn box_corners(b: [u32; 4]) -> [[f32; 2]; 4] {
    let [x, y, w, h] = b.map(|v| v as f32);
    [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
}

/// The frame's size when its luma plane holds exactly width × height bytes
/// and neither is zero; otherwise logs why it cannot be read and gives None.
pub(crate) fn luma_size(frame: &Frame) -> Option<(usize, usize)> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    if w > 0 && h > 0 && frame.luma.len() == w * h {
        return Some((w, h));
    }
    log::warn!(
        "frame {}: luma plane is {} bytes for {}x{}; not recognised",
        frame.seq,
        frame.luma.len(),
        frame.width,
        frame.height
    );
    None
}

/// A plate recognition engine. One instance per recognition thread, so an
/// engine may keep scratch buffers without locking.
pub trait Recogniser: Send {
    /// Plates found in `frame`, most confident first.
    fn recognise(&mut self, frame: &Frame) -> Vec<PlateCandidate>;

    /// Plates found in `frame` when only `region` ([x, y, w, h], frame
    /// pixels) can hold any worth finding, e.g. where something moved. An
    /// engine that can look there alone, for less, does; the others look
    /// everywhere.
    fn recognise_in(&mut self, frame: &Frame, region: [u32; 4]) -> Vec<PlateCandidate> {
        let _ = region;
        self.recognise(frame)
    }

    /// Plates found in a still picture (`anprd recognise`, `anprd eval`),
    /// where there is time to look harder than at one of 25 video frames a
    /// second: an engine that can, does. A still has no next frame in which
    /// a small plate comes closer.
    fn recognise_still(&mut self, frame: &Frame) -> Vec<PlateCandidate> {
        self.recognise(frame)
    }

    /// The plate formats the site enables, for an engine that reads a plate
    /// several ways and picks one reading: it may then prefer a reading
    /// that fits a format over a slightly surer one that fits none. Handed
    /// over by [`rules::RuledRecogniser::new`]; engines that read each plate
    /// once ignore it.
    fn prefer_formats(&mut self, rules: &rules::PlateRules) {
        let _ = rules;
    }
}

/// Which engine reads plates (`recognise.engine`, `--engine`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Two small networks, a plate detector and a reader (models needed).
    #[default]
    Neural,
    /// The pre-neural reader: no model files.
    Classic,
}

/// What makes engines: loaded once per process, then one engine per
/// recognition thread ([`Engines::make`]) sharing the loaded models.
#[derive(Clone)]
pub enum Engines {
    Classic,
    Neural(Arc<neural::NeuralModels>),
}

impl Engines {
    /// Loads what `kind` needs; `models` overrides the default model
    /// directory ([`neural::default_models_dir`]). Errors name the file.
    pub fn load(kind: EngineKind, models: Option<&Path>) -> anyhow::Result<Engines> {
        Ok(match kind {
            EngineKind::Classic => Engines::Classic,
            EngineKind::Neural => {
                let dir = models.map_or_else(neural::default_models_dir, Path::to_path_buf);
                Engines::Neural(neural::NeuralModels::load(&dir)?)
            }
        })
    }

    /// The engine and model directory of a `[recognise]` section.
    pub fn from_config(section: &crate::config::RecogniseConfig) -> anyhow::Result<Engines> {
        Engines::load(section.engine, section.models.as_deref())
    }

    /// A fresh engine with its own scratch buffers (cheap: models are shared).
    pub fn make(&self) -> Box<dyn Recogniser> {
        match self {
            Engines::Classic => Box::new(classic::ClassicRecogniser::new()),
            Engines::Neural(models) => Box::new(neural::NeuralRecogniser::new(models.clone())),
        }
    }

    /// For logs: the engine, and the models' version and directory.
    pub fn describe(&self) -> String {
        match self {
            Engines::Classic => "classic engine".into(),
            Engines::Neural(m) => format!(
                "neural engine, models {} from {}",
                m.version(),
                m.dir().display()
            ),
        }
    }
}

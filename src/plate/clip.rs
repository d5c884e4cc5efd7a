//! Synthetic traffic clips: vehicles pass one after another, the frames are
//! encoded to a video file with GStreamer, and the ground truth (which plate
//! was fully in view in which frames) is returned for scoring a recogniser.

use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use serde::{Deserialize, Serialize};

use super::render::{PlateStyle, RenderError, RgbImage, layout};
use super::scene::{Scene, Vehicle, random_body};
use super::{SplitMix64, random_vrm};

/// Longest time one vehicle takes to cross the picture.
const MAX_PASS_S: f32 = 2.0;

/// Which vehicles drive through the clip.
#[derive(Clone, Debug, PartialEq)]
pub enum Traffic {
    /// As many random plates as the clip has room for.
    Fill,
    /// This many random plates.
    Count(usize),
    /// These registrations, in this order.
    Plates(Vec<String>),
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct ClipSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub seconds: f32,
    pub seed: u64,
    pub traffic: Traffic,
    /// Time from one vehicle appearing to the next one appearing.
    pub gap_s: f32,
    /// Empty road before the first vehicle.
    pub lead_s: f32,
    /// Vehicles drive away (yellow rear plates) instead of approaching.
    pub rear: bool,
}

impl Default for ClipSpec {
    fn default() -> Self {
        ClipSpec {
            width: 1280,
            height: 720,
            fps: 25,
            seconds: 8.0,
            seed: 1,
            traffic: Traffic::Fill,
            gap_s: 2.5,
            lead_s: 0.5,
            rear: false,
        }
    }
}

/// Ground truth for one vehicle: the frames in which its whole plate is in
/// the picture (frame numbers from 0; times are those frames' timestamps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthEntry {
    pub vrm: String,
    pub enter_ms: u64,
    pub exit_ms: u64,
    pub first_frame: u64,
    pub last_frame: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{path}: {msg}")]
    Encode { path: PathBuf, msg: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Largest clip side, in pixels (8K is 7680).
const MAX_SIDE: u32 = 8192;

impl ClipSpec {
    /// Number of frames in the clip.
    pub fn frame_count(&self) -> u64 {
        (self.seconds * self.fps as f32).round() as u64
    }

    fn pass_s(&self) -> f32 {
        self.gap_s.min(MAX_PASS_S)
    }

    /// How many vehicles fit between the lead-in and the end of the clip.
    /// (`check` keeps the gap at a frame or more, so this stays bounded.)
    pub fn capacity(&self) -> usize {
        let room = self.seconds - self.lead_s - self.pass_s();
        if room < 0.0 {
            0
        } else {
            (room / self.gap_s + 1e-4).floor() as usize + 1
        }
    }

    fn check(&self) -> Result<(), ClipError> {
        let bad = |m: String| Err(ClipError::Invalid(m));
        if self.width < 64 || self.height < 64 || self.width % 2 == 1 || self.height % 2 == 1 {
            return bad(format!(
                "--width/--height: {}x{} must be even and at least 64",
                self.width, self.height
            ));
        }
        if self.width > MAX_SIDE || self.height > MAX_SIDE {
            return bad(format!(
                "--width/--height: {}x{} is larger than {MAX_SIDE}x{MAX_SIDE}",
                self.width, self.height
            ));
        }
        // The road's perspective holds a plate in view only down to about
        // 8:1 (wider and the nearest plate would be taller than the frame).
        if self.width > 8 * self.height {
            return bad(format!(
                "--width/--height: {}x{} is wider than 8:1",
                self.width, self.height
            ));
        }
        if !(1..=120).contains(&self.fps) {
            return bad(format!("--fps: {} is not in 1..=120", self.fps));
        }
        if self.seconds.is_nan() || self.seconds <= 0.0 || self.seconds > 3600.0 {
            return bad(format!("--seconds: {} is not in (0, 3600]", self.seconds));
        }
        // Vehicles closer than a frame apart cannot be told apart (and a
        // tiny gap would ask for billions of them).
        if self.gap_s.is_nan() || self.gap_s < 1.0 / self.fps as f32 {
            return bad(format!(
                "--gap-s: {} is shorter than a frame (1/{} s)",
                self.gap_s, self.fps
            ));
        }
        if self.lead_s.is_nan() || self.lead_s < 0.0 {
            return bad(format!("--lead-s: {} must not be negative", self.lead_s));
        }
        Ok(())
    }
}

/// Lays the vehicles out in time and works out the ground truth, without
/// drawing anything.
pub fn plan_clip(spec: &ClipSpec) -> Result<(Scene, Vec<TruthEntry>), ClipError> {
    spec.check()?;
    let mut rng = SplitMix64::new(spec.seed);
    let cap = spec.capacity();
    let asked = match &spec.traffic {
        Traffic::Fill => cap,
        Traffic::Count(n) => *n,
        Traffic::Plates(p) => p.len(),
    };
    if asked > cap {
        return Err(ClipError::Invalid(format!(
            "--seconds {}: room for {cap} vehicles at --gap-s {}, {asked} asked for",
            spec.seconds, spec.gap_s,
        )));
    }
    let plates: Vec<String> = match &spec.traffic {
        Traffic::Fill | Traffic::Count(_) => (0..asked).map(|_| random_vrm(&mut rng)).collect(),
        // As the truth names them: upper case, no spaces of any kind.
        Traffic::Plates(p) => p
            .iter()
            .map(|s| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_ascii_uppercase()
            })
            .collect(),
    };
    let mut scene = Scene::new(spec.width, spec.height, spec.seed);
    for (i, vrm) in plates.into_iter().enumerate() {
        layout(&vrm)?;
        scene.vehicles.push(Vehicle {
            vrm,
            style: if spec.rear {
                PlateStyle::REAR
            } else {
                PlateStyle::FRONT
            },
            body: random_body(&mut rng),
            enter_s: spec.lead_s + i as f32 * spec.gap_s,
            pass_s: spec.pass_s(),
            lane: rng.range(-1.2, 1.2),
            receding: spec.rear,
        });
    }
    let truth = ground_truth(&scene, spec)?;
    Ok((scene, truth))
}

/// For each vehicle of `scene`, the frames in which its whole plate is in the
/// picture. A vehicle never fully in view is an error: it could not be scored.
/// Occluders are ignored: a plate hidden for a few frames between `first_frame`
/// and `last_frame` is still one pass, and one entry.
pub fn ground_truth(scene: &Scene, spec: &ClipSpec) -> Result<Vec<TruthEntry>, ClipError> {
    let frames = spec.frame_count();
    let mut truth = Vec::with_capacity(scene.vehicles.len());
    for v in &scene.vehicles {
        let seen: Vec<u64> = (0..frames)
            .filter(|&f| {
                scene
                    .placement(v, frame_time(f, spec.fps))
                    .is_some_and(|p| p.inside(spec.width, spec.height))
            })
            .collect();
        let (Some(&first), Some(&last)) = (seen.first(), seen.last()) else {
            return Err(ClipError::Invalid(format!(
                "--gap-s {}: vehicle {} is never fully in view at --fps {}",
                spec.gap_s, v.vrm, spec.fps
            )));
        };
        truth.push(TruthEntry {
            vrm: v.vrm.replace(' ', ""),
            enter_ms: frame_ms(first, spec.fps),
            exit_ms: frame_ms(last, spec.fps),
            first_frame: first,
            last_frame: last,
        });
    }
    Ok(truth)
}

/// Seconds from the start of the clip to frame `f`.
pub fn frame_time(f: u64, fps: u32) -> f32 {
    f as f32 / fps as f32
}

fn frame_ms(f: u64, fps: u32) -> u64 {
    (f * 1000 + fps as u64 / 2) / fps as u64
}

/// Renders the clip described by `spec` into `out` (`.mp4` or `.mkv`: H.264;
/// `.avi`: motion JPEG) and returns its ground truth.
pub fn write_clip(spec: &ClipSpec, out: &Path) -> Result<Vec<TruthEntry>, ClipError> {
    let (scene, truth) = plan_clip(spec)?;
    encode_scene(&scene, spec, out)?;
    Ok(truth)
}

/// Renders any `scene` (e.g. one laid out by hand: two lanes at once, a parked
/// car, a van crossing in front of a car) for `spec`'s duration, size and
/// frame rate into `out`.
pub fn encode_scene(scene: &Scene, spec: &ClipSpec, out: &Path) -> Result<(), ClipError> {
    spec.check()?;
    let enc_err = |msg: String| ClipError::Encode {
        path: out.to_owned(),
        msg,
    };
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let (codec, muxer): (&[&str], &str) = match ext.as_str() {
        "mp4" => (&["x264enc"], "mp4mux"),
        "mkv" => (&["x264enc"], "matroskamux"),
        "avi" => (&["jpegenc"], "avimux"),
        _ => {
            return Err(ClipError::Invalid(format!(
                "--out {}: use a .mp4, .mkv or .avi name",
                out.display()
            )));
        }
    };
    gst::init().map_err(|e| enc_err(format!("GStreamer init: {e}")))?;

    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, spec.width, spec.height)
        .fps(gst::Fraction::new(spec.fps as i32, 1))
        .build()
        .map_err(|e| enc_err(format!("video caps: {e}")))?;
    let caps = info
        .to_caps()
        .map_err(|e| enc_err(format!("video caps: {e}")))?;
    let frame_bytes = info.size() as u64;
    let src = gst_app::AppSrc::builder()
        .caps(&caps)
        .format(gst::Format::Time)
        .block(true)
        .max_bytes(frame_bytes * 4)
        .build();
    let make = |name: &str| {
        gst::ElementFactory::make(name)
            .build()
            .map_err(|e| enc_err(format!("GStreamer element {name}: {e} (plugin installed?)")))
    };
    let convert = make("videoconvert")?;
    let filter = make("capsfilter")?;
    filter.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .build(),
    );
    let enc = make(codec[0])?;
    if codec[0] == "x264enc" {
        enc.set_property_from_str("tune", "zerolatency");
        enc.set_property_from_str("speed-preset", "ultrafast");
        enc.set_property("key-int-max", spec.fps.max(1));
    } else {
        enc.set_property("quality", 90i32);
    }
    let mux = make(muxer)?;
    let sink = make("filesink")?;
    sink.set_property("location", out.to_string_lossy().as_ref());

    let pipeline = gst::Pipeline::new();
    let chain = [
        src.upcast_ref::<gst::Element>(),
        &convert,
        &filter,
        &enc,
        &mux,
        &sink,
    ];
    pipeline
        .add_many(chain)
        .map_err(|e| enc_err(format!("building pipeline: {e}")))?;
    gst::Element::link_many(chain).map_err(|e| enc_err(format!("linking pipeline: {e}")))?;
    let bus = pipeline
        .bus()
        .ok_or_else(|| enc_err("pipeline has no bus".into()))?;
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        let detail = bus_error(&bus);
        let _ = pipeline.set_state(gst::State::Null);
        return Err(enc_err(format!("starting pipeline: {e}{detail}")));
    }

    let result = (|| {
        let mut img = RgbImage::new(spec.width, spec.height, [0, 0, 0]);
        let dur = gst::ClockTime::from_nseconds(1_000_000_000 / spec.fps as u64);
        for f in 0..spec.frame_count() {
            scene.render_into(frame_time(f, spec.fps), &mut img)?;
            let mut buf = gst::Buffer::from_mut_slice(std::mem::take(&mut img.data));
            {
                let b = buf.get_mut().expect("fresh buffer is writable");
                b.set_pts(gst::ClockTime::from_nseconds(
                    f * 1_000_000_000 / spec.fps as u64,
                ));
                b.set_duration(dur);
            }
            if let Err(e) = src.push_buffer(buf) {
                return Err(enc_err(format!("frame {f}: {e:?}{}", bus_error(&bus))));
            }
            if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
                return Err(enc_err(describe(&msg)));
            }
        }
        src.end_of_stream()
            .map_err(|e| enc_err(format!("end of stream: {e:?}")))?;
        match bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            Some(m) if m.type_() == gst::MessageType::Eos => Ok(()),
            Some(m) => Err(enc_err(describe(&m))),
            None => Err(enc_err("encoder did not finish within 120 s".into())),
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn bus_error(bus: &gst::Bus) -> String {
    bus.pop_filtered(&[gst::MessageType::Error])
        .map(|m| format!(": {}", describe(&m)))
        .unwrap_or_default()
}

fn describe(msg: &gst::Message) -> String {
    match msg.view() {
        gst::MessageView::Error(e) => format!("GStreamer error: {}", e.error()),
        _ => format!("unexpected GStreamer message {:?}", msg.type_()),
    }
}

/// Writes the ground truth as a JSON array.
pub fn write_truth(path: &Path, truth: &[TruthEntry]) -> Result<(), ClipError> {
    let json = serde_json::to_string_pretty(truth).expect("truth entries always serialise");
    std::fs::write(path, json + "\n").map_err(|source| ClipError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_spaces_vehicles_and_reports_full_view_frames() {
        let spec = ClipSpec {
            traffic: Traffic::Plates(vec!["AB12CDE".into(), "xy70 zzz".into()]),
            ..ClipSpec::default()
        };
        assert_eq!(spec.capacity(), 3);
        let (scene, truth) = plan_clip(&spec).unwrap();
        assert_eq!(scene.vehicles.len(), 2);
        assert_eq!(truth[0].vrm, "AB12CDE");
        assert_eq!(truth[1].vrm, "XY70ZZZ");
        // Appears at 0.5 s (frame 13 at 25 fps is the first at or after it).
        assert_eq!(truth[0].first_frame, 13);
        assert_eq!(truth[0].enter_ms, 520);
        assert!(truth[0].last_frame < truth[1].first_frame);
        assert!(truth[0].last_frame - truth[0].first_frame > 35);
        assert!(truth[1].last_frame < spec.frame_count());
    }

    #[test]
    fn absurd_specs_are_refused_before_anything_is_made() {
        for (spec, option) in [
            (
                ClipSpec {
                    traffic: Traffic::Count(usize::MAX),
                    ..ClipSpec::default()
                },
                "room for 3",
            ),
            (
                ClipSpec {
                    gap_s: 1e-40,
                    seconds: 3600.0,
                    ..ClipSpec::default()
                },
                "--gap-s",
            ),
            (
                ClipSpec {
                    width: 100_000,
                    height: 100_000,
                    ..ClipSpec::default()
                },
                "larger than",
            ),
            (
                ClipSpec {
                    width: 4096,
                    height: 64,
                    ..ClipSpec::default()
                },
                "wider than 8:1",
            ),
        ] {
            let e = plan_clip(&spec).unwrap_err().to_string();
            assert!(e.contains(option), "{e}");
        }
        // Any whitespace in a given plate is a space, as the truth has it.
        let spec = ClipSpec {
            traffic: Traffic::Plates(vec!["ab12 \tcde".into()]),
            ..ClipSpec::default()
        };
        let (_, truth) = plan_clip(&spec).unwrap();
        assert_eq!(truth[0].vrm, "AB12CDE");
    }

    #[test]
    fn bad_specs_name_the_option() {
        let too_many = ClipSpec {
            traffic: Traffic::Count(5),
            ..ClipSpec::default()
        };
        let e = plan_clip(&too_many).unwrap_err().to_string();
        assert!(e.contains("--seconds") && e.contains("room for 3"), "{e}");
        let odd = ClipSpec {
            width: 641,
            ..ClipSpec::default()
        };
        assert!(plan_clip(&odd).unwrap_err().to_string().contains("--width"));
        let bad_plate = ClipSpec {
            traffic: Traffic::Plates(vec!["AB1#CDE".into()]),
            ..ClipSpec::default()
        };
        assert!(
            plan_clip(&bad_plate)
                .unwrap_err()
                .to_string()
                .contains("AB1#CDE")
        );
        let bad_ext = write_clip(&ClipSpec::default(), Path::new("/tmp/x.gif")).unwrap_err();
        assert!(bad_ext.to_string().contains("--out"), "{bad_ext}");
    }
}

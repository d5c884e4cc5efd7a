//! Vehicle passes as the gateway sees them: hand-laid traffic scenes rendered
//! to H.264 and played through the real pipeline (capture → gate → recogniser
//! → grouping → spool). What is scored is what was stored.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anprd::config::Config;
use anprd::pipeline::Pipeline;
use anprd::plate::clip::{ClipSpec, encode_scene, frame_time, ground_truth};
use anprd::plate::render::PlateStyle;
use anprd::plate::scene::{Occluder, Scene, Vehicle};
use anprd::record::Read;

fn vehicle(vrm: &str, enter_s: f32, pass_s: f32, lane: f32) -> Vehicle {
    Vehicle {
        vrm: vrm.into(),
        style: PlateStyle::FRONT,
        body: [180, 30, 30],
        enter_s,
        pass_s,
        lane,
        receding: false,
    }
}

/// A clip of `seconds` at the default size and frame rate, with a fixed seed.
fn spec(seconds: f32) -> ClipSpec {
    ClipSpec {
        seconds,
        seed: 5,
        ..ClipSpec::default()
    }
}

/// Renders `vehicles` into a clip of `seconds`, runs the pipeline on it in
/// real time, and returns the stored reads (by plate) and the camera's stats.
fn play(vehicles: Vec<Vehicle>, seconds: f32) -> (BTreeMap<String, Vec<Read>>, u64, u64) {
    let spec = spec(seconds);
    let mut scene = Scene::new(spec.width, spec.height, spec.seed);
    scene.vehicles = vehicles;
    play_scene(&scene, &spec, "")
}

/// As `play`, for a scene laid out by the caller, with `extra` appended to
/// the daemon's configuration.
fn play_scene(
    scene: &Scene,
    spec: &ClipSpec,
    extra: &str,
) -> (BTreeMap<String, Vec<Read>>, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let seconds = spec.seconds;
    if !scene.vehicles.is_empty() {
        ground_truth(scene, spec).expect("every vehicle is fully in view at some point");
    }
    let clip = dir.path().join("scene.mp4");
    encode_scene(scene, spec, &clip).expect("the scene encodes");

    let text = format!(
        "[gateway]\nid = \"gw-t\"\n[[camera]]\nid = \"cam-t\"\nsource = \"file://{}\"\n\
         [mqtt]\nurl = \"mqtt://127.0.0.1:1\"\nallow_insecure = true\n[spool]\npath = \"{}\"\n{extra}",
        clip.display(),
        dir.path().join("spool").display()
    );
    let config = Config::parse(&text, Path::new("traffic.toml")).unwrap_or_else(|e| panic!("{e}"));
    let engines = || -> anyhow::Result<Box<dyn anprd::recognise::Recogniser>> {
        Ok(Box::new(anprd::recognise::classic::ClassicRecogniser::new()))
    };
    let pipeline = Pipeline::start(&config, &engines).unwrap();
    let camera = pipeline.stats.camera("cam-t").unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds as u64 + 60);
    while !camera.ended.load(Ordering::Relaxed) {
        assert!(Instant::now() < deadline, "the clip did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    let spool = pipeline.spool.clone();
    pipeline.stop();

    let mut reads: BTreeMap<String, Vec<Read>> = BTreeMap::new();
    let mut cursor = None;
    while let Some((key, entry)) = spool.next_after(cursor).unwrap() {
        cursor = Some(key);
        let read = Read::from_payload(&entry.payload).unwrap();
        reads.entry(read.vrm.clone()).or_default().push(read);
    }
    (
        reads,
        camera.analysed.load(Ordering::Relaxed),
        camera.skipped.load(Ordering::Relaxed),
    )
}

fn counts(reads: &BTreeMap<String, Vec<Read>>) -> BTreeMap<String, usize> {
    reads
        .iter()
        .map(|(vrm, r)| (vrm.clone(), r.len()))
        .collect()
}

fn expect(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(v, n)| (v.to_string(), *n)).collect()
}

#[test]
fn two_lanes_at_once_give_one_read_per_vehicle() {
    let (reads, ..) = play(
        vec![
            vehicle("AB12CDE", 0.5, 2.5, -1.6),
            vehicle("XY65ZZT", 0.5, 2.5, 1.6),
            vehicle("LM19KEY", 3.5, 2.5, 0.0),
        ],
        6.5,
    );
    assert_eq!(
        counts(&reads),
        expect(&[("AB12CDE", 1), ("LM19KEY", 1), ("XY65ZZT", 1)])
    );
}

#[test]
fn a_parked_car_is_read_once_while_traffic_passes_it() {
    let (reads, ..) = play(
        vec![
            // Stands still for the whole clip.
            vehicle("PK07CAR", 0.0, 100_000.0, 1.8),
            // Gaps of 1.5 s between passing cars: nothing moves then, the
            // parked car's track ends, and a new one starts with the next car.
            vehicle("AB12CDE", 1.0, 2.5, -1.0),
            vehicle("CD34EFG", 5.0, 2.5, -1.0),
            vehicle("GH56JKL", 9.0, 2.5, -1.0),
        ],
        12.0,
    );
    assert_eq!(
        counts(&reads),
        expect(&[
            ("AB12CDE", 1),
            ("CD34EFG", 1),
            ("GH56JKL", 1),
            ("PK07CAR", 1)
        ]),
        "the parked car is read once, not once per passing vehicle"
    );
}

#[test]
fn an_empty_road_gives_no_read_and_is_mostly_skipped() {
    let (reads, analysed, skipped) = play(Vec::new(), 4.0);
    assert!(reads.is_empty(), "{reads:?}");
    assert!(
        skipped > 9 * analysed,
        "motion gating skips a still road: {analysed} analysed, {skipped} skipped"
    );
}

#[test]
fn a_plate_hidden_for_a_few_frames_mid_pass_is_read_once() {
    let spec = spec(3.5);
    let car = vehicle("KT21VAN", 0.5, 2.5, -1.0);
    let mut scene = Scene::new(spec.width, spec.height, spec.seed);
    scene.vehicles = vec![car.clone()];
    let truth = ground_truth(&scene, &spec).unwrap();
    let mid = frame_time((truth[0].first_frame + truth[0].last_frame) / 2, spec.fps);
    // A van crosses in front of the car halfway through its pass.
    let van = Occluder::hiding(&scene, &car, mid, 0.32, spec.seed).unwrap();
    let hidden: Vec<u64> = (0..spec.frame_count())
        .filter(|&f| {
            let t = frame_time(f, spec.fps);
            scene
                .placement(&car, t)
                .is_some_and(|p| van.covers(t, spec.width, &p))
        })
        .collect();
    assert!((6..=12).contains(&hidden.len()), "{hidden:?}");
    assert!(truth[0].first_frame < hidden[0] && hidden[hidden.len() - 1] < truth[0].last_frame);
    scene.occluders.push(van);
    assert_eq!(
        ground_truth(&scene, &spec).unwrap(),
        truth,
        "still one pass"
    );

    // No suppression: a pass split in two would be stored as two reads.
    let (reads, ..) = play_scene(&scene, &spec, "[group]\nsuppress_s = 0\n");
    let seen: Vec<(&str, u32, i64)> = reads
        .values()
        .flatten()
        .map(|r| (r.vrm.as_str(), r.frames, r.captured_at))
        .collect();
    assert_eq!(
        counts(&reads),
        expect(&[("KT21VAN", 1)]),
        "plate hidden in frames {hidden:?}; reads (vrm, frames, best at) {seen:?}"
    );
    let read = &reads["KT21VAN"][0];
    assert!(!read.preview && read.supersedes.is_none());
}

//! Synthetic clips: the file must decode with GStreamer to the promised
//! number of frames, the ground truth must agree with it, and the classical
//! recogniser must read the plates back out of the compressed video.

use std::path::Path;
use std::process::Command;

use anprd::capture::Frame;
use anprd::plate::clip::{ClipSpec, Traffic, TruthEntry, write_clip, write_truth};
use anprd::recognise::Recogniser;
use anprd::recognise::classic::ClassicRecogniser;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::VideoFrameExt;

/// Decodes `path` to grey frames with decodebin.
fn decode(path: &Path) -> Vec<Frame> {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! appsink name=sink sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline.by_name("src").unwrap();
    src.set_property("location", path.to_str().unwrap());
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let buffer = sample.buffer().unwrap();
        let vf = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).unwrap();
        let (w, h) = (info.width() as usize, info.height() as usize);
        let stride = vf.plane_stride()[0] as usize;
        let data = vf.plane_data(0).unwrap();
        let mut luma = Vec::with_capacity(w * h);
        for y in 0..h {
            luma.extend_from_slice(&data[y * stride..y * stride + w]);
        }
        frames.push(Frame {
            seq: frames.len() as u64,
            captured_at: 0,
            width: w as u32,
            height: h as u32,
            luma: luma.into(),
            chroma: None,
        });
    }
    let bus = pipeline.bus().unwrap();
    let err = bus.pop_filtered(&[gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(err.is_none(), "decoding {}: {err:?}", path.display());
    frames
}

#[test]
fn mp4_clip_decodes_matches_truth_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("clip.mp4");
    let spec = ClipSpec {
        width: 1280,
        height: 720,
        fps: 25,
        seconds: 4.0,
        seed: 7,
        traffic: Traffic::Plates(vec!["AB12CDE".into(), "XY70ZKM".into()]),
        gap_s: 1.6,
        lead_s: 0.4,
        rear: false,
    };
    let truth = write_clip(&spec, &out).unwrap();
    let json = dir.path().join("truth.json");
    write_truth(&json, &truth).unwrap();
    let back: Vec<TruthEntry> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(back, truth);
    assert_eq!(
        truth.iter().map(|t| t.vrm.as_str()).collect::<Vec<_>>(),
        ["AB12CDE", "XY70ZKM"]
    );
    for t in &truth {
        assert!(t.first_frame < t.last_frame && t.last_frame < spec.frame_count());
        assert_eq!(t.enter_ms, t.first_frame * 40);
        assert_eq!(t.exit_ms, t.last_frame * 40);
    }
    assert!(truth[0].last_frame < truth[1].first_frame);
    // Empty road until 0.4 s.
    assert_eq!(truth[0].first_frame, 10);

    let frames = decode(&out);
    assert_eq!(frames.len() as u64, spec.frame_count());
    assert_eq!((frames[0].width, frames[0].height), (1280, 720));

    let mut rec = ClassicRecogniser::new();
    for f in &frames[..truth[0].first_frame as usize] {
        assert!(rec.recognise(f).is_empty(), "frame {} of empty road", f.seq);
    }
    for t in &truth {
        let span = &frames[t.first_frame as usize..=t.last_frame as usize];
        let exact = span
            .iter()
            .filter(|f| rec.recognise(f).first().is_some_and(|c| c.text == t.vrm))
            .count();
        eprintln!("{}: read exactly in {exact}/{} frames", t.vrm, span.len());
        assert!(
            exact * 10 >= span.len() * 7,
            "{}: {exact}/{}",
            t.vrm,
            span.len()
        );
    }
}

#[test]
fn avi_rear_clip_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("clip.avi");
    let spec = ClipSpec {
        width: 640,
        height: 360,
        fps: 10,
        seconds: 3.0,
        seed: 3,
        traffic: Traffic::Count(1),
        gap_s: 2.5,
        lead_s: 0.2,
        rear: true,
    };
    let truth = write_clip(&spec, &out).unwrap();
    assert_eq!(truth.len(), 1);
    assert!(anprd::plate::is_current_format(&truth[0].vrm));
    assert_eq!(decode(&out).len(), 30);
}

#[test]
fn synth_cli_writes_clip_and_truth_or_names_the_bad_option() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_anprd-synth");
    let out = dir.path().join("c.mp4");
    let truth = dir.path().join("t.json");
    let ok = Command::new(bin)
        .args([
            "clip",
            "--seconds",
            "2.6",
            "--width",
            "320",
            "--height",
            "180",
        ])
        .args(["--plates", "AB12CDE", "--out"])
        .arg(&out)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let t: Vec<TruthEntry> = serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
    assert_eq!(t[0].vrm, "AB12CDE");
    assert!(std::fs::metadata(&out).unwrap().len() > 1000);

    let bad = Command::new(bin)
        .args(["clip", "--seconds", "1", "--vehicles", "5", "--out"])
        .arg(&out)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(msg.contains("--seconds"), "{msg}");
}

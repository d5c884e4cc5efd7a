//! Golden test: the committed models (models/*.onnx) read plates this test
//! draws itself with anprd's own renderer, one of every UK format and
//! colour, one- and two-line, with and without a side band, in 720p and
//! 1080p frames, through the same plate rules the
//! daemon applies.

use anprd::plate::scene::{PlatePlacement, Scene, Vehicle, draw_vehicle};
use anprd::plate::{
    BandColour, NationalIdent, PlateColour, PlateShape, PlateStyle, SideBand, TwoLineSize,
    sample::printed,
};
use anprd::recognise::Recogniser;
use anprd::recognise::neural::{NeuralModels, NeuralRecogniser, default_models_dir};
use anprd::recognise::rules::{PlateRules, RuledRecogniser};

/// A yellow square plate (motorcycles, imports).
const SQUARE_REAR: PlateStyle = PlateStyle {
    shape: PlateShape::TwoLine(TwoLineSize::Square285),
    ..PlateStyle::REAR
};
/// A motorcycle plate: yellow, 229×178 mm, smaller characters.
const MOTORCYCLE: PlateStyle = PlateStyle {
    shape: PlateShape::TwoLine(TwoLineSize::Motorcycle),
    ..PlateStyle::REAR
};
/// A white plate with a blue "UK" side band.
const BANDED_FRONT: PlateStyle = PlateStyle {
    shape: PlateShape::OneLine {
        band: Some(SideBand {
            colour: BandColour::Blue,
            ident: NationalIdent::Uk,
        }),
    },
    ..PlateStyle::FRONT
};
/// A bordered yellow plate with a green "GB" side band.
const BANDED_REAR: PlateStyle = PlateStyle {
    colour: PlateColour::Yellow,
    border: true,
    shape: PlateShape::OneLine {
        band: Some(SideBand {
            colour: BandColour::Green,
            ident: NationalIdent::Gb,
        }),
    },
};

/// (registration, format, plate style, plate width in pixels).
const PLATES: &[(&str, &str, PlateStyle, f32)] = &[
    ("AB12CDE", "uk-current", PlateStyle::FRONT, 220.0),
    ("LV70XKM", "uk-current", PlateStyle::REAR, 180.0),
    ("YS23PNT", "uk-current", PlateStyle::HISTORIC, 240.0),
    ("A123BCD", "uk-prefix", PlateStyle::FRONT, 200.0),
    ("P8JTW", "uk-prefix", PlateStyle::REAR, 200.0),
    ("ABC123D", "uk-suffix", PlateStyle::REAR, 210.0),
    ("HNW45K", "uk-suffix", PlateStyle::FRONT, 190.0),
    ("ABZ1234", "uk-ni", PlateStyle::FRONT, 230.0),
    ("KIZ567", "uk-ni", PlateStyle::REAR, 200.0),
    (
        "4821RX",
        "uk-dateless-reversed",
        PlateStyle::HISTORIC,
        200.0,
    ),
    ("GYT48", "uk-dateless", PlateStyle::FRONT, 180.0),
    ("MF60TLO", "uk-current", PlateStyle::REAR, 300.0),
    ("KD19WRT", "uk-current", SQUARE_REAR, 150.0),
    ("AY64LMN", "uk-current", MOTORCYCLE, 130.0),
    ("R482HVX", "uk-prefix", SQUARE_REAR, 150.0),
    ("BT17ZRP", "uk-current", BANDED_FRONT, 240.0),
    ("SN08UHF", "uk-current", BANDED_REAR, 240.0),
];

fn uk_engine() -> RuledRecogniser {
    let models = NeuralModels::load(&default_models_dir()).expect("the committed models load");
    RuledRecogniser::new(Box::new(NeuralRecogniser::new(models)), PlateRules::uk())
}

fn read_all(width: u32, height: u32, scale: f32) -> Vec<(String, Option<String>, Option<String>)> {
    let mut engine = uk_engine();
    let scene = Scene::new(width, height, 3);
    PLATES
        .iter()
        .enumerate()
        .map(|(i, &(mark, format, style, plate_w))| {
            let v = Vehicle::still(&printed(mark, format), style, [(40 + 12 * i) as u8, 60, 90]);
            let cx = width as f32 * (0.3 + 0.4 * (i % 3) as f32 / 2.0);
            let cy = height as f32 * (0.55 + 0.1 * (i % 2) as f32);
            let (w_mm, h_mm) = style.shape.size_mm();
            let w = plate_w * scale;
            let h = w * h_mm / w_mm;
            let p = PlatePlacement {
                x: cx - w / 2.0,
                y: cy - h / 2.0,
                width: w,
                height: h,
            };
            let mut img = scene.background().clone();
            draw_vehicle(&mut img, &v, &p).expect("the plate fits the frame");
            let plates = engine.recognise(&img.to_frame(i as u64, 0));
            let best = plates.first();
            // Where each character stands is said across a one-line plate,
            // left to right, and not for two lines read side by side.
            if let Some(c) = best {
                if matches!(style.shape, PlateShape::OneLine { .. }) {
                    assert_eq!(c.char_at.len(), c.text.len(), "{mark}: {:?}", c.char_at);
                    assert!(
                        c.char_at.windows(2).all(|w| w[0] < w[1])
                            && c.char_at.iter().all(|x| (0.0..=1.0).contains(x)),
                        "{mark}: {:?}",
                        c.char_at
                    );
                } else {
                    assert!(c.char_at.is_empty(), "{mark}: {:?}", c.char_at);
                }
            }
            (
                mark.to_string(),
                best.map(|c| c.text.clone()),
                best.and_then(|c| c.format.clone()),
            )
        })
        .collect()
}

fn assert_all_read(results: Vec<(String, Option<String>, Option<String>)>) {
    let wrong: Vec<_> = results
        .iter()
        .filter(|(mark, text, _)| text.as_deref() != Some(mark.as_str()))
        .collect();
    assert!(wrong.is_empty(), "misread (mark, read, format): {wrong:?}");
    for (mark, _, format) in &results {
        assert!(format.is_some(), "{mark} matched no UK format");
    }
}

#[test]
fn every_uk_format_and_colour_is_read_in_a_720p_frame() {
    assert_all_read(read_all(1280, 720, 1.0));
}

#[test]
fn every_uk_format_and_colour_is_read_in_a_1080p_frame() {
    assert_all_read(read_all(1920, 1080, 1.5));
}

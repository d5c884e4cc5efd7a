//! Labelled training and test pictures: a plate of any UK format and colour,
//! put in perspective into a road scene and degraded like a photograph.
//! Each sample knows its text, format, four corners and box.

use super::degrade::{self, warp_into};
use super::render::{PLATE_WIDTH_MM, layout_shape};
use super::scene::Scene;
use super::{
    BandColour, GrayImage, NationalIdent, PlateColour, PlateShape, PlateStyle, SideBand,
    SplitMix64, TwoLineSize, render_plate,
};
use crate::recognise::rules::{PlateRules, UK_FORMATS};

/// One generated picture and its ground truth.
#[derive(Clone, Debug)]
pub struct Sample {
    pub image: GrayImage,
    /// The registration, no spaces.
    pub text: String,
    /// Its format's name (see [`crate::recognise::rules`]).
    pub format: &'static str,
    /// The plate's corners, clockwise from top left, in image pixels.
    pub corners: [[f32; 2]; 4],
    /// The corners' bounding box, clipped to the image: x, y, w, h.
    pub plate_box: [u32; 4],
    /// Plate colours: `white`, `yellow` or `black`.
    pub colour: &'static str,
    /// Plate width in pixels before perspective.
    pub width_px: f32,
    /// Infrared look (bright plate, dark surroundings).
    pub ir: bool,
    /// A square plate with the mark on two lines.
    pub two_line: bool,
}

/// A random UK registration and its format: current marks most often.
pub fn random_mark(rng: &mut SplitMix64) -> (String, &'static str) {
    let rules = PlateRules::uk();
    let k = if rng.unit() < 0.5 {
        0
    } else {
        rng.below(UK_FORMATS.len() as u64) as usize
    };
    let p = &rules.patterns()[k];
    (p.sample(rng), UK_FORMATS[k].0)
}

/// The mark with the space a plate prints: current and prefix marks split
/// before their last letter group, the others between letters and digits.
pub fn printed(text: &str, format: &str) -> String {
    let b = text.as_bytes();
    let cuts: Vec<usize> = (1..b.len())
        .filter(|&i| b[i].is_ascii_digit() != b[i - 1].is_ascii_digit())
        .collect();
    let cut = match format {
        "uk-current" | "uk-prefix" => cuts.last(),
        _ => cuts.first(),
    };
    match cut {
        Some(&i) => format!("{} {}", &text[..i], &text[i..]),
        None => text.to_owned(),
    }
}

/// How far a plate's picture is smeared by its motion while the shutter is
/// open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MotionBlur {
    /// As far as the plate travels during the exposure: 10–30 mm, drawn in
    /// the picture at the plate's own scale. A vehicle twice as far off is
    /// half as wide in the picture and crosses half as many pixels in the
    /// same time, so the smear is the same share of a plate's width (2–6 %)
    /// at any distance:
    /// 1.2–3.5 px on a 60 px plate, 8–23 px on a 400 px one, and the 3–9 px
    /// of [`Pixels`](Self::Pixels) on the median plate, 155 px wide.
    #[default]
    Travel,
    /// 3–9 px whatever the plate's size, on one picture in four, as the
    /// pictures the committed models were trained on were drawn: a 60 px
    /// plate smeared over up to 15 % of its width, a character and a half,
    /// which often leaves nothing to read. Kept to redraw those pictures.
    Pixels,
}

/// Draws a `w`×`h` labelled picture from `rng` (one-line plates 60–400 px
/// wide; square plates as wide as they would be beside them). About 10 % of
/// plates have two lines and 15 % of one-line plates a side band.
pub fn generate(rng: &mut SplitMix64, w: u32, h: u32, blur: MotionBlur) -> Sample {
    let (text, format) = random_mark(rng);
    let shown = printed(&text, format);
    draw(rng, w, h, text, shown, format, blur)
}

/// As [`generate`], with a text of 4–7 random letters and digits in any
/// order (format `any`, split at a random place or not at all): training
/// data that teaches a reader each glyph in every position, not the formats'
/// habits.
pub fn generate_any_text(rng: &mut SplitMix64, w: u32, h: u32, blur: MotionBlur) -> Sample {
    let chars = super::glyphs::CHARSET.as_bytes();
    let len = 4 + rng.below(4) as usize;
    let text: String = (0..len)
        .map(|_| char::from(chars[rng.below(chars.len() as u64) as usize]))
        .collect();
    let mut shown = text.clone();
    let split = rng.below(len as u64 + 1) as usize;
    if (1..len).contains(&split) {
        shown.insert(split, ' ');
    }
    draw(rng, w, h, text, shown, "any", blur)
}

/// A picture of a plate printed as `shown`, labelled `text` and `format`.
fn draw(
    rng: &mut SplitMix64,
    w: u32,
    h: u32,
    text: String,
    shown: String,
    format: &'static str,
    blur: MotionBlur,
) -> Sample {
    let style = match rng.below(20) {
        0..=8 => PlateStyle::FRONT,
        9..=16 => PlateStyle::REAR,
        _ => PlateStyle::HISTORIC,
    };
    let style = PlateStyle {
        border: rng.below(5) == 0,
        ..style
    };
    let style = PlateStyle {
        shape: random_shape(rng, style.colour),
        ..style
    };
    // Motorcycles carry a rear plate only.
    let style = match style.shape {
        PlateShape::TwoLine(TwoLineSize::Motorcycle) if style.colour == PlateColour::White => {
            PlateStyle {
                colour: PlateColour::Yellow,
                ..style
            }
        }
        _ => style,
    };
    // Every generated mark fits every shape (see the render tests); should
    // one not, fall back to the plain plate.
    let style = if layout_shape(&shown, style.shape).is_err() {
        PlateStyle {
            shape: PlateShape::ONE_LINE,
            ..style
        }
    } else {
        style
    };
    let (shape_w, shape_h) = style.shape.size_mm();
    // At most 70 % of the picture's width, and short enough that the plate
    // (tilted, two-line ones nearly square) stays inside its height.
    let max_w = 400f32
        .min(w as f32 * 0.7)
        .min(h as f32 * 0.6 * PLATE_WIDTH_MM / shape_h)
        .max(60.0);
    // The width a 520 mm plate would have; square plates are narrower.
    let pw = 60.0 * (max_w / 60.0).powf(rng.unit()) * (shape_w / PLATE_WIDTH_MM);
    let ph = pw * shape_h / shape_w;

    // The plate, drawn at twice the size it will have, in a surround.
    let big = ((pw * 2.0) as u32).clamp(120, 800);
    let plate = render_plate(&shown, style, big)
        .expect("generated marks fit a plate")
        .to_gray();
    let mut plate = plate;
    mark_up(&mut plate, rng);
    let m = (big as f32 * rng.range(0.02, 0.08)) as u32;
    let fill = rng.below(256) as u8;
    let mut card = GrayImage {
        width: plate.width + 2 * m,
        height: plate.height + 2 * m,
        data: vec![fill; ((plate.width + 2 * m) * (plate.height + 2 * m)) as usize],
    };
    for y in 0..plate.height {
        let src = &plate.data[(y * plate.width) as usize..((y + 1) * plate.width) as usize];
        let at = ((y + m) * card.width + m) as usize;
        card.data[at..at + plate.width as usize].copy_from_slice(src);
    }
    let (mf, bw, bh) = (m as f32, plate.width as f32, plate.height as f32);
    let src_quad = [[mf, mf], [mf + bw, mf], [mf + bw, mf + bh], [mf, mf + bh]];

    // Where it lands: rotated, with yaw and pitch, inside the picture.
    let angle = rng.range(-0.14, 0.14) * if rng.below(6) == 0 { 2.0 } else { 1.0 };
    let yaw = rng.range(0.8, 1.2);
    let pitch = rng.range(0.88, 1.0);
    let local = [
        [-pw / 2.0 * pitch, -ph / 2.0],
        [pw / 2.0 * pitch, -ph / 2.0 * yaw],
        [pw / 2.0, ph / 2.0 * yaw],
        [-pw / 2.0, ph / 2.0],
    ];
    let reach = pw * 0.6 + 4.0;
    let reach_y = (reach * 0.5).max(ph * 0.6 + 4.0);
    let cx = rng.range(reach, (w as f32 - reach).max(reach + 1.0));
    let cy = rng.range(reach_y, (h as f32 - reach_y).max(reach_y + 1.0));
    let (s, c) = angle.sin_cos();
    let corners = local.map(|[x, y]| [cx + x * c - y * s, cy + x * s + y * c]);

    let seed = rng.next_u64();
    let mut image = Scene::new(w, h, seed).background().to_gray();
    let ir = rng.below(10) == 0;
    if ir {
        degrade::map_levels(&mut image, |v| v * 0.25);
        degrade::map_levels(&mut card, |v| 40.0 + v * 0.85);
    }
    warp_into(&mut image, &card, &src_quad, &corners).expect("plate quads are never degenerate");
    // Pixels per millimetre of the plate: how far a millimetre's travel smears it.
    let px_per_mm = pw / shape_w;
    photograph(&mut image, rng, &corners, blur, px_per_mm);

    let xs = corners.map(|p| p[0]);
    let ys = corners.map(|p| p[1]);
    let lo = |v: [f32; 4]| v.into_iter().fold(f32::MAX, f32::min).max(0.0);
    let hi = |v: [f32; 4], lim: u32| v.into_iter().fold(f32::MIN, f32::max).min(lim as f32);
    let (x0, y0) = (lo(xs), lo(ys));
    let plate_box = [
        x0.round() as u32,
        y0.round() as u32,
        (hi(xs, w) - x0).round() as u32,
        (hi(ys, h) - y0).round() as u32,
    ];
    let colour = match style.colour {
        PlateColour::White => "white",
        PlateColour::Yellow => "yellow",
        PlateColour::BlackSilver => "black",
    };
    Sample {
        image,
        text,
        format,
        corners,
        plate_box,
        colour,
        width_px: pw,
        ir,
        two_line: style.shape.is_two_line(),
    }
}

/// Two lines for about 10 % of plates, in any legal size; a side band on
/// about 15 % of one-line plates (not historic ones, which never had one).
fn random_shape(rng: &mut SplitMix64, colour: PlateColour) -> PlateShape {
    if rng.below(10) == 0 {
        return PlateShape::TwoLine(match rng.below(3) {
            0 => TwoLineSize::Square285,
            1 => TwoLineSize::Square279,
            _ => TwoLineSize::Motorcycle,
        });
    }
    // 15 % of all one-line plates: 3 in 17 of the non-historic ones.
    if colour != PlateColour::BlackSilver && rng.below(17) < 3 {
        let colour = if rng.below(3) == 0 {
            BandColour::Green
        } else {
            BandColour::Blue
        };
        let ident = if rng.below(2) == 0 {
            NationalIdent::Gb
        } else {
            NationalIdent::Uk
        };
        return PlateShape::OneLine {
            band: Some(SideBand { colour, ident }),
        };
    }
    PlateShape::ONE_LINE
}

/// Screws, dirt and a dealer's line on the plate face.
fn mark_up(plate: &mut GrayImage, rng: &mut SplitMix64) {
    let (w, h) = (plate.width as f32, plate.height as f32);
    let mut dot = |x: f32, y: f32, r: f32, level: u8| {
        let (x0, x1) = ((x - r).max(0.0) as u32, ((x + r) as u32).min(plate.width));
        let (y0, y1) = ((y - r).max(0.0) as u32, ((y + r) as u32).min(plate.height));
        for py in y0..y1 {
            for px in x0..x1 {
                if (px as f32 - x).powi(2) + (py as f32 - y).powi(2) <= r * r {
                    plate.data[(py * plate.width + px) as usize] = level;
                }
            }
        }
    };
    if rng.below(2) == 0 {
        let y = h * rng.range(0.3, 0.7);
        dot(w * 0.1, y, h * 0.04, 90);
        dot(w * 0.9, y, h * 0.04, 90);
    }
    if rng.below(3) == 0 {
        for _ in 0..rng.below(40) {
            let level = rng.range(60.0, 160.0) as u8;
            dot(
                rng.unit() * w,
                rng.unit() * h,
                h * rng.range(0.005, 0.03),
                level,
            );
        }
    }
    if rng.below(3) == 0 {
        // Small print along the bottom edge, like a dealer's name.
        let y = h * 0.93;
        let mut x = w * 0.35;
        while x < w * 0.65 {
            dot(x, y, h * 0.018, 70);
            x += h * rng.range(0.03, 0.06);
        }
    }
}

/// Camera faults over the whole picture: low contrast, shadow, glare, blur,
/// motion (`px_per_mm`: the plate's scale), noise and JPEG.
fn photograph(
    img: &mut GrayImage,
    rng: &mut SplitMix64,
    corners: &[[f32; 2]; 4],
    blur: MotionBlur,
    px_per_mm: f32,
) {
    let [cx, cy] = [
        corners.iter().map(|p| p[0]).sum::<f32>() / 4.0,
        corners.iter().map(|p| p[1]).sum::<f32>() / 4.0,
    ];
    if rng.below(5) == 0 {
        let k = rng.range(0.35, 0.7);
        let mid = rng.range(90.0, 160.0);
        degrade::map_levels(img, |v| mid + (v - mid) * k);
    }
    if rng.below(5) == 0 {
        let f = rng.range(0.45, 0.8);
        degrade::shadow(
            img,
            cx + rng.range(-60.0, 60.0),
            cy,
            rng.range(0.0, std::f32::consts::TAU),
            f,
        );
    }
    if rng.below(10) == 0 {
        let (gx, gy) = (cx + rng.range(-80.0, 80.0), cy + rng.range(-30.0, 30.0));
        degrade::glare(img, gx, gy, rng.range(8.0, 40.0), rng.range(60.0, 160.0));
    }
    match rng.below(4) {
        0 => degrade::box_blur(img, 1, 1),
        1 => {
            let step = rng.below(4);
            match blur {
                MotionBlur::Pixels => degrade::box_blur(img, 1 + step as usize, 0),
                MotionBlur::Travel => {
                    degrade::motion_blur(img, [10.0, 17.0, 23.0, 30.0][step as usize] * px_per_mm)
                }
            }
        }
        _ => {}
    }
    let sigma = rng.range(0.0, 8.0);
    degrade::add_noise(img, rng, sigma);
    if rng.below(3) != 0 {
        degrade::jpeg_round_trip(img, rng.range(30.0, 92.0) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_marks_split_where_plates_do() {
        assert_eq!(printed("AB12CDE", "uk-current"), "AB12 CDE");
        assert_eq!(printed("A123BCD", "uk-prefix"), "A123 BCD");
        assert_eq!(printed("ABC123D", "uk-suffix"), "ABC 123D");
        assert_eq!(printed("ABZ1234", "uk-ni"), "ABZ 1234");
        assert_eq!(printed("1234AB", "uk-dateless-reversed"), "1234 AB");
    }

    #[test]
    fn samples_are_reproducible_and_boxed() {
        let a = generate(&mut SplitMix64::new(5), 320, 240, MotionBlur::Travel);
        let b = generate(&mut SplitMix64::new(5), 320, 240, MotionBlur::Travel);
        assert_eq!(a.image, b.image);
        assert_eq!(a.text, b.text);
        let [x, y, w, h] = a.plate_box;
        assert!(
            w >= 40 && h >= 8 && x + w <= 320 && y + h <= 240,
            "{:?}",
            a.plate_box
        );
    }

    #[test]
    fn motion_blur_choice_changes_only_the_smeared_pictures() {
        // Same draws either way: the same plates in the same places, and the
        // same pixels but where the camera smeared the picture (one in four).
        let (mut travel, mut pixels) = (SplitMix64::new(21), SplitMix64::new(21));
        let mut differ = 0;
        for _ in 0..200 {
            let a = generate(&mut travel, 320, 240, MotionBlur::Travel);
            let b = generate(&mut pixels, 320, 240, MotionBlur::Pixels);
            assert_eq!(
                (&a.text, a.corners, a.plate_box),
                (&b.text, b.corners, b.plate_box)
            );
            differ += usize::from(a.image != b.image);
        }
        assert!(
            (30..70).contains(&differ),
            "{differ} of 200 pictures differ"
        );
    }

    #[test]
    fn any_text_samples_use_every_glyph_anywhere() {
        let mut rng = SplitMix64::new(3);
        let samples: Vec<Sample> = (0..200)
            .map(|_| generate_any_text(&mut rng, 320, 240, MotionBlur::Travel))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        let (uk, mut fit_uk) = (PlateRules::uk(), 0);
        for s in &samples {
            assert_eq!(s.format, "any");
            assert!((4..=7).contains(&s.text.len()), "{}", s.text);
            assert!(s.text.bytes().all(|c| c.is_ascii_alphanumeric()));
            assert!(!s.text.bytes().any(|c| c.is_ascii_lowercase()));
            seen.extend(s.text.bytes());
            let verdict = uk.judge(&s.text);
            fit_uk += usize::from(verdict.format.is_some() && verdict.fixed.is_empty());
        }
        assert_eq!(seen.len(), 36, "every letter and digit appears");
        // Mostly texts no UK format allows: the formats' habits are not taught.
        assert!(fit_uk < 40, "{fit_uk} of 200 fit a UK format as drawn");
    }

    #[test]
    fn plates_stay_inside_a_short_picture() {
        let mut rng = SplitMix64::new(11);
        // A 96 px picture: every plate is shorter than the picture and
        // centred in it (before, plates up to 156 px tall were drawn).
        for _ in 0..200 {
            let s = generate(&mut rng, 1280, 96, MotionBlur::Travel);
            let ys = s.corners.map(|[_, y]| y);
            let (top, bottom) = (
                ys.iter().copied().fold(f32::MAX, f32::min),
                ys.iter().copied().fold(f32::MIN, f32::max),
            );
            let centre = ys.iter().sum::<f32>() / 4.0;
            assert!(
                bottom - top < 96.0 && (0.0..96.0).contains(&centre),
                "{} at {:?}",
                s.text,
                s.corners
            );
        }
    }

    #[test]
    fn shapes_come_in_the_intended_shares() {
        let mut rng = SplitMix64::new(9);
        let (mut two, mut one, mut band) = (0, 0, 0);
        for i in 0..20_000 {
            let colour = [
                PlateColour::White,
                PlateColour::Yellow,
                PlateColour::BlackSilver,
            ][[0, 0, 0, 1, 1, 1, 2][i % 7]];
            match random_shape(&mut rng, colour) {
                PlateShape::TwoLine(_) => two += 1,
                PlateShape::OneLine { band: b } => {
                    one += 1;
                    band += usize::from(b.is_some());
                    assert!(b.is_none() || colour != PlateColour::BlackSilver);
                }
            }
        }
        let two = two as f32 / 20_000.0;
        let band = band as f32 / one as f32;
        assert!((0.09..0.11).contains(&two), "{two}");
        // 6 of 7 colours here may carry one: 6/7 × 3/17 ≈ 15 %.
        assert!((0.13..0.17).contains(&band), "{band}");
    }

    #[test]
    fn two_line_samples_are_square_and_labelled() {
        let mut rng = SplitMix64::new(1);
        let s = (0..100)
            .map(|_| generate(&mut rng, 320, 240, MotionBlur::Travel))
            .find(|s| s.two_line)
            .expect("one in ten samples has two lines");
        let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        let [tl, tr, _, bl] = s.corners;
        let ratio = d(tl, tr) / d(tl, bl);
        // 229:178 to 285:203 before yaw, pitch and rotation (one-line: 4.7).
        assert!((0.9..2.0).contains(&ratio), "{ratio}: {:?}", s.corners);
    }
}

//! Traffic scenes: a fixed roadside camera watching vehicles pass.
//!
//! A static background (sky, tree line, textured road with lane marks) is
//! drawn once; each frame copies it and draws the vehicles on top at the
//! position their motion gives for that instant. Motion follows a pinhole
//! camera: a vehicle driving at constant speed towards the camera grows as
//! 1/distance, and its plate moves down the picture in proportion to its size,
//! so the plate widens from 7.5 % to about 23 % of the frame width (≈ 96 → 300
//! px at 1280 wide) and then leaves through the bottom edge.

use super::SplitMix64;
use super::render::{PLATE_WIDTH_MM, PlateStyle, RenderError, RgbImage, draw_plate};

/// Plate width, as a fraction of the frame width, when a vehicle appears.
const START_WIDTH: f32 = 0.075;
/// Plate centre height (fraction of frame height) when it appears.
const START_Y: f32 = 0.42;
/// Vertical image motion per pixel of plate width, in frame heights per
/// frame width: puts a plate 20 % of the frame wide at 88 % of the height.
const Y_PER_WIDTH: f32 = 3.68;

/// One vehicle's trip through the picture.
#[derive(Clone, Debug)]
pub struct Vehicle {
    /// Registration shown on the plate, e.g. `AB12CDE` (spaces allowed).
    pub vrm: String,
    pub style: PlateStyle,
    /// Paint colour.
    pub body: [u8; 3],
    /// When it appears, seconds from the start of the clip.
    pub enter_s: f32,
    /// How long it takes to cross the picture.
    pub pass_s: f32,
    /// Sideways offset of its path, in plate widths from the image centre.
    pub lane: f32,
    /// Driving away from the camera (rear view) instead of towards it.
    pub receding: bool,
}

impl PlatePlacement {
    /// A one-line UK plate `width` pixels wide centred on (cx, cy).
    pub fn centred(cx: f32, cy: f32, width: f32) -> PlatePlacement {
        let height = width * super::render::PLATE_HEIGHT_MM / PLATE_WIDTH_MM;
        PlatePlacement {
            x: cx - width * 0.5,
            y: cy - height * 0.5,
            width,
            height,
        }
    }
}

impl Vehicle {
    /// A vehicle for a single still picture: front view for white plates,
    /// rear view for yellow ones.
    pub fn still(vrm: &str, style: PlateStyle, body: [u8; 3]) -> Vehicle {
        Vehicle {
            vrm: vrm.to_owned(),
            style,
            body,
            enter_s: 0.0,
            pass_s: 1.0,
            lane: 0.0,
            receding: style == PlateStyle::REAR,
        }
    }
}

/// Where a plate sits in one frame, in pixels (fractional).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlatePlacement {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl PlatePlacement {
    /// Whether the whole plate lies inside a `w`×`h` picture.
    pub fn inside(&self, w: u32, h: u32) -> bool {
        self.x >= 0.0
            && self.y >= 0.0
            && self.x + self.width <= w as f32
            && self.y + self.height <= h as f32
    }

    /// Integer box x, y, width, height (clipped to nothing outside the frame).
    pub fn to_box(&self) -> [u32; 4] {
        let x0 = self.x.max(0.0).round() as u32;
        let y0 = self.y.max(0.0).round() as u32;
        let x1 = (self.x + self.width).max(0.0).round() as u32;
        let y1 = (self.y + self.height).max(0.0).round() as u32;
        [x0, y0, x1.saturating_sub(x0), y1.saturating_sub(y0)]
    }
}

/// A camera view with its vehicles.
#[derive(Clone, Debug)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    background: RgbImage,
    pub vehicles: Vec<Vehicle>,
    /// Drawn over every vehicle.
    pub occluders: Vec<Occluder>,
}

/// A tall opaque body nearer the camera than the traffic (a van crossing the
/// end of the road) that slides sideways through the picture and hides a
/// plate for a few frames of its pass: the pass must still be one read.
#[derive(Clone, Debug, PartialEq)]
pub struct Occluder {
    /// Paint colour.
    pub body: [u8; 3],
    /// When its leading edge enters the picture, seconds from the start.
    pub enter_s: f32,
    /// Sideways speed in pixels per second; negative moves right to left.
    pub speed: f32,
    /// Width in pixels.
    pub width: f32,
    /// Top edge in pixels; it reaches down to the bottom of the picture.
    pub top: f32,
}

impl Occluder {
    /// An occluder that completely hides `v`'s plate for about `hidden_s`
    /// around `at_s`, its side, colour, height and speed drawn from `seed`.
    /// `None` when the plate is not in the picture at `at_s`.
    pub fn hiding(
        scene: &Scene,
        v: &Vehicle,
        at_s: f32,
        hidden_s: f32,
        seed: u64,
    ) -> Option<Occluder> {
        let p = scene.placement(v, at_s)?;
        let (w, h) = (scene.width as f32, scene.height as f32);
        let mut rng = SplitMix64::new(seed ^ 0x0CC1_0DE5);
        let dir = if rng.below(2) == 0 { 1.0 } else { -1.0 };
        let speed = dir * rng.range(1.3, 1.7) * w;
        // The plate drifts sideways too; what counts is the speed between them.
        let drift = scene
            .placement(v, at_s + 0.01)
            .map_or(0.0, |q| (q.x - p.x) / 0.01);
        let width = p.width + hidden_s * (speed - drift).abs();
        let top = (rng.range(0.12, 0.25) * h).min(p.y - p.height).max(0.0);
        // Centred on the plate at `at_s`.
        let left = p.x + 0.5 * p.width - 0.5 * width;
        let start = if speed > 0.0 { -width } else { w };
        Some(Occluder {
            body: random_body(&mut rng),
            enter_s: at_s - (left - start) / speed,
            speed,
            width,
            top,
        })
    }

    /// Left edge in pixels at `t_s`, or `None` while it is out of the picture.
    fn left(&self, t_s: f32, frame_width: u32) -> Option<f32> {
        let w = frame_width as f32;
        let dt = t_s - self.enter_s;
        let left = if self.speed > 0.0 {
            -self.width + self.speed * dt
        } else {
            w + self.speed * dt
        };
        (dt >= 0.0 && left < w && left + self.width > 0.0).then_some(left)
    }

    /// Whether it hides the whole of plate `p` at `t_s`.
    pub fn covers(&self, t_s: f32, frame_width: u32, p: &PlatePlacement) -> bool {
        self.left(t_s, frame_width)
            .is_some_and(|l| l <= p.x && l + self.width >= p.x + p.width && self.top <= p.y)
    }

    /// Whether it hides any of plate `p` at `t_s`.
    pub fn overlaps(&self, t_s: f32, frame_width: u32, p: &PlatePlacement) -> bool {
        self.left(t_s, frame_width)
            .is_some_and(|l| l < p.x + p.width && l + self.width > p.x && self.top < p.y + p.height)
    }
}

impl Scene {
    /// An empty road, `width`×`height`, its texture drawn from `seed`.
    pub fn new(width: u32, height: u32, seed: u64) -> Scene {
        Scene {
            width,
            height,
            background: background(width, height, seed),
            vehicles: Vec::new(),
            occluders: Vec::new(),
        }
    }

    /// The empty road.
    pub fn background(&self) -> &RgbImage {
        &self.background
    }

    /// Plate position of `v` at `t_s` seconds, or `None` while it is not in
    /// the picture at all.
    pub fn placement(&self, v: &Vehicle, t_s: f32) -> Option<PlatePlacement> {
        if v.pass_s <= 0.0 {
            return None;
        }
        let mut u = (t_s - v.enter_s) / v.pass_s;
        if !(0.0..1.0).contains(&u) {
            return None;
        }
        if v.receding {
            u = 1.0 - u;
        }
        let (w, h) = (self.width as f32, self.height as f32);
        let w0 = START_WIDTH * w;
        let a = Y_PER_WIDTH * h / w;
        let y_h = START_Y * h - a * w0;
        // `pw` is the width a 520 mm plate would have at this distance;
        // square plates are narrower and taller in proportion.
        let (shape_w, shape_h) = v.style.shape.size_mm();
        let aspect = shape_h / PLATE_WIDTH_MM;
        // The width at which the plate's top edge reaches the bottom of the frame.
        let w1 = (h - y_h) / (a - 0.5 * aspect);
        // Constant speed: inverse width (distance) changes linearly in time.
        let pw = 1.0 / (1.0 / w0 + (1.0 / w1 - 1.0 / w0) * u);
        let ph = pw * aspect;
        let width = pw * (shape_w / PLATE_WIDTH_MM);
        let cy = y_h + a * pw;
        let cx = 0.5 * w + v.lane * pw;
        Some(PlatePlacement {
            x: cx - 0.5 * width,
            y: cy - 0.5 * ph,
            width,
            height: ph,
        })
    }

    /// Draws the picture at `t_s` seconds into `out` (resized as needed).
    pub fn render_into(&self, t_s: f32, out: &mut RgbImage) -> Result<(), RenderError> {
        out.width = self.width;
        out.height = self.height;
        out.data.clear();
        out.data.extend_from_slice(&self.background.data);
        // Far vehicles first so near ones cover them.
        let mut visible: Vec<(&Vehicle, PlatePlacement)> = self
            .vehicles
            .iter()
            .filter_map(|v| self.placement(v, t_s).map(|p| (v, p)))
            .collect();
        visible.sort_by(|a, b| a.1.width.total_cmp(&b.1.width));
        for (v, p) in visible {
            draw_vehicle(out, v, &p)?;
        }
        for o in &self.occluders {
            if let Some(left) = o.left(t_s, self.width) {
                draw_occluder(out, o, left);
            }
        }
        Ok(())
    }

    /// The picture at `t_s` seconds.
    pub fn render(&self, t_s: f32) -> Result<RgbImage, RenderError> {
        let mut img = RgbImage::new(0, 0, [0, 0, 0]);
        self.render_into(t_s, &mut img)?;
        Ok(img)
    }
}

/// A plausible paint colour.
pub fn random_body(rng: &mut SplitMix64) -> [u8; 3] {
    const PAINT: [[u8; 3]; 9] = [
        [200, 200, 205],
        [40, 42, 48],
        [150, 20, 25],
        [25, 50, 120],
        [120, 125, 130],
        [230, 230, 225],
        [20, 80, 50],
        [90, 60, 40],
        [170, 170, 175],
    ];
    PAINT[rng.below(PAINT.len() as u64) as usize]
}

/// Draws a car front (or back) around the plate placement `p`: body, glass,
/// lights, grille, wheels and shadow, sized from the plate (520 mm wide).
pub fn draw_vehicle(
    img: &mut RgbImage,
    v: &Vehicle,
    p: &PlatePlacement,
) -> Result<(), RenderError> {
    let m = p.width / 0.52; // pixels per metre at the vehicle
    let cx = p.x + 0.5 * p.width;
    let cy = p.y + 0.5 * p.height;
    // Metres (x right, y up from the plate centre) to pixels.
    let rx = |x: f32| cx + x * m;
    let ry = |y: f32| cy - y * m;
    let body = v.body.map(|c| c as f32);
    let shade = |k: f32| body.map(|c| (c * k).clamp(0.0, 255.0));

    // Shadow on the road, then wheels, then the body over them.
    fill_rect(img, rx(-1.0), ry(-0.40), rx(1.0), ry(-0.48), [0.0; 3], 0.55);
    for side in [-1.0f32, 1.0] {
        let x = side * 0.74;
        fill_rect(
            img,
            rx(x - 0.13),
            ry(-0.02),
            rx(x + 0.13),
            ry(-0.45),
            [18.0, 18.0, 20.0],
            1.0,
        );
    }
    // Lower body and bumper.
    fill_gradient(
        img,
        rx(-0.88),
        ry(0.62),
        rx(0.88),
        ry(-0.30),
        shade(1.0),
        shade(0.7),
    );
    // Cabin: tapering glasshouse over the bonnet line.
    fill_trapezoid(
        img,
        ry(1.28),
        ry(0.62),
        rx(-0.62),
        rx(0.62),
        rx(-0.84),
        rx(0.84),
        shade(0.95),
    );
    let glass = if v.receding {
        [35.0, 40.0, 48.0]
    } else {
        [55.0, 65.0, 78.0]
    };
    fill_trapezoid(
        img,
        ry(1.20),
        ry(0.70),
        rx(-0.56),
        rx(0.56),
        rx(-0.74),
        rx(0.74),
        glass,
    );
    // Grille (front) or boot lid seam (rear).
    if v.receding {
        fill_rect(
            img,
            rx(-0.80),
            ry(0.45),
            rx(0.80),
            ry(0.42),
            shade(0.5),
            1.0,
        );
    } else {
        fill_rect(
            img,
            rx(-0.34),
            ry(0.46),
            rx(0.34),
            ry(0.24),
            [30.0, 30.0, 32.0],
            1.0,
        );
        for k in 0..3 {
            let y = 0.42 - 0.07 * k as f32;
            fill_rect(
                img,
                rx(-0.32),
                ry(y),
                rx(0.32),
                ry(y - 0.02),
                [70.0, 70.0, 72.0],
                1.0,
            );
        }
    }
    let lamp = if v.receding {
        [170.0, 25.0, 20.0]
    } else {
        [235.0, 235.0, 220.0]
    };
    for side in [-1.0f32, 1.0] {
        fill_rect(
            img,
            rx(side * 0.48),
            ry(0.50),
            rx(side * 0.82),
            ry(0.34),
            lamp,
            1.0,
        );
    }
    // Recess behind the plate.
    fill_rect(
        img,
        p.x - 0.03 * m,
        p.y - 0.025 * m,
        p.x + p.width + 0.03 * m,
        p.y + p.height + 0.025 * m,
        shade(0.45),
        1.0,
    );
    let soften = (p.width / 250.0).clamp(0.3, 1.0);
    draw_plate(img, &v.vrm, v.style, p.x, p.y, p.width, soften)
}

/// A van side seen end on to the road: shaded panel, dark window band at
/// the top, darker skirt at the bottom; no text, nothing plate-like.
fn draw_occluder(img: &mut RgbImage, o: &Occluder, left: f32) {
    let right = left + o.width;
    let bottom = img.height as f32;
    let tall = bottom - o.top;
    let body = o.body.map(|c| c as f32);
    let shade = |k: f32| body.map(|c| (c * k).clamp(0.0, 255.0));
    fill_gradient(img, left, o.top, right, bottom, shade(1.0), shade(0.75));
    fill_rect(
        img,
        left + 0.04 * o.width,
        o.top + 0.05 * tall,
        right - 0.04 * o.width,
        o.top + 0.2 * tall,
        [45.0, 52.0, 60.0],
        1.0,
    );
    fill_rect(
        img,
        left,
        bottom - 0.08 * tall,
        right,
        bottom,
        shade(0.4),
        1.0,
    );
}

/// Fills the box between two corners (any order), blending `alpha` of `c`.
fn fill_rect(img: &mut RgbImage, xa: f32, ya: f32, xb: f32, yb: f32, c: [f32; 3], alpha: f32) {
    let (x0, x1) = (xa.min(xb), xa.max(xb));
    let (y0, y1) = (ya.min(yb), ya.max(yb));
    let (xs, xe) = clip_span(x0, x1, img.width);
    let (ys, ye) = clip_span(y0, y1, img.height);
    for y in ys..ye {
        blend_row(img, y, xs, xe, c, alpha);
    }
}

/// Vertical gradient from `top` to `bottom` colour.
fn fill_gradient(
    img: &mut RgbImage,
    xa: f32,
    ya: f32,
    xb: f32,
    yb: f32,
    top: [f32; 3],
    bottom: [f32; 3],
) {
    let (x0, x1) = (xa.min(xb), xa.max(xb));
    let (y0, y1) = (ya.min(yb), ya.max(yb));
    let (xs, xe) = clip_span(x0, x1, img.width);
    let (ys, ye) = clip_span(y0, y1, img.height);
    for y in ys..ye {
        let t = ((y as f32 - y0) / (y1 - y0).max(1.0)).clamp(0.0, 1.0);
        let c = [0, 1, 2].map(|k| top[k] + (bottom[k] - top[k]) * t);
        blend_row(img, y, xs, xe, c, 1.0);
    }
}

/// Trapezoid with horizontal top (`yt`, `xtl`..`xtr`) and bottom edges.
#[allow(clippy::too_many_arguments)]
fn fill_trapezoid(
    img: &mut RgbImage,
    yt: f32,
    yb: f32,
    xtl: f32,
    xtr: f32,
    xbl: f32,
    xbr: f32,
    c: [f32; 3],
) {
    let (ys, ye) = clip_span(yt, yb, img.height);
    for y in ys..ye {
        let t = ((y as f32 + 0.5 - yt) / (yb - yt).max(1.0)).clamp(0.0, 1.0);
        let l = xtl + (xbl - xtl) * t;
        let r = xtr + (xbr - xtr) * t;
        let (xs, xe) = clip_span(l, r, img.width);
        blend_row(img, y, xs, xe, c, 1.0);
    }
}

fn clip_span(a: f32, b: f32, limit: u32) -> (usize, usize) {
    let s = a.round().clamp(0.0, limit as f32) as usize;
    let e = b.round().clamp(0.0, limit as f32) as usize;
    (s, e.max(s))
}

fn blend_row(img: &mut RgbImage, y: usize, xs: usize, xe: usize, c: [f32; 3], alpha: f32) {
    let w = img.width as usize;
    let row = &mut img.data[(y * w + xs) * 3..(y * w + xe) * 3];
    if alpha >= 1.0 {
        let px = c.map(|v| v.round().clamp(0.0, 255.0) as u8);
        for p in row.chunks_exact_mut(3) {
            p.copy_from_slice(&px);
        }
    } else {
        for p in row.chunks_exact_mut(3) {
            for k in 0..3 {
                let old = p[k] as f32;
                p[k] = (old + (c[k] - old) * alpha).round() as u8;
            }
        }
    }
}

/// The static view: sky, tree line, verges and a two-lane road with dashed
/// markings converging on the vanishing point the vehicles come from.
fn background(width: u32, height: u32, seed: u64) -> RgbImage {
    let (w, h) = (width as f32, height as f32);
    let mut img = RgbImage::new(width, height, [0, 0, 0]);
    let mut rng = SplitMix64::new(seed ^ 0x5CE4E);
    let a = Y_PER_WIDTH * h / w;
    let horizon = START_Y * h - a * START_WIDTH * w;
    let vx = 0.5 * w;
    // Road half-width at depth: grows linearly below the horizon.
    let road_k = 1.15 * w / (h - horizon).max(1.0);
    let tree_top = (horizon - 0.09 * h).max(0.0);
    // Tree line: a bumpy silhouette from a few random sine terms.
    let phases: Vec<f32> = (0..3)
        .map(|_| rng.range(0.0, std::f32::consts::TAU))
        .collect();
    let mut noise = SplitMix64::new(seed);
    let wu = width as usize;
    for y in 0..height as usize {
        let yf = y as f32 + 0.5;
        for x in 0..wu {
            let xf = x as f32 + 0.5;
            let n = (noise.next_u64() & 0xFF) as f32 / 255.0 - 0.5;
            let bump = tree_top
                + 0.03
                    * h
                    * ((xf / w * 17.0 + phases[0]).sin() * 0.5
                        + (xf / w * 41.0 + phases[1]).sin() * 0.3
                        + (xf / w * 93.0 + phases[2]).sin() * 0.2);
            let c: [f32; 3] = if yf < bump {
                let t = yf / bump.max(1.0);
                [150.0 + 40.0 * t, 180.0 + 30.0 * t, 215.0 + 15.0 * t]
            } else if yf < horizon {
                [40.0 + 25.0 * n, 70.0 + 35.0 * n, 38.0 + 20.0 * n]
            } else {
                let depth = yf - horizon;
                let half = road_k * depth;
                let dx = (xf - vx).abs();
                if dx < half {
                    // Asphalt with grain; lane lines at ±1/3 of the half-width
                    // and the edges, dashed in depth (1/depth is distance).
                    let mut c = [102.0 + 22.0 * n, 102.0 + 22.0 * n, 106.0 + 22.0 * n];
                    let line_w = 0.012 * half + 0.5;
                    let dist = 1.0 / depth.max(0.5);
                    let dashed = ((dist * 0.9 * h).fract()) < 0.45;
                    let edge = (dx - 0.96 * half).abs() < line_w;
                    let centre = (dx - 0.0).abs() < line_w && dashed;
                    if edge || centre {
                        c = [215.0 + 10.0 * n, 215.0 + 10.0 * n, 205.0 + 10.0 * n];
                    }
                    c
                } else {
                    [70.0 + 30.0 * n, 105.0 + 30.0 * n, 50.0 + 20.0 * n]
                }
            };
            let i = (y * wu + x) * 3;
            for (dst, v) in img.data[i..i + 3].iter_mut().zip(c) {
                *dst = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    fn car(enter_s: f32, receding: bool) -> Vehicle {
        Vehicle {
            vrm: "AB12CDE".into(),
            style: PlateStyle::FRONT,
            body: [200, 30, 30],
            enter_s,
            pass_s: 2.0,
            lane: 0.5,
            receding,
        }
    }

    #[test]
    fn plate_grows_and_moves_down_while_approaching() {
        let s = Scene::new(1280, 720, 1);
        let v = car(1.0, false);
        assert!(s.placement(&v, 0.99).is_none());
        assert!(s.placement(&v, 3.0).is_none());
        let first = s.placement(&v, 1.0).unwrap();
        assert!((first.width - 96.0).abs() < 0.5, "{first:?}");
        let mut last = first;
        let mut readable = 0;
        for i in 1..50 {
            let p = s.placement(&v, 1.0 + i as f32 * 0.04).unwrap();
            assert!(p.width > last.width && p.y > last.y);
            if p.inside(1280, 720) {
                readable += 1;
                assert!(p.width < 300.0, "{p:?}");
            }
            last = p;
        }
        // Whole plate in view for most of the pass; then it leaves at the bottom.
        assert!(readable > 40, "{readable}");
        assert!(!last.inside(1280, 720));
        let back = car(1.0, true);
        let p = s.placement(&back, 1.0).unwrap();
        assert!(p.width > 250.0);
    }

    #[test]
    fn an_occluder_hides_the_plate_briefly_mid_pass() {
        let mut s = Scene::new(1280, 720, 4);
        let v = car(1.0, false);
        let o = Occluder::hiding(&s, &v, 2.0, 0.32, 9).unwrap();
        assert_eq!(Occluder::hiding(&s, &v, 2.0, 0.32, 9), Some(o.clone()));
        assert_ne!(Occluder::hiding(&s, &v, 2.0, 0.32, 10), Some(o.clone()));
        assert!(Occluder::hiding(&s, &v, 3.5, 0.32, 9).is_none());
        let frames = |hit: &dyn Fn(f32, &PlatePlacement) -> bool| {
            (0..100)
                .map(|f| f as f32 / 25.0)
                .filter(|&t| s.placement(&v, t).is_some_and(|p| hit(t, &p)))
                .collect::<Vec<f32>>()
        };
        let hidden = frames(&|t, p| o.covers(t, 1280, p));
        let touched = frames(&|t, p| o.overlaps(t, 1280, p));
        assert!((7..=9).contains(&hidden.len()), "{hidden:?}");
        assert!(hidden.iter().all(|t| (t - 2.0).abs() < 0.25), "{hidden:?}");
        assert!(touched.len() <= 14, "{touched:?}");
        // Drawn over the vehicle: the plate's middle is the occluder's paint.
        s.vehicles.push(v.clone());
        s.occluders.push(o.clone());
        let p = s.placement(&v, 2.0).unwrap();
        let img = s.render(2.0).unwrap();
        let px = img.pixel((p.x + p.width * 0.5) as u32, (p.y + p.height * 0.5) as u32);
        for k in 0..3 {
            let c = o.body[k] as f32;
            assert!(
                (c * 0.74..=c + 0.5).contains(&(px[k] as f32)),
                "{px:?} {o:?}"
            );
        }
    }

    #[test]
    fn rendered_frame_shows_the_vehicle_over_the_road() {
        let mut s = Scene::new(640, 360, 3);
        let empty = s.render(0.0).unwrap();
        assert_eq!(&empty, s.background());
        s.vehicles.push(car(0.0, false));
        let img = s.render(1.0).unwrap();
        let p = s.placement(&s.vehicles[0], 1.0).unwrap();
        // The plate's left margin is background-white, in the frame.
        let (x, y) = ((p.x + p.width * 0.03) as u32, (p.y + p.height * 0.5) as u32);
        assert_eq!(img.pixel(x, y), [238, 240, 236]);
        assert_ne!(img, empty);
    }
}

//! Gate: decides which frames and which plates recognition spends time on.
//!
//! Most of a roadside camera's frames show an empty road. Differencing each
//! frame against the previous one on an 8×8-block downscale costs a fraction
//! of a millisecond and lets recognition skip frames where nothing moves. A
//! region-of-interest polygon and a minimum plate width drop plates that are
//! not on the lanes being watched or too small to read reliably.

use crate::capture::Frame;
use crate::recognise::PlateCandidate;

/// Side of the square blocks motion is measured on.
const BLOCK: u32 = 8;
/// Change in a block's mean brightness that counts as movement (sensor noise
/// and compression flicker stay well below it on 8×8 means).
const BLOCK_DELTA: u8 = 10;
/// Blocks that must change for a frame to count as moving: about a 24×24 px
/// patch, far smaller than any vehicle worth reading.
const MIN_CHANGED_BLOCKS: usize = 9;

/// What the last frame compared says about where the picture changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It cannot say: no motion gating, a first frame, a new size.
    Unknown,
    /// Nothing moved.
    Nothing,
    /// Something moved, all of it within this box ([x, y, w, h], frame
    /// pixels).
    Within([u32; 4]),
}

/// The gate of one camera.
pub struct Gate {
    roi: Option<Vec<[f32; 2]>>,
    min_plate_width: u32,
    motion: Option<Motion>,
    /// Frame size the region was last checked against.
    roi_checked: Option<(u32, u32)>,
}

impl Gate {
    /// `roi`: polygon in frame pixels (None: the whole frame);
    /// `motion_gating`: skip frames where nothing moves.
    pub fn new(roi: Option<&[[u32; 2]]>, min_plate_width: u32, motion_gating: bool) -> Gate {
        Gate {
            roi: roi.map(|p| p.iter().map(|&[x, y]| [x as f32, y as f32]).collect()),
            min_plate_width,
            motion: motion_gating.then(Motion::default),
            roi_checked: None,
        }
    }

    /// True, once per frame size, when the region of interest lies wholly
    /// outside frames of this size (drawn for another resolution): then no
    /// plate can ever be kept, and the camera would read nothing silently.
    pub fn region_misses(&mut self, frame: &Frame) -> bool {
        let size = (frame.width, frame.height);
        let Some(poly) = self.roi.as_deref() else {
            return false;
        };
        if self.roi_checked == Some(size) {
            return false;
        }
        self.roi_checked = Some(size);
        let [x0, y0, ..] = bounding_box(poly);
        x0 >= frame.width as f32 || y0 >= frame.height as f32
    }

    /// False when the frame can be skipped: nothing moved since the last one
    /// inside the region of interest.
    pub fn worth_analysing(&mut self, frame: &Frame) -> bool {
        let bounds = self.roi.as_deref().map(bounding_box);
        match &mut self.motion {
            Some(motion) => motion.moved(frame, bounds),
            None => true,
        }
    }

    /// Where the last frame [`worth_analysing`](Self::worth_analysing) saw
    /// moving: [x, y, w, h] in frame pixels around every changed block. None
    /// when it cannot say (no motion gating, a first frame, a new size): then
    /// anything may have changed anywhere.
    pub fn moving_region(&self) -> Option<[u32; 4]> {
        match self.change() {
            Change::Within(region) => Some(region),
            _ => None,
        }
    }

    /// Where the last frame [`worth_analysing`](Self::worth_analysing)
    /// compared had changed, whether it was worth analysing or not.
    pub fn change(&self) -> Change {
        match &self.motion {
            Some(m) if m.compared => m.region.map_or(Change::Nothing, Change::Within),
            _ => Change::Unknown,
        }
    }

    /// Keeps the plates that are wide enough and inside the region.
    pub fn keep(&self, plates: &mut Vec<PlateCandidate>) {
        plates.retain(|p| {
            let [x, y, w, h] = p.plate_box;
            let centre = [x as f32 + w as f32 / 2.0, y as f32 + h as f32 / 2.0];
            w >= self.min_plate_width && self.roi.as_deref().is_none_or(|poly| inside(poly, centre))
        });
    }
}

/// Block means of the previous frame.
#[derive(Default)]
struct Motion {
    previous: Vec<u8>,
    size: (u32, u32),
    /// Around the blocks that changed in the last frame compared.
    region: Option<[u32; 4]>,
    /// The last frame could be compared with the one before (same size).
    compared: bool,
}

impl Motion {
    /// Compares block means with the previous frame's within `bounds`
    /// ([x0, y0, x1, y1] in pixels). The first frame, and a change of
    /// resolution, count as movement.
    fn moved(&mut self, frame: &Frame, bounds: Option<[f32; 4]>) -> bool {
        let means = block_means(frame);
        let (bw, bh) = (frame.width / BLOCK, frame.height / BLOCK);
        let same_size = self.size == (bw, bh) && self.previous.len() == means.len();
        let [x0, y0, x1, y1] =
            bounds.unwrap_or([0.0, 0.0, frame.width as f32, frame.height as f32]);
        let (bx0, by0) = (
            (x0.max(0.0) as u32 / BLOCK).min(bw),
            (y0.max(0.0) as u32 / BLOCK).min(bh),
        );
        let (bx1, by1) = (
            (x1.max(0.0) as u32).div_ceil(BLOCK).min(bw),
            (y1.max(0.0) as u32).div_ceil(BLOCK).min(bh),
        );
        // Every block is looked at (not only the first few that changed):
        // recognition looks only where something moved.
        let (mut changed, mut around) = (0, [u32::MAX, u32::MAX, 0, 0]);
        if same_size {
            for by in by0..by1 {
                for bx in bx0..bx1 {
                    let i = (by * bw + bx) as usize;
                    if means[i].abs_diff(self.previous[i]) > BLOCK_DELTA {
                        changed += 1;
                        around = [
                            around[0].min(bx),
                            around[1].min(by),
                            around[2].max(bx + 1),
                            around[3].max(by + 1),
                        ];
                    }
                }
            }
        }
        self.compared = same_size;
        self.region = (same_size && changed > 0).then(|| {
            let [x0, y0, x1, y1] = around.map(|b| b * BLOCK);
            [x0, y0, x1 - x0, y1 - y0]
        });
        let changed = if same_size {
            changed
        } else {
            MIN_CHANGED_BLOCKS
        };
        self.previous = means;
        self.size = (bw, bh);
        changed >= MIN_CHANGED_BLOCKS
    }
}

/// Mean luma of each whole BLOCK×BLOCK block, row by row.
fn block_means(frame: &Frame) -> Vec<u8> {
    let (bw, bh) = (
        (frame.width / BLOCK) as usize,
        (frame.height / BLOCK) as usize,
    );
    let w = frame.width as usize;
    let b = BLOCK as usize;
    let mut sums = vec![0u32; bw];
    let mut means = Vec::with_capacity(bw * bh);
    for by in 0..bh {
        sums.iter_mut().for_each(|s| *s = 0);
        for row in frame.luma[by * b * w..].chunks(w).take(b) {
            for (bx, block) in row.chunks(b).take(bw).enumerate() {
                sums[bx] += block.iter().map(|&p| p as u32).sum::<u32>();
            }
        }
        means.extend(sums.iter().map(|s| (s / (b * b) as u32) as u8));
    }
    means
}

/// [x0, y0, x1, y1] around a polygon.
fn bounding_box(poly: &[[f32; 2]]) -> [f32; 4] {
    poly.iter().fold(
        [f32::MAX, f32::MAX, f32::MIN, f32::MIN],
        |[x0, y0, x1, y1], &[x, y]| [x0.min(x), y0.min(y), x1.max(x), y1.max(y)],
    )
}

/// Point in polygon, by counting edge crossings of a ray to the right.
fn inside(poly: &[[f32; 2]], [px, py]: [f32; 2]) -> bool {
    let mut crossings = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let ([xi, yi], [xj, yj]) = (poly[i], poly[j]);
        if (yi > py) != (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi {
            crossings = !crossings;
        }
        j = i;
    }
    crossings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32, paint: impl Fn(u32, u32) -> u8) -> Frame {
        let luma = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| paint(x, y))
            .collect();
        crate::recognise::image_file::frame(w, h, luma)
    }

    /// Road texture with mild noise, and optionally a bright car at `car_x`.
    fn road(car_x: Option<u32>, seed: u32) -> Frame {
        frame(320, 240, move |x, y| {
            let noise = ((x * 7 + y * 13 + seed * 31) % 5) as u8;
            let road = 90 + ((x / 16 + y / 16) % 2) as u8 * 20 + noise;
            match car_x {
                Some(cx) if (cx..cx + 60).contains(&x) && (100..140).contains(&y) => 220,
                _ => road,
            }
        })
    }

    fn plate(x: u32, y: u32, w: u32) -> PlateCandidate {
        PlateCandidate {
            text: "AB12CDE".into(),
            confidence: 0.9,
            char_confidence: vec![0.9; 7],
            char_at: Vec::new(),
            plate_box: [x, y, w, w / 5],
            corners: crate::recognise::box_corners([x, y, w, w / 5]),
            format: None,
        }
    }

    #[test]
    fn an_empty_road_with_sensor_noise_is_skipped_and_a_car_is_not() {
        let mut gate = Gate::new(None, 0, true);
        assert!(
            gate.worth_analysing(&road(None, 0)),
            "the first frame is always analysed"
        );
        assert!(
            !gate.worth_analysing(&road(None, 1)),
            "noise alone is not movement"
        );
        assert!(!gate.worth_analysing(&road(None, 2)));
        assert!(gate.worth_analysing(&road(Some(50), 3)), "a car arrives");
        assert!(gate.worth_analysing(&road(Some(70), 4)), "and moves");
        assert!(
            !gate.worth_analysing(&road(Some(70), 5)),
            "a stopped car is not movement"
        );
    }

    #[test]
    fn movement_outside_the_region_does_not_count() {
        let roi = [[200, 0], [320, 0], [320, 240], [200, 240]];
        let mut gate = Gate::new(Some(&roi), 0, true);
        gate.worth_analysing(&road(None, 0));
        assert!(
            !gate.worth_analysing(&road(Some(50), 1)),
            "the car is left of the region"
        );
        assert!(
            gate.worth_analysing(&road(Some(220), 2)),
            "now it is inside"
        );
    }

    #[test]
    fn the_moving_region_covers_where_the_car_was_and_is() {
        let mut gate = Gate::new(None, 0, true);
        gate.worth_analysing(&road(None, 0));
        assert_eq!(gate.moving_region(), None, "a first frame: anywhere");
        assert_eq!(gate.change(), Change::Unknown);
        gate.worth_analysing(&road(None, 1));
        assert_eq!(gate.moving_region(), None, "noise moves nothing");
        assert_eq!(gate.change(), Change::Nothing);
        gate.worth_analysing(&road(Some(50), 2));
        // The car: x 50..110, y 100..140, to whole 8 px blocks.
        assert_eq!(gate.moving_region(), Some([48, 96, 64, 48]));
        assert_eq!(gate.change(), Change::Within([48, 96, 64, 48]));
        gate.worth_analysing(&road(Some(70), 3));
        let [x, y, w, h] = gate.moving_region().expect("the car moved");
        assert!(x <= 50 && x + w >= 130, "from its old place to its new");
        assert!(y <= 100 && y + h >= 140);
        assert!(x >= 40 && x + w <= 136 && y >= 96 && y + h <= 144);
    }

    #[test]
    fn a_region_drawn_for_a_bigger_frame_is_told_once_per_size() {
        let big = [[1400, 800], [1900, 800], [1900, 1000]];
        let mut gate = Gate::new(Some(&big), 0, true);
        assert!(gate.region_misses(&road(None, 0)), "320×240 frames");
        assert!(!gate.region_misses(&road(None, 1)), "told once");
        let mut fits = Gate::new(Some(&[[10, 10], [300, 10], [300, 200]]), 0, true);
        assert!(!fits.region_misses(&road(None, 0)));
        assert!(!Gate::new(None, 0, true).region_misses(&road(None, 0)));
    }

    #[test]
    fn without_motion_gating_every_frame_is_analysed() {
        let mut gate = Gate::new(None, 0, false);
        assert!(gate.worth_analysing(&road(None, 0)));
        assert!(gate.worth_analysing(&road(None, 0)));
        assert_eq!(gate.moving_region(), None);
        assert_eq!(gate.change(), Change::Unknown, "it cannot say");
    }

    #[test]
    fn plates_outside_the_region_or_too_small_are_dropped() {
        // A triangle: lanes converging towards the top of the frame.
        let roi = [[0, 720], [1280, 720], [640, 100]];
        let gate = Gate::new(Some(&roi), 80, true);
        let mut plates = vec![
            plate(600, 500, 200),
            plate(10, 110, 200),
            plate(600, 500, 60),
        ];
        gate.keep(&mut plates);
        assert_eq!(plates, vec![plate(600, 500, 200)]);
    }

    #[test]
    fn point_in_polygon() {
        let square = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        assert!(inside(&square, [5.0, 5.0]));
        assert!(!inside(&square, [15.0, 5.0]));
        assert!(!inside(&square, [5.0, -1.0]));
        assert_eq!(bounding_box(&square), [0.0, 0.0, 10.0, 10.0]);
    }
}

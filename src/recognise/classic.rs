//! A classical (pre-neural) plate reader working on the luma plane.
//!
//! It finds plates the way ANPR cameras did before CNNs, from the fact that a
//! plate is a row of dark, equally tall characters on a light background:
//!
//! 1. Local-mean threshold (integral image) marks pixels darker than their
//!    surroundings; run-length connected components give dark blobs.
//! 2. Blobs shaped like characters are chained left to right into rows of
//!    equal height and plate-like spacing (79 mm characters, 61 mm pitch).
//! 3. Each row is cut out along its fitted tilt into a level band, which is
//!    re-segmented with its own Otsu threshold, checked for the light plate
//!    margin above and below the characters, and where neighbouring
//!    characters ran together the blob is split at its ink minima.
//! 4. Every character is resampled to a 16 × 24 patch and matched by
//!    normalised cross-correlation against templates drawn at start-up from
//!    [`crate::plate::glyphs`]. A seven-character row is read under the
//!    current UK format (LLNNLLL) when that costs little, which settles O/0,
//!    I/1, B/8 and S/5.
//!
//! Confidence comes from the match score and its margin over the runner-up.
//! Rows that do not read as 5–8 confident characters yield nothing.

use super::{PlateCandidate, Recogniser};
use crate::capture::Frame;
use crate::plate::glyphs::{self, CHAR_HEIGHT_MM, CHARSET};
use crate::plate::render::{PLATE_HEIGHT_MM, PLATE_WIDTH_MM};

mod components;
mod matcher;

use components::{Comp, label_runs};
use matcher::{Matcher, PATCH_LEN};

/// Character pitch (50 mm cell + 11 mm gap) over character height.
const PITCH: f32 = 61.0 / CHAR_HEIGHT_MM;
/// Gap between groups over character height.
const GROUP_GAP: f32 = 33.0 / CHAR_HEIGHT_MM;
/// Smallest character height (pixels) worth trying to read: a plate ~80 px wide.
const MIN_CHAR_H: u32 = 9;
/// Local threshold: a pixel is ink when this much darker than its window mean.
const LOCAL_OFFSET: u32 = 10;
/// Steepest row tilt followed (dy/dx, about 11°).
const MAX_SLOPE: f32 = 0.2;
/// Below this a plate is reported as not read.
const MIN_CONFIDENCE: f32 = 0.3;

/// Classical recogniser; keeps its scratch buffers between frames.
pub struct ClassicRecogniser {
    matcher: Matcher,
    integral: Vec<u32>,
    runs: Vec<(u32, u32, u32)>,
    /// Level copy of the row being read, and its ink mask.
    band: Vec<u8>,
    mask: Vec<u8>,
}

impl Default for ClassicRecogniser {
    fn default() -> Self {
        Self::new()
    }
}

impl Recogniser for ClassicRecogniser {
    fn recognise(&mut self, frame: &Frame) -> Vec<PlateCandidate> {
        // Under 16 pixels either way no plate fits.
        let Some((w, h)) = super::luma_size(frame).filter(|&(w, h)| w >= 16 && h >= 16) else {
            return Vec::new();
        };
        let img = Gray {
            data: &frame.luma,
            w,
            h,
        };
        self.read(&img)
    }
}

/// A borrowed luma plane.
#[derive(Clone, Copy)]
pub(crate) struct Gray<'a> {
    pub data: &'a [u8],
    pub w: usize,
    pub h: usize,
}

impl Gray<'_> {
    #[inline]
    fn at(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.w + x]
    }
}

/// One character found on a row: ink box (exclusive ends) in frame pixels.
#[derive(Clone, Copy, Debug)]
struct CharBox {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl ClassicRecogniser {
    /// Builds the character templates from the plate glyphs.
    pub fn new() -> ClassicRecogniser {
        ClassicRecogniser {
            matcher: Matcher::new(),
            integral: Vec::new(),
            runs: Vec::new(),
            band: Vec::new(),
            mask: Vec::new(),
        }
    }

    fn read(&mut self, img: &Gray) -> Vec<PlateCandidate> {
        let blobs = self.dark_blobs(img);
        let rows = chain_rows(&blobs);
        let mut found: Vec<PlateCandidate> = Vec::new();
        let mut covered: Vec<[u32; 4]> = Vec::new();
        for row in rows {
            let members: Vec<&Comp> = row.iter().map(|&i| &blobs[i]).collect();
            // Several chains can describe the same plate; read it once.
            let rb = row_box(&members);
            if covered.iter().any(|c| overlap(c, &rb) > 0.5) {
                continue;
            }
            if let Some(cand) = self.read_row(img, &members) {
                covered.push(rb);
                found.push(cand);
            }
        }
        found.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        // Drop weaker reads of a plate already reported.
        let mut out: Vec<PlateCandidate> = Vec::new();
        for c in found {
            if !out
                .iter()
                .any(|o| overlap(&o.plate_box, &c.plate_box) > 0.3)
            {
                out.push(c);
            }
        }
        out
    }

    /// Pass 1: dark blobs of character size, from a local-mean threshold.
    fn dark_blobs(&mut self, img: &Gray) -> Vec<Comp> {
        let (w, h) = (img.w, img.h);
        let iw = w + 1;
        self.integral.clear();
        self.integral.resize(iw * (h + 1), 0);
        for y in 0..h {
            let mut acc = 0u32;
            let row = &img.data[y * w..(y + 1) * w];
            let (prev, cur) = self.integral.split_at_mut((y + 1) * iw);
            let prev = &prev[y * iw..];
            for x in 0..w {
                // Wrapping: window sums stay exact modulo 2^32 even when the
                // running total of a huge frame overflows.
                acc = acc.wrapping_add(row[x] as u32);
                cur[x + 1] = prev[x + 1].wrapping_add(acc);
            }
        }
        // Window about a character stroke-and-gap wide: big enough to see the
        // plate background around a stroke, small enough to follow lighting.
        let r = (h / 48).clamp(8, 24);
        self.runs.clear();
        let integral = &self.integral;
        for y in 0..h {
            let ya = y.saturating_sub(r);
            let yb = (y + r + 1).min(h);
            let row = &img.data[y * w..(y + 1) * w];
            let top = &integral[ya * iw..ya * iw + iw];
            let bot = &integral[yb * iw..yb * iw + iw];
            let ink = row.iter().enumerate().map(|(x, &px)| {
                let xa = x.saturating_sub(r);
                let xb = (x + r + 1).min(w);
                let sum = bot[xb]
                    .wrapping_add(top[xa])
                    .wrapping_sub(bot[xa])
                    .wrapping_sub(top[xb]);
                let area = ((yb - ya) * (xb - xa)) as u32;
                (px as u32 + LOCAL_OFFSET) * area < sum
            });
            push_runs(&mut self.runs, y as u32, ink);
        }
        let max_h = (h as u32 / 5).max(MIN_CHAR_H + 1);
        label_runs(&self.runs)
            .into_iter()
            .filter(|c| {
                let (cw, ch) = (c.width(), c.height());
                let fill = c.area as f32 / (cw * ch) as f32;
                let narrow = (cw as f32) < 0.3 * ch as f32;
                ch >= MIN_CHAR_H
                    && ch <= max_h
                    && (cw as f32) <= 2.6 * ch as f32
                    && (cw as f32) >= 0.08 * ch as f32
                    && fill >= 0.15
                    && (fill <= 0.9 || narrow)
            })
            .collect()
    }

    /// Pass 2: re-segments one row hypothesis in its own band and reads it.
    fn read_row(&mut self, img: &Gray, members: &[&Comp]) -> Option<PlateCandidate> {
        let left = members.iter().map(|c| c.x0).min()? as f32;
        let right = members.iter().map(|c| c.x1).max()? as f32;
        let xc = (left + right) * 0.5;
        // Tilt of the row (camera roll, plate not level): the band is cut
        // along it so everything after works on a level row.
        let slope = row_slope(members);
        let mut heights: Vec<f32> = members.iter().map(|c| c.height() as f32).collect();
        heights.sort_by(f32::total_cmp);
        // A tilted character's box is taller than the character by about
        // slope × its width (0.63 of its height).
        let ch = heights[heights.len() / 2] / (1.0 + 0.63 * slope.abs());
        let mut centres: Vec<f32> = members
            .iter()
            .map(|c| (c.y0 + c.y1) as f32 * 0.5 - slope * ((c.x0 + c.x1) as f32 * 0.5 - xc))
            .collect();
        centres.sort_by(f32::total_cmp);
        let top = centres[centres.len() / 2] - 0.5 * ch;

        // The band, in level row coordinates: the row with room for
        // characters pass 1 missed at its ends, and the plate margins.
        let bx0 = (left - 1.3 * ch).floor();
        let by0 = (top - 0.22 * ch).floor();
        let bw = ((right + 1.3 * ch).ceil() - bx0).max(2.0) as usize;
        let bh = ((top + 1.22 * ch).ceil() - by0).max(2.0) as usize;
        if bw * bh > img.w * img.h {
            return None;
        }
        self.band.clear();
        self.band.reserve(bw * bh);
        for v in 0..bh {
            let yr = by0 + v as f32 + 0.5;
            for u in 0..bw {
                let x = bx0 + u as f32 + 0.5;
                let y = yr + slope * (x - xc);
                self.band.push(matcher::bilinear(img, x, y).round() as u8);
            }
        }
        let band = Gray {
            data: &self.band,
            w: bw,
            h: bh,
        };
        // Row-relative geometry inside the band.
        let (r_top, r_left, r_right) = (top - by0, left - bx0, right - bx0);
        let r_bottom = r_top + ch;

        // Otsu threshold over the character row itself: ink and plate only.
        let mut hist = [0u32; 256];
        let (cx0, cx1) = (r_left.max(0.0) as usize, (r_right as usize).min(bw));
        let (cy0, cy1) = (r_top.max(0.0) as usize, (r_bottom.ceil() as usize).min(bh));
        for y in cy0..cy1 {
            for x in cx0..cx1 {
                hist[band.at(x, y) as usize] += 1;
            }
        }
        let (thr, dark_mean, light_mean) = otsu(&hist)?;
        if light_mean - dark_mean < 40.0 {
            log::trace!("row at {left},{top} (h {ch}): contrast {dark_mean}/{light_mean} too low");
            return None;
        }
        self.mask.clear();
        self.mask
            .extend(self.band.iter().map(|&p| (p <= thr) as u8));
        self.runs.clear();
        for y in 0..bh {
            let row = &self.mask[y * bw..(y + 1) * bw];
            push_runs(&mut self.runs, y as u32, row.iter().map(|&ink| ink != 0));
        }

        // A plate has light background just above and below the characters.
        let mask = &self.mask;
        let strip = |ya: f32, yb: f32| -> f32 {
            let ya = (ya.round().max(0.0) as usize).min(bh);
            let yb = (yb.round().max(ya as f32) as usize).min(bh);
            let n = (yb - ya) * cx1.saturating_sub(cx0);
            if n == 0 {
                return 1.0;
            }
            let ink: usize = (ya..yb)
                .map(|y| {
                    mask[y * bw + cx0..y * bw + cx1]
                        .iter()
                        .map(|&m| m as usize)
                        .sum::<usize>()
                })
                .sum();
            ink as f32 / n as f32
        };
        // Plate margins are 16 mm (0.2 character heights): look inside them,
        // clear of both the characters and the plate edge.
        let above = strip(r_top - 0.16 * ch, r_top - 0.04 * ch);
        let below = strip(r_bottom + 0.04 * ch, r_bottom + 0.16 * ch);
        if above > 0.25 || below > 0.25 {
            log::trace!("row at {left},{top} (h {ch}): no plate margin ({above}, {below} ink)");
            return None;
        }

        let centre_y = (r_top + r_bottom) * 0.5;
        let mut parts: Vec<Comp> = label_runs(&self.runs)
            .into_iter()
            .filter(|c| {
                let hh = c.height() as f32;
                let cy = (c.y0 + c.y1) as f32 * 0.5;
                hh >= 0.72 * ch
                    && hh <= 1.25 * ch
                    && (cy - centre_y).abs() <= 0.2 * ch
                    && c.y0 > 0
                    && (c.y1 as usize) < bh
                    && (c.width() as f32) <= 4.2 * ch
            })
            .collect();
        parts.sort_by_key(|c| c.x0);

        // Split runs of touching characters at their thinnest columns.
        let mut chars: Vec<CharBox> = Vec::new();
        for c in &parts {
            let cw = c.width() as f32;
            if cw <= 0.9 * ch {
                chars.push(CharBox {
                    x0: c.x0,
                    y0: c.y0,
                    x1: c.x1,
                    y1: c.y1,
                });
                continue;
            }
            let k = ((cw + (PITCH - 0.633) * ch) / (PITCH * ch))
                .round()
                .max(2.0) as u32;
            let cols: Vec<u32> = (c.x0..c.x1)
                .map(|x| {
                    (c.y0..c.y1)
                        .map(|y| mask[y as usize * bw + x as usize] as u32)
                        .sum()
                })
                .collect();
            let mut cuts = vec![c.x0];
            for i in 1..k {
                let expect = c.x0 as f32 + cw * i as f32 / k as f32;
                let lo = ((expect - 0.2 * ch).max(c.x0 as f32 + 1.0)) as u32;
                let hi = ((expect + 0.2 * ch).min(c.x1 as f32 - 1.0)) as u32;
                let cut = (lo..=hi.max(lo))
                    .min_by_key(|&x| {
                        let v = cols[(x - c.x0).min(cols.len() as u32 - 1) as usize];
                        (v, (x as f32 - expect).abs() as u32)
                    })
                    .unwrap_or(expect as u32);
                cuts.push(cut.max(*cuts.last().unwrap_or(&c.x0) + 1));
            }
            cuts.push(c.x1);
            for seg in cuts.windows(2) {
                if let Some(b) = tight_box(mask, bw, seg[0], seg[1], c.y0, c.y1) {
                    chars.push(b);
                }
            }
        }
        let chars = keep_main_group(chars, ch, (r_left + r_right) * 0.5);
        if !(5..=8).contains(&chars.len()) {
            log::trace!("row at {left},{top} (h {ch}): {} characters", chars.len());
            return None;
        }

        // Read each character.
        let mut scores: Vec<[f32; 36]> = Vec::with_capacity(chars.len());
        let mut patch = [0f32; PATCH_LEN];
        for c in &chars {
            let (x0, y0, x1, y1) = (c.x0 as f32, c.y0 as f32, c.x1 as f32, c.y1 as f32);
            if !matcher::sample(&band, x0, y0, x1, y1, &mut patch) {
                return None;
            }
            scores.push(self.matcher.scores(&patch));
        }
        let gaps: Vec<f32> = chars
            .windows(2)
            .map(|p| p[1].x0 as f32 - p[0].x1 as f32)
            .collect();
        let (text, conf) = decide(&scores, &gaps, ch);
        let overall = conf.iter().copied().fold(1.0f32, f32::min);
        let mean_conf = conf.iter().sum::<f32>() / conf.len() as f32;
        let confidence = (overall * 0.5 + mean_conf * 0.5).clamp(0.0, 1.0);
        if overall < MIN_CONFIDENCE {
            // The text itself is personal data: never logged.
            log::trace!("row at {left},{top} (h {ch}): unsure, confidence {conf:?}");
            return None;
        }

        // Plate box from the character row and the plate's proportions,
        // taken back to frame coordinates (tilted plates get the box that
        // holds them).
        let x0 = bx0 + chars.first()?.x0 as f32;
        let x1 = bx0 + chars.last()?.x1 as f32;
        let cy_band =
            (chars.iter().map(|c| c.y0 + c.y1).sum::<u32>() as f32) / (2 * chars.len()) as f32;
        let cx = (x0 + x1) * 0.5;
        let cy = by0 + cy_band + slope * (cx - xc);
        let pw = ch * PLATE_WIDTH_MM / CHAR_HEIGHT_MM;
        let level_h = ch * PLATE_HEIGHT_MM / CHAR_HEIGHT_MM;
        let ph = level_h + slope.abs() * pw;
        let corners = tilted_corners(cx, cy, pw, level_h, slope);
        let bx = (cx - pw * 0.5).max(0.0);
        let by = (cy - ph * 0.5).max(0.0);
        let ex = (cx + pw * 0.5).min(img.w as f32);
        let ey = (cy + ph * 0.5).min(img.h as f32);
        if ex <= bx || ey <= by {
            return None;
        }
        Some(PlateCandidate {
            text,
            confidence,
            char_confidence: conf,
            char_at: Vec::new(),
            plate_box: [
                bx.round() as u32,
                by.round() as u32,
                (ex - bx).round() as u32,
                (ey - by).round() as u32,
            ],
            corners,
            format: None,
        })
    }
}

/// Corners (clockwise from top left) of a `w`×`h` plate centred on (cx, cy)
/// whose rows climb by `slope` (dy/dx).
fn tilted_corners(cx: f32, cy: f32, w: f32, h: f32, slope: f32) -> [[f32; 2]; 4] {
    let n = (1.0 + slope * slope).sqrt();
    let (ux, uy) = (0.5 * w / n, 0.5 * w * slope / n);
    let (vx, vy) = (-0.5 * h * slope / n, 0.5 * h / n);
    [
        [cx - ux - vx, cy - uy - vy],
        [cx + ux - vx, cy + uy - vy],
        [cx + ux + vx, cy + uy + vy],
        [cx - ux + vx, cy - uy + vy],
    ]
}

/// Least-squares tilt (dy/dx) of the blob centres; level when too few
/// blobs to tell or when the tilt is too small to matter.
fn row_slope(members: &[&Comp]) -> f32 {
    if members.len() < 3 {
        return 0.0;
    }
    let pts: Vec<(f32, f32)> = members
        .iter()
        .map(|c| ((c.x0 + c.x1) as f32 * 0.5, (c.y0 + c.y1) as f32 * 0.5))
        .collect();
    let n = pts.len() as f32;
    let mx = pts.iter().map(|p| p.0).sum::<f32>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f32>() / n;
    let sxx: f32 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f32 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return 0.0;
    }
    let s = (sxy / sxx).clamp(-MAX_SLOPE, MAX_SLOPE);
    if s.abs() < 0.01 { 0.0 } else { s }
}

/// Chains character-like blobs into left-to-right rows of similar height.
fn chain_rows(blobs: &[Comp]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..blobs.len()).collect();
    order.sort_by_key(|&i| blobs[i].x0);
    let mut next: Vec<Option<(usize, f32)>> = vec![None; blobs.len()];
    let mut claimed: Vec<Option<(usize, f32)>> = vec![None; blobs.len()];
    for (oi, &i) in order.iter().enumerate() {
        let a = &blobs[i];
        let ha = a.height() as f32;
        let mut best: Option<(usize, f32)> = None;
        for &j in &order[oi + 1..] {
            let b = &blobs[j];
            let gap = b.x0 as f32 - a.x1 as f32;
            if gap > 1.0 * ha {
                break;
            }
            let hb = b.height() as f32;
            let hm = ha.max(hb);
            if gap < -0.1 * hm
                || hb < 0.75 * ha
                || hb > 1.33 * ha
                || (a.y0 as f32 - b.y0 as f32).abs() > 0.22 * hm
                || (a.y1 as f32 - b.y1 as f32).abs() > 0.22 * hm
            {
                continue;
            }
            if best.is_none_or(|(_, g)| gap < g) {
                best = Some((j, gap));
            }
        }
        if let Some((j, gap)) = best {
            match claimed[j] {
                Some((_, g)) if g <= gap => {}
                prior => {
                    if let Some((k, _)) = prior {
                        next[k] = None;
                    }
                    claimed[j] = Some((i, gap));
                    next[i] = Some((j, gap));
                }
            }
        }
    }
    let mut rows = Vec::new();
    for &i in &order {
        if claimed[i].is_some() {
            continue;
        }
        let mut row = vec![i];
        let mut cur = i;
        while let Some((j, _)) = next[cur] {
            row.push(j);
            cur = j;
        }
        // Count characters, allowing for blobs of several merged ones.
        let est: f32 = row
            .iter()
            .map(|&k| {
                let c = &blobs[k];
                let h = c.height() as f32;
                ((c.width() as f32 + 0.14 * h) / (PITCH * h))
                    .round()
                    .max(1.0)
            })
            .sum();
        if est >= 3.0 {
            rows.push(row);
        }
    }
    rows
}

/// Keeps the run of characters around `centre` whose spacing fits one plate.
fn keep_main_group(chars: Vec<CharBox>, ch: f32, centre: f32) -> Vec<CharBox> {
    if chars.is_empty() {
        return chars;
    }
    // Group gap plus the slack a narrow "1" leaves beside it.
    let max_gap = (GROUP_GAP + 0.45) * ch;
    let mut groups: Vec<Vec<CharBox>> = vec![vec![chars[0]]];
    for c in chars.into_iter().skip(1) {
        let last = groups.last().and_then(|g| g.last()).copied();
        match last {
            Some(l) if (c.x0 as f32 - l.x1 as f32) <= max_gap => {
                if let Some(g) = groups.last_mut() {
                    g.push(c);
                }
            }
            _ => groups.push(vec![c]),
        }
    }
    groups
        .into_iter()
        .min_by(|a, b| {
            let d = |g: &Vec<CharBox>| {
                let l = g.first().map_or(0, |c| c.x0) as f32;
                let r = g.last().map_or(0, |c| c.x1) as f32;
                if centre < l {
                    l - centre
                } else if centre > r {
                    centre - r
                } else {
                    0.0
                }
            };
            d(a).total_cmp(&d(b)).then(b.len().cmp(&a.len()))
        })
        .unwrap_or_default()
}

/// Picks the text: the best character everywhere, or the best reading in the
/// current UK format when that is nearly as good.
fn decide(scores: &[[f32; 36]], gaps: &[f32], ch: f32) -> (String, Vec<f32>) {
    let all: Vec<usize> = (0..36).collect();
    let free: Vec<(usize, f32)> = scores.iter().map(|s| pick(s, &all)).collect();
    if scores.len() == 7 {
        // The group gap, if visible, must fall after the fourth character.
        let widest = gaps
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        let gap_ok = widest == Some(3) || gaps.iter().all(|&g| g < 0.3 * ch);
        if gap_ok {
            let tag = class_set("ABCDEFGHJKLMNOPRSTUVWXY");
            let digit = class_set("0123456789");
            let letter = class_set("ABCDEFGHJKLMNOPRSTUVWXYZ");
            let sets = [&tag, &tag, &digit, &digit, &letter, &letter, &letter];
            let fmt: Vec<(usize, f32)> = scores
                .iter()
                .zip(sets)
                .map(|(s, set)| pick(s, set))
                .collect();
            let cost_ok = fmt.iter().zip(&free).all(|(f, u)| f.1 >= u.1 - 0.15);
            if cost_ok {
                return finish(scores, &fmt, &sets);
            }
        }
    }
    finish(scores, &free, &vec![&all; scores.len()])
}

fn class_set(chars: &str) -> Vec<usize> {
    chars
        .chars()
        .filter_map(|c| CHARSET.chars().position(|k| k == c))
        .collect()
}

/// Best class in `set` and its score.
fn pick(s: &[f32; 36], set: &[usize]) -> (usize, f32) {
    set.iter()
        .map(|&k| (k, s[k]))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, -1.0))
}

/// Text and per-character confidence for the chosen classes: a good score
/// with a clear margin over the best other character the position allows
/// (so format rules settle look-alikes such as O and 0) is confident.
fn finish(
    scores: &[[f32; 36]],
    picks: &[(usize, f32)],
    sets: &[&Vec<usize>],
) -> (String, Vec<f32>) {
    let charset: Vec<char> = CHARSET.chars().collect();
    let mut text = String::with_capacity(picks.len());
    let mut conf = Vec::with_capacity(picks.len());
    for ((s, &(k, best)), set) in scores.iter().zip(picks).zip(sets) {
        text.push(charset[k]);
        let runner = set
            .iter()
            .filter(|&&j| j != k)
            .map(|&j| s[j])
            .fold(-1.0f32, f32::max);
        let quality = ((best - 0.45) / 0.4).clamp(0.0, 1.0);
        let margin = ((best - runner) / 0.12).clamp(0.0, 1.0);
        conf.push(quality * (0.4 + 0.6 * margin));
    }
    (text, conf)
}

fn row_box(members: &[&Comp]) -> [u32; 4] {
    let x0 = members.iter().map(|c| c.x0).min().unwrap_or(0);
    let y0 = members.iter().map(|c| c.y0).min().unwrap_or(0);
    let x1 = members.iter().map(|c| c.x1).max().unwrap_or(0);
    let y1 = members.iter().map(|c| c.y1).max().unwrap_or(0);
    [x0, y0, x1 - x0, y1 - y0]
}

/// Intersection over the smaller box.
fn overlap(a: &[u32; 4], b: &[u32; 4]) -> f32 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]) as i64 - a[0].max(b[0]) as i64;
    let iy = (a[1] + a[3]).min(b[1] + b[3]) as i64 - a[1].max(b[1]) as i64;
    if ix <= 0 || iy <= 0 {
        return 0.0;
    }
    let small = (a[2] as i64 * a[3] as i64)
        .min(b[2] as i64 * b[3] as i64)
        .max(1);
    (ix * iy) as f32 / small as f32
}

/// Ink bounds of columns `xa..xb`, rows `ya..yb` of a band mask.
fn tight_box(mask: &[u8], bw: usize, xa: u32, xb: u32, ya: u32, yb: u32) -> Option<CharBox> {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for y in ya..yb {
        for x in xa..xb {
            if mask[y as usize * bw + x as usize] != 0 {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    (x1 > x0 && y1 > y0).then_some(CharBox { x0, y0, x1, y1 })
}

/// Otsu's threshold: (threshold, mean below-or-at, mean above).
fn otsu(hist: &[u32; 256]) -> Option<(u8, f32, f32)> {
    let total: f64 = hist.iter().map(|&n| n as f64).sum();
    if total < 4.0 {
        return None;
    }
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * n as f64)
        .sum();
    let (mut w0, mut s0) = (0f64, 0f64);
    let mut best = (0u8, -1f64, 0f32, 0f32);
    for (t, &n) in hist.iter().enumerate().take(255) {
        w0 += n as f64;
        s0 += t as f64 * n as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (s0 / w0, (sum_all - s0) / w1);
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best.1 {
            best = (t as u8, between, m0 as f32, m1 as f32);
        }
    }
    (best.1 >= 0.0).then_some((best.0, best.2, best.3))
}

/// Glyph cell used by the matcher: kept here so the geometry is in one file.
pub(crate) fn glyph_for(k: usize) -> &'static glyphs::Glyph {
    let c = CHARSET.chars().nth(k).unwrap_or('0');
    glyphs::glyph(c).expect("CHARSET has a glyph for every character")
}

/// Appends the runs of consecutive ink pixels of row `y` as (y, start, end).
fn push_runs(runs: &mut Vec<(u32, u32, u32)>, y: u32, ink: impl Iterator<Item = bool>) {
    let mut start: Option<u32> = None;
    let mut width = 0;
    for (x, ink) in ink.enumerate() {
        let x = x as u32;
        width = x + 1;
        match (ink, start) {
            (true, None) => start = Some(x),
            (false, Some(s)) => {
                runs.push((y, s, x));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((y, s, width));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(c: char) -> usize {
        CHARSET.chars().position(|k| k == c).unwrap()
    }

    /// Scores favouring `text`, with O and 0 (and 1 and I) tied as the
    /// typeface makes them.
    fn scores_for(text: &str) -> Vec<[f32; 36]> {
        text.chars()
            .map(|c| {
                let mut s = [0.3f32; 36];
                s[idx(c)] = 0.9;
                for (a, b) in [('O', '0'), ('1', 'I')] {
                    if c == a || c == b {
                        s[idx(a)] = 0.9;
                        s[idx(b)] = 0.9;
                    }
                }
                s
            })
            .collect()
    }

    #[test]
    fn current_format_settles_look_alikes() {
        let gaps = [2.0, 2.0, 2.0, 8.0, 2.0, 2.0];
        let (text, conf) = decide(&scores_for("OA10OOO"), &gaps, 20.0);
        assert_eq!(text, "OA10OOO");
        assert!(conf.iter().all(|&c| c > 0.9), "{conf:?}");
        // Not in the current layout (gap after the third): no forcing, and
        // the O/0 tie shows up as low confidence.
        let gaps = [2.0, 2.0, 8.0, 2.0, 2.0, 2.0];
        let (_, conf) = decide(&scores_for("ABC100D"), &gaps, 20.0);
        assert!(conf[4] < 0.5 && conf[0] > 0.9, "{conf:?}");
    }

    #[test]
    fn otsu_splits_ink_from_plate() {
        let mut hist = [0u32; 256];
        hist[20] = 300;
        hist[30] = 100;
        hist[230] = 600;
        let (t, dark, light) = otsu(&hist).unwrap();
        assert!((30..230).contains(&t), "{t}");
        assert!((dark - 22.5).abs() < 0.01 && (light - 230.0).abs() < 0.01);
        assert!(otsu(&[0; 256]).is_none());
    }

    #[test]
    fn level_and_tilted_rows() {
        let blob = |x: u32, y: u32| Comp {
            x0: x,
            y0: y,
            x1: x + 12,
            y1: y + 20,
            area: 120,
        };
        let level: Vec<Comp> = (0..6).map(|i| blob(100 + 16 * i, 50)).collect();
        let rows = chain_rows(&level);
        assert_eq!(rows, vec![(0..6).collect::<Vec<_>>()]);
        assert_eq!(row_slope(&level.iter().collect::<Vec<_>>()), 0.0);
        let tilted: Vec<Comp> = (0..6).map(|i| blob(100 + 16 * i, 50 + 2 * i)).collect();
        let s = row_slope(&tilted.iter().collect::<Vec<_>>());
        assert!((s - 0.125).abs() < 1e-4, "{s}");
        // A blob twice as tall does not join the row; the row goes past it.
        let mut odd = level.clone();
        odd[3].y1 += 20;
        assert_eq!(chain_rows(&odd), vec![vec![0, 1, 2, 4, 5]]);
    }
}

//! Corner refinement: a second, closer look at one plate's corners.
//!
//! The detector places corners from a coarse map over the whole frame and
//! errs most up and down, and around one line of a two-line plate; the
//! reader reads nearly every generated plate from its true corners and
//! fewer from the detector's (models/README.md, "Corner precision"). The
//! refiner (`models/refiner.onnx`, trained by `training/refiner.py`) looks
//! at the detected quad alone, grown by [`GROW_X`] of its width either side
//! and [`GROW_Y`] of its height above and below (a quad around one line of
//! a two-line plate then still shows the other line), warped to
//! [`REFINE_W`]×[`REFINE_H`]. It answers where the plate's four corners lie
//! in that grown quad's unit square, and whether the plate has two lines.

use anyhow::{Context as _, Result, bail};
use tract_onnx::prelude::*;

use super::decode::Peak;
use super::models::Plan;
use super::warp::{Homography, Luma, quad_ok, warp};

/// The refiner's input, grey levels 0–255.
pub(crate) const REFINE_W: usize = 128;
pub(crate) const REFINE_H: usize = 64;
/// Its outputs: four corners (x, y) in the grown quad's unit square, then
/// the two-line logit.
pub(crate) const REFINE_OUTPUTS: usize = 9;
/// How far the quad is grown, as a share of its width (either side) and
/// of its height (above and below); training/refiner.py's `GROW_X`, `GROW_Y`.
const GROW_X: f64 = 0.25;
const GROW_Y: f64 = 1.0;

/// The quad grown in its own perspective: the image of
/// `[-GROW_X, 1 + GROW_X] × [-GROW_Y, 1 + GROW_Y]` under the map from the
/// unit square onto it.
fn grown(quad: &[[f32; 2]; 4]) -> Option<[[f32; 2]; 4]> {
    let h = Homography::square_to_quad(quad)?;
    let at = |u: f64, v: f64| {
        let (x, y) = h.apply(u, v);
        [x as f32, y as f32]
    };
    let (lo_u, hi_u, lo_v, hi_v) = (-GROW_X, 1.0 + GROW_X, -GROW_Y, 1.0 + GROW_Y);
    let outer = [
        at(lo_u, lo_v),
        at(hi_u, lo_v),
        at(hi_u, hi_v),
        at(lo_u, hi_v),
    ];
    quad_ok(&outer).then_some(outer)
}

/// How many refiner passes a plate gets when read. Each pass looks again
/// from the quad the last one found: a view centred and scaled more nearly
/// as the refiner's training views were, so its answer lands closer still.
/// On the generated test set (2,000 frames) one pass read 1,965 plates, two
/// 1,969, three 1,972, four 1,973; on the US photographs 144, 147, 148, 148;
/// Brazil's, through their formats, 57 with one pass, 56 with three and 58
/// with four. Each pass after the first costs about 9 ms per photograph
/// (they have many unsure candidates) and little per video frame. Stopping
/// once a pass moved the corners less than 2–10 % of the plate's height
/// read fewer (models/README.md, "Corners refined in passes").
pub const PASSES: usize = 4;

/// The quads `passes` refiner passes find for `peak`, each pass starting
/// from the quad the one before found; fewer when a pass finds no proper
/// quad.
pub(crate) fn refinements(
    plan: &Plan,
    img: Luma,
    peak: &Peak,
    passes: usize,
    input: &mut Vec<f32>,
) -> Result<Vec<Peak>> {
    let mut found: Vec<Peak> = Vec::new();
    while found.len() < passes {
        let from = found.last().unwrap_or(peak);
        let Some(next) = refined(plan, img, from, input)? else {
            break;
        };
        found.push(next);
    }
    Ok(found)
}

/// `peak` with the refiner's corners and two-line probability, or `None`
/// when its quad cannot be grown and warped or the refiner answers no
/// proper quad. `input` is scratch space kept between calls.
fn refined(plan: &Plan, img: Luma, peak: &Peak, input: &mut Vec<f32>) -> Result<Option<Peak>> {
    let Some(outer) = grown(&peak.corners) else {
        return Ok(None);
    };
    let Some(to_frame) = Homography::square_to_quad(&outer) else {
        return Ok(None);
    };
    input.clear();
    input.resize(REFINE_W * REFINE_H, 0.0);
    if !warp(img, &outer, input, REFINE_W, 0, REFINE_W, REFINE_H) {
        return Ok(None);
    }
    // `warp` samples as 0–1; the refiner takes grey levels.
    for v in input.iter_mut() {
        *v *= 255.0;
    }
    let tensor = Tensor::from_shape(&[1, 1, REFINE_H, REFINE_W], input)?;
    let out = plan.run(tvec![tensor.into()])?;
    let out = out.first().context("the refiner gave no output")?;
    let out = out.try_as_plain_ram()?.as_slice::<f32>()?;
    if out.len() != REFINE_OUTPUTS {
        bail!(
            "the refiner gave {} values, not {REFINE_OUTPUTS}",
            out.len()
        );
    }
    let corners = [0, 1, 2, 3].map(|i| {
        let (x, y) = to_frame.apply(f64::from(out[2 * i]), f64::from(out[2 * i + 1]));
        [x as f32, y as f32]
    });
    if !quad_ok(&corners) {
        return Ok(None);
    }
    Ok(Some(Peak {
        corners,
        two_line: 1.0 / (1.0 + (-out[8]).exp()),
        score: peak.score,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quad_grows_by_its_own_width_and_height() {
        let quad = [[100.0, 50.0], [300.0, 50.0], [300.0, 90.0], [100.0, 90.0]];
        let outer = grown(&quad).unwrap();
        let near =
            |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3;
        assert!(near(outer[0], [50.0, 10.0]), "{outer:?}");
        assert!(near(outer[2], [350.0, 130.0]), "{outer:?}");
        assert!(grown(&[[0.0, 0.0]; 4]).is_none());
    }
}

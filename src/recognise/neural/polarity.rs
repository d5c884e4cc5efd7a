//! Plates with light characters on a dark ground, read a second time
//! inverted.
//!
//! The reader learnt black plates with silver characters (UK historic
//! vehicles, and many a foreign plate) from far fewer examples than dark
//! characters on white or yellow, and reads them less well: on the generated
//! test set 8 of its 19 misses were black plates, one in seven of the set.
//! Inverted, such a strip looks like the plates the reader knows best. So
//! a strip that looks light on dark is read both as it is and inverted, and
//! the surer reading is kept with the rest of the plate's readings
//! (`choose.rs`). Reading inverted strips alone would lose what the reader
//! did learn of black plates.

/// A strip is light on dark when fewer than this share of its pixels are
/// brighter than halfway between its darkest and brightest (5th and 95th
/// percentiles): characters cover a quarter to a third of a plate. Measured
/// on the generated test set (2,000 pictures as video frames, UK rules;
/// 1,981 exact without inverting): 1,984 at 0.4, 1,983 at 0.5. Choosing by
/// the strip's mean brightness instead (inverting a strip darker than 0.45)
/// also read 1,984 but lost 3 of OpenALPR's Brazilian photographs: their
/// grey plates in dim light read `O` as `D` inverted.
const LIGHT_SHARE: f32 = 0.4;

/// A strip whose darkest and brightest differ by less than this (of full
/// scale) shows no characters to tell the ground from; it is not inverted.
const MIN_CONTRAST: f32 = 0.05;

/// Whether `strip` (values 0–1) looks like light characters on a dark
/// ground. `scratch` is reused between calls.
pub(super) fn light_on_dark(strip: &[f32], scratch: &mut Vec<f32>) -> bool {
    if strip.len() < 20 {
        return false;
    }
    scratch.clear();
    scratch.extend_from_slice(strip);
    let n = scratch.len();
    let dark = *scratch.select_nth_unstable_by(n / 20, f32::total_cmp).1;
    let light = *scratch
        .select_nth_unstable_by(n - 1 - n / 20, f32::total_cmp)
        .1;
    if light - dark < MIN_CONTRAST {
        return false;
    }
    let mid = (dark + light) / 2.0;
    let lit = strip.iter().filter(|&&v| v > mid).count();
    (lit as f32) < LIGHT_SHARE * n as f32
}

/// Appends to `strips` (strips of `len` values, one per entry of `batch`) an
/// inverted copy of each that is light on dark, and to `batch` a copy of
/// that strip's entry, so that the copy is read for the same plate.
pub(super) fn add_inverted<T: Clone>(
    strips: &mut Vec<f32>,
    len: usize,
    batch: &mut Vec<T>,
    scratch: &mut Vec<f32>,
) {
    let read = batch.len();
    strips.truncate(read * len);
    for k in 0..read {
        if light_on_dark(&strips[k * len..(k + 1) * len], scratch) {
            strips.extend_from_within(k * len..(k + 1) * len);
            let at = strips.len() - len;
            for v in &mut strips[at..] {
                *v = 1.0 - *v;
            }
            batch.push(batch[k].clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32×8 strip of `ground` with vertical strokes of `ink` in every
    /// fourth column (a quarter of the pixels).
    fn strip(ground: f32, ink: f32) -> Vec<f32> {
        (0..8 * 32)
            .map(|i| if i % 32 % 4 == 1 { ink } else { ground })
            .collect()
    }

    #[test]
    fn light_characters_on_a_dark_ground_are_told_from_dark_on_light() {
        let mut scratch = Vec::new();
        assert!(light_on_dark(&strip(0.1, 0.8), &mut scratch));
        assert!(!light_on_dark(&strip(0.8, 0.1), &mut scratch));
        // A dim white plate is still dark on light.
        assert!(!light_on_dark(&strip(0.35, 0.15), &mut scratch));
        // No contrast, nothing to tell.
        assert!(!light_on_dark(&strip(0.2, 0.22), &mut scratch));
        assert!(!light_on_dark(&[0.0; 8], &mut scratch));
    }

    #[test]
    fn a_light_on_dark_strip_is_read_again_inverted_for_the_same_plate() {
        let len = 8 * 32;
        let (black, white) = (strip(0.1, 0.8), strip(0.8, 0.1));
        let mut strips = [white.clone(), black.clone(), white].concat();
        // Room left over from an earlier, larger batch is not read.
        strips.extend(std::iter::repeat_n(0.5, len));
        let mut batch = vec!['a', 'b', 'c'];
        add_inverted(&mut strips, len, &mut batch, &mut Vec::new());
        assert_eq!(batch, ['a', 'b', 'c', 'b']);
        assert_eq!(strips.len(), 4 * len);
        assert_eq!(
            &strips[len..2 * len],
            &black[..],
            "the strip itself is kept"
        );
        let inverted: Vec<f32> = black.iter().map(|v| 1.0 - v).collect();
        assert_eq!(&strips[3 * len..], &inverted[..]);
    }
}

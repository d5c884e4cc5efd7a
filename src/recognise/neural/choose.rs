//! Which reading of a plate is kept.
//!
//! A plate is read from several quads: as found, grown or shifted when the
//! reader is unsure, laid out the other way, split at its lines' gap, and
//! from the refiner's corners. Each reading is a (plate index, (sureness,
//! candidate)) pair, where sureness is the geometric mean of the characters'
//! probabilities, lowered for a reading that spells none of the site's plate
//! formats. This module turns the reader's output into such readings, says
//! which plates are unsure, hands alternative quads' readings to their
//! plates, and keeps one reading per plate: the surest.

use super::decode::{self, Peak};
use super::{MIN_CHARS, READ_CLASSES, TWO_LINE};
use crate::recognise::PlateCandidate;
use crate::recognise::rules::{PlateRules, look_alike};

/// One reading: (plate index, (sureness, candidate)). Readings of an
/// alternative quad carry the index `plates + k` of the `k`th alternative
/// until [`adopt_surest`] hands them to their plate.
pub(super) type Reading = (usize, (f32, PlateCandidate));

/// A reading that fits none of the plate formats the site enables counts as
/// this share of its sureness when a plate's readings are compared, and when
/// the plate is judged sure enough not to be read again (see [`weighed`]).
/// A plate's readings from its quad's variations often differ in one
/// doubtful character, and a reading that spells no plate the site can see
/// is rarely the right one (`J 90` was read `JQD` at 0.993 and `J9O` at
/// 0.904). Measured with the UK formats (models/README.md, stop 46): the
/// generated test set as frames 1,979 → 1,981 exact, the validation set 594
/// → 597; at 0.95 and 0.8 the same. The cost is foreign plates at a UK
/// site: the European probe read with the UK rules lost 9 of 1,000 (a site
/// that sees many can enable their formats too). Letting
/// any look-alike count towards a fit (as the rules' fixes do) gained 9
/// Brazilian photographs through Brazil's formats but lost 51 of those
/// 1,000, bent into UK marks.
const UNFITTING: f32 = 0.9;

/// A read plate whose box lies this share or more inside the box of a plate
/// read more surely is part of that plate (see [`without_nested`]).
const NESTED: f32 = 0.7;

/// Ranks the readings in `readings` of `alternatives[grown]` (read as plate
/// `n + grown`: a plate's quad grown down to a two-line plate's, see
/// [`UPPER_LINE_CHARS`](super::UPPER_LINE_CHARS)) that keep `upper`, the
/// short reading, as their upper line and add a lower line, at least
/// `sure_enough` sure, above every other reading of that plate, from its own
/// quads or its other alternatives: the short reading never saw the lower
/// line, so how sure it is says nothing about whether there is one (a clear
/// upper line alone reads 1.0 sure).
pub(super) fn rank_lower_lines(
    readings: &mut [Reading],
    n: usize,
    alternatives: &[(usize, Peak)],
    grown: usize,
    upper: &str,
    sure_enough: f32,
) {
    let Some(&(plate, _)) = alternatives.get(grown) else {
        return;
    };
    let of_plate = |owner: usize| match owner.checked_sub(n) {
        None => owner == plate,
        Some(k) => k != grown && alternatives.get(k).is_some_and(|(p, _)| *p == plate),
    };
    let above = (readings.iter().filter(|(owner, _)| of_plate(*owner)))
        .map(|(_, (sureness, _))| *sureness)
        .fold(f32::NEG_INFINITY, f32::max)
        .next_up();
    for (owner, (sureness, cand)) in readings.iter_mut() {
        if *owner == n + grown
            && *sureness >= sure_enough
            && cand.text.len() > upper.len()
            && keeps_upper_line(&cand.text, upper)
        {
            *sureness = sureness.max(above);
        }
    }
}

/// Whether `text` starts with the short reading `upper`, character for
/// character or as a look-alike (`AZ5` for `AZS 2661`'s upper line): the
/// upper line read alone and read above its lower line can differ in a
/// doubtful letter or digit, and both are readings of the same line.
fn keeps_upper_line(text: &str, upper: &str) -> bool {
    let mut chars = text.chars();
    upper
        .chars()
        .all(|u| chars.next().is_some_and(|c| look_alike(c, u)))
}

/// Hands the readings of `alternatives` (plate index, quad), read as plates
/// `peaks.len() + k`, to the plates they are quads of, and makes each
/// plate's quad the one it was read most surely from.
pub(super) fn adopt_surest(
    readings: &mut [Reading],
    peaks: &mut [Peak],
    alternatives: &[(usize, Peak)],
) {
    let n = peaks.len();
    let mut best: Vec<f32> = (0..n).map(|i| surest_of(readings, i)).collect();
    for (k, (i, peak)) in alternatives.iter().enumerate() {
        let sureness = surest_of(readings, n + k);
        if sureness > best[*i] {
            best[*i] = sureness;
            peaks[*i] = peak.clone();
        }
    }
    for (owner, _) in readings.iter_mut() {
        if let Some((plate, _)) = owner.checked_sub(n).and_then(|k| alternatives.get(k)) {
            *owner = *plate;
        }
    }
}

/// The reading of plate `plate` in `readings` (plate index, (sureness,
/// candidate)) with the highest sureness, if it has any.
pub(super) fn surest_reading(readings: &[Reading], plate: usize) -> Option<&(f32, PlateCandidate)> {
    let of_plate = readings.iter().filter(|(owner, _)| *owner == plate);
    // The first of equally sure readings, as [`surest`] keeps.
    of_plate.fold(None, |best, (_, reading)| match best {
        Some((sureness, _)) if reading.0 <= *sureness => best,
        _ => Some(reading),
    })
}

/// The highest sureness among the readings in `readings` (plate index,
/// (sureness, candidate)) of plate `plate`; minus infinity when it has none.
fn surest_of(readings: &[Reading], plate: usize) -> f32 {
    surest_reading(readings, plate).map_or(f32::NEG_INFINITY, |(sureness, _)| *sureness)
}

/// The plates of `plates` that no reading in `readings` (plate index,
/// (sureness, candidate)) is at least `sure_enough` sure of, in order.
pub(super) fn unsure(readings: &[Reading], plates: usize, sure_enough: f32) -> Vec<usize> {
    (0..plates)
        .filter(|&i| surest_of(readings, i) < sure_enough)
        .collect()
}

/// For each of `plates` plates, the reading (plate index, (sureness,
/// candidate)) with the highest sureness, if it has any, as (plate index,
/// sureness, candidate).
pub(super) fn surest(
    readings: impl Iterator<Item = Reading>,
    plates: usize,
) -> Vec<(usize, f32, PlateCandidate)> {
    let mut best: Vec<Option<(f32, PlateCandidate)>> = vec![None; plates];
    for (plate, (sureness, cand)) in readings {
        if let Some(slot) = best.get_mut(plate)
            && slot.as_ref().is_none_or(|(s, _)| sureness > *s)
        {
            *slot = Some((sureness, cand));
        }
    }
    best.into_iter()
        .enumerate()
        .filter_map(|(plate, b)| b.map(|(sureness, c)| (plate, sureness, c)))
        .collect()
}

/// `plates` (plate index, sureness, reading) without those whose box lies
/// [`NESTED`] or more inside the box of another plate read more surely: a
/// plate holds no other plate, so the two are one plate, found whole and in
/// part (a short mark's characters boxed as a two-line plate of their own).
pub(super) fn without_nested(
    plates: Vec<(usize, f32, PlateCandidate)>,
    peaks: &[Peak],
) -> Vec<(usize, PlateCandidate)> {
    let inside = |i: usize, j: usize| decode::share_inside(peaks[i].bounds(), peaks[j].bounds());
    let nested = |&(i, sureness, _): &(usize, f32, PlateCandidate)| {
        (plates.iter()).any(|&(j, other, _)| j != i && other > sureness && inside(i, j) >= NESTED)
    };
    let dropped: Vec<bool> = plates.iter().map(nested).collect();
    plates
        .into_iter()
        .zip(dropped)
        .filter(|(_, dropped)| !dropped)
        .map(|((plate, _, cand), _)| (plate, cand))
        .collect()
}

/// `cand`, read from a variation of `peak`'s quad, with the box and corners
/// of the plate itself: the variations are reading windows, up to 30 % taller
/// than the plate, and a box that grew with them fits the plate worse (its
/// overlap with a labelled plate, the patch cut around it, and tracking from
/// frame to frame, where a box that changes height with the reading that won
/// looks like motion).
pub(super) fn placed(mut cand: PlateCandidate, peak: &Peak, w: usize, h: usize) -> PlateCandidate {
    if let Some(plate_box) = frame_box(peak, w, h) {
        cand.plate_box = plate_box;
        cand.corners = peak.corners;
    }
    cand
}

/// The box (x, y, w, h) around `peak`'s quad, clipped to a `w`×`h` frame;
/// None when the quad lies entirely outside it.
pub(super) fn frame_box(peak: &Peak, w: usize, h: usize) -> Option<[u32; 4]> {
    let [x0, y0, x1, y1] = peak.bounds();
    let clip = |v: f32, max: usize| v.clamp(0.0, max as f32);
    let (x0, y0) = (clip(x0.floor(), w) as u32, clip(y0.floor(), h) as u32);
    let (x1, y1) = (clip(x1.ceil(), w) as u32, clip(y1.ceil(), h) as u32);
    (x1 > x0 && y1 > y0).then_some([x0, y0, x1 - x0, y1 - y0])
}

/// `reading` with its sureness lowered by [`UNFITTING`] when `formats` are
/// given and its text fits none of them as read (see
/// [`PlateRules::fits_as_read`]). Its candidate, and so its confidence, is
/// unchanged. Rules that enable no format prefer nothing: every reading
/// would count as unsure, and every plate be read again.
pub(super) fn weighed(
    (sureness, cand): (f32, PlateCandidate),
    formats: Option<&PlateRules>,
) -> (f32, PlateCandidate) {
    match formats {
        Some(rules) if !rules.patterns().is_empty() && !rules.fits_as_read(&cand.text) => {
            (sureness * UNFITTING, cand)
        }
        _ => (sureness, cand),
    }
}

/// A read from the reader's output for one plate; None when it is not one.
///
/// Confidence: the geometric mean of the character confidences (how sure
/// the reader is of the whole text, independent of its length), capped by
/// the detector's plate-centre probability, so a confident read of
/// something that barely looks like a plate stays doubtful.
pub(super) fn candidate(
    peak: &Peak,
    probs: &[f32],
    w: usize,
    h: usize,
) -> Option<(f32, PlateCandidate)> {
    let decode::Decoded {
        text,
        confidence: char_confidence,
        at,
    } = decode::ctc_greedy(probs, READ_CLASSES);
    if char_confidence.len() < MIN_CHARS {
        return None;
    }
    let log_mean = char_confidence
        .iter()
        .map(|&c| c.max(1e-6).ln())
        .sum::<f32>()
        / char_confidence.len() as f32;
    let sureness = log_mean.exp();
    let confidence = sureness.min(peak.score).clamp(0.0, 1.0);
    let plate_box = frame_box(peak, w, h)?; // None: entirely outside the frame
    Some((
        sureness,
        PlateCandidate {
            text,
            confidence,
            char_confidence,
            // A two-line plate is read as its lines side by side.
            char_at: if peak.two_line > TWO_LINE {
                Vec::new()
            } else {
                at
            },
            plate_box,
            corners: peak.corners,
            format: None,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recognise::neural::READ_COLUMNS;
    use crate::recognise::neural::tests::peak;

    /// Reader output spelling `classes` one per column, at probability `p`.
    fn probs(classes: &[usize], p: f32) -> Vec<f32> {
        let mut out = vec![0.0; READ_COLUMNS * READ_CLASSES];
        for t in 0..READ_COLUMNS {
            let c = classes.get(t).copied().unwrap_or(0);
            out[t * READ_CLASSES + c] = p;
        }
        out
    }

    #[test]
    fn a_plate_inside_a_plate_read_more_surely_is_dropped() {
        let square = |x0: f32, y0: f32, x1: f32, y1: f32| [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
        // A short mark found whole and, more strongly, a part of it found as
        // a small plate of its own (generated test picture 01116: `F5`).
        let peaks = [
            peak(0.57, square(0.0, 0.0, 80.0, 40.0)),
            peak(0.70, square(30.0, 5.0, 55.0, 30.0)),
            // Beside the whole, overlapping a tenth of its own box.
            peak(0.70, square(72.0, 0.0, 152.0, 40.0)),
        ];
        let read = |(i, &sureness): (usize, &f32)| {
            let (_, cand) = candidate(&peaks[i], &probs(&[11, 12], 0.9), 200, 100).unwrap();
            (i, sureness, cand)
        };
        let kept = |sureness: &[f32]| -> Vec<usize> {
            let plates = sureness.iter().enumerate().map(read).collect();
            (without_nested(plates, &peaks).into_iter())
                .map(|(i, _)| i)
                .collect()
        };
        assert_eq!(
            kept(&[1.0, 0.86, 0.5]),
            [0, 2],
            "the part is dropped, the neighbour kept"
        );
        assert_eq!(
            kept(&[0.8, 0.86, 0.5]),
            [0, 1, 2],
            "a part read more surely stays"
        );
        assert_eq!(
            kept(&[0.86, 0.86, 0.5]),
            [0, 1, 2],
            "as does one read as surely"
        );
        assert_eq!(kept(&[0.9]), [0], "a plate alone is kept");
    }

    /// A candidate reading `text`, 0.9 sure of each character.
    fn read(text: &str) -> PlateCandidate {
        PlateCandidate {
            text: text.into(),
            confidence: 0.9,
            char_confidence: vec![0.9; text.len()],
            char_at: Vec::new(),
            plate_box: [0, 0, 10, 10],
            corners: [[0.0; 2]; 4],
            format: None,
        }
    }

    #[test]
    fn a_grown_reading_that_adds_a_lower_line_outranks_a_sure_short_one() {
        let quad = peak(0.9, [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]]);
        // Two plates; plate 0's alternatives: a refined quad (read as plate
        // 2) and its grown quad (plate 3); plate 1's grown quad (plate 4).
        let alternatives = [(0, quad.clone()), (0, quad.clone()), (1, quad)];
        let mut readings = vec![
            (0, (1.0, read("AB12"))),
            (2, (1.0, read("AB12"))),
            (3, (0.97, read("AB12CDE"))),
            (3, (0.99, read("XY12CDE"))),
            (1, (0.8, read("CD34"))),
            (4, (0.9, read("CD34EFG"))),
        ];
        let before = readings.clone();
        rank_lower_lines(&mut readings, 2, &alternatives, 1, "AB12", 0.95);
        rank_lower_lines(&mut readings, 2, &alternatives, 2, "CD34", 0.95);
        // Above both sure readings of plate 0's upper line, from its own
        // quad and from its refined one.
        assert!(readings[2].1.0 > 1.0);
        assert_eq!(readings[0].1.0, 1.0);
        assert_eq!(readings[1].1.0, 1.0);
        // Not a reading that changes the upper line, nor one under 0.95.
        assert_eq!(readings[3].1.0, before[3].1.0);
        assert_eq!(readings[5].1.0, before[5].1.0);
        let mut peaks = vec![peak(0.9, [[0.0; 2]; 4]); 2];
        adopt_surest(&mut readings, &mut peaks, &alternatives);
        let kept = surest(readings.into_iter(), 2);
        assert_eq!(kept[0].2.text, "AB12CDE");
        assert_eq!(kept[1].2.text, "CD34EFG", "surer by itself");
    }

    #[test]
    fn a_reading_that_fits_the_formats_beats_a_slightly_surer_one() {
        let uk = PlateRules::uk();
        let readings = |formats: Option<&PlateRules>| {
            [(0.993, "JQD"), (0.904, "J9O"), (0.9, "ABC")]
                .map(|(sureness, text)| (0, weighed((sureness, read(text)), formats)))
        };
        let kept = surest(readings(Some(&uk)).into_iter(), 1);
        assert_eq!(kept[0].2.text, "J9O");
        assert_eq!(kept[0].2.confidence, 0.9, "the confidence is the reader's");
        let kept = surest(readings(None).into_iter(), 1);
        assert_eq!(kept[0].2.text, "JQD", "no formats, no preference");
        let (sureness, _) = weighed((0.99, read("JQD")), Some(&uk));
        assert!(sureness < 0.9, "so the plate is read again: {sureness}");
        let none = PlateRules::new(&[], &[], crate::recognise::rules::Unmatched::Flag, 2).unwrap();
        let (sureness, _) = weighed((0.99, read("JQD")), Some(&none));
        assert_eq!(sureness, 0.99, "no format enabled, none preferred");
    }

    #[test]
    fn a_lower_line_may_come_with_a_look_alike_in_the_upper_one() {
        assert!(keeps_upper_line("AZS2661", "AZ5"), "S read as 5 alone");
        assert!(keeps_upper_line("AB12CDE", "A812"));
        assert!(keeps_upper_line("D081ABC", "DO8"));
        assert!(
            !keeps_upper_line("AX12CDE", "AB12"),
            "X is no look-alike of B"
        );
        assert!(
            !keeps_upper_line("AB", "AB12"),
            "shorter than the upper line"
        );
    }

    #[test]
    fn a_candidate_has_a_clipped_box_and_a_capped_confidence() {
        let corners = [[-5.0, 10.2], [40.5, 10.0], [40.0, 20.0], [-5.0, 20.7]];
        // "AB12" at 0.9 each, detector 0.8.
        let c = candidate(
            &peak(0.8, corners),
            &probs(&[11, 0, 12, 2, 3], 0.9),
            100,
            50,
        )
        .unwrap()
        .1;
        assert_eq!(c.text, "AB12");
        assert_eq!(c.char_confidence, [0.9; 4]);
        assert!((c.confidence - 0.8).abs() < 1e-6, "{}", c.confidence);
        assert_eq!(c.plate_box, [0, 10, 41, 11]);
        assert_eq!(c.corners, corners);
        assert_eq!(c.format, None);
        let (sureness, c) =
            candidate(&peak(0.95, corners), &probs(&[11, 12], 0.6), 100, 50).unwrap();
        assert!((c.confidence - 0.6).abs() < 1e-5);
        assert!((sureness - 0.6).abs() < 1e-5);
        let (sureness, c) =
            candidate(&peak(0.5, corners), &probs(&[11, 12], 0.9), 100, 50).unwrap();
        assert!((c.confidence - 0.5).abs() < 1e-5, "capped by the detector");
        assert!(
            (sureness - 0.9).abs() < 1e-5,
            "the reader's own sureness is not"
        );
    }

    #[test]
    fn each_plate_keeps_its_surest_reading() {
        let corners = [[0.0, 0.0], [40.0, 0.0], [40.0, 10.0], [0.0, 10.0]];
        let reading = |plate: usize, text: &[usize], p: f32| {
            (
                plate,
                candidate(&peak(0.7, corners), &probs(text, p), 100, 50).unwrap(),
            )
        };
        let plates = surest(
            [
                reading(0, &[11, 12], 0.6),
                reading(0, &[11, 0, 12, 13], 0.95), // surer, though capped alike
                reading(0, &[11, 14], 0.8),
                reading(2, &[15, 16], 0.9),
                reading(7, &[15, 16], 0.9), // no such plate: ignored
            ]
            .into_iter(),
            3,
        );
        let texts: Vec<(usize, &str)> = (plates.iter())
            .map(|(i, _, c)| (*i, c.text.as_str()))
            .collect();
        assert_eq!(texts, [(0, "ABC"), (2, "EF")], "plate 1 had no reading");
        assert!(
            plates
                .iter()
                .all(|(_, _, c)| (c.confidence - 0.7).abs() < 1e-6)
        );
    }

    #[test]
    fn only_plates_read_without_enough_sureness_are_read_again() {
        let corners = [[0.0, 0.0], [40.0, 0.0], [40.0, 10.0], [0.0, 10.0]];
        let reading = |plate: usize, p: f32| {
            (
                plate,
                candidate(&peak(0.9, corners), &probs(&[11, 12], p), 100, 50).unwrap(),
            )
        };
        // Plate 0 read surely, plate 1 doubtfully, plate 2 not at all (its
        // quad gave no text), plate 3 surely on the second of two readings.
        let readings = [
            reading(0, 0.97),
            reading(1, 0.6),
            reading(3, 0.5),
            reading(3, 0.96),
        ];
        assert_eq!(unsure(&readings, 4, 0.95), [1, 2]);
        assert_eq!(unsure(&readings, 4, 0.5), [2], "0.5 itself is sure enough");
        assert_eq!(
            unsure(&readings, 4, 2.0),
            [0, 1, 2, 3],
            "above 1: every plate"
        );
        assert_eq!(unsure(&[], 0, 0.95), Vec::<usize>::new());
    }

    #[test]
    fn short_reads_and_plates_outside_the_frame_are_dropped() {
        let corners = [[0.0, 0.0], [40.0, 0.0], [40.0, 10.0], [0.0, 10.0]];
        assert!(candidate(&peak(0.9, corners), &probs(&[11], 0.9), 100, 50).is_none());
        let outside = corners.map(|[x, y]| [x + 200.0, y]);
        assert!(candidate(&peak(0.9, outside), &probs(&[11, 12], 0.9), 100, 50).is_none());
    }
}

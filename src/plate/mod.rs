//! Plate: draws UK number plates and the traffic scenes that carry them.
//!
//! Used in two directions: the synthetic clip generator (`anprd-synth`) draws
//! plates into video, and the classical recogniser renders its character
//! templates from the very same [`glyphs`], so both sides agree on the
//! typeface. [`random_vrm`] makes valid current-format registrations from a
//! seed so clips and tests are reproducible.

pub mod clip;
pub mod degrade;
pub mod glyphs;
pub mod render;
pub mod sample;
pub mod scene;

pub use render::{
    BandColour, GrayImage, NationalIdent, PlateColour, PlateShape, PlateStyle, RgbImage, SideBand,
    TwoLineSize, render_plate,
};

/// Letters never used on current-format plates (too like 1 and 0).
const EXCLUDED_EVERYWHERE: &[u8] = b"IQ";

/// A tiny deterministic PRNG (SplitMix64): reproducible clips and tests without
/// pulling in a random-number crate.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: unbiased enough for picking letters and positions.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    fn pick(&mut self, set: &[u8]) -> char {
        set[self.below(set.len() as u64) as usize] as char
    }
}

/// Letters allowed in the two-letter memory tag (no I, Q or Z).
fn memory_tag_letters() -> Vec<u8> {
    (b'A'..=b'Z')
        .filter(|c| !EXCLUDED_EVERYWHERE.contains(c) && *c != b'Z')
        .collect()
}

/// Letters allowed in the three random letters (no I or Q).
fn random_letters() -> Vec<u8> {
    (b'A'..=b'Z')
        .filter(|c| !EXCLUDED_EVERYWHERE.contains(c))
        .collect()
}

/// A valid current-format (2001 onwards) UK registration, e.g. `AB12CDE`,
/// without spaces. The age identifier is `02`–`26` (March issue) or `51`–`76`
/// (September issue).
pub fn random_vrm(rng: &mut SplitMix64) -> String {
    let tags = memory_tag_letters();
    let letters = random_letters();
    let year = 2 + rng.below(25) as u32; // 02..=26
    let age = if rng.below(2) == 0 { year } else { year + 50 };
    let mut s = String::with_capacity(7);
    s.push(rng.pick(&tags));
    s.push(rng.pick(&tags));
    s.push_str(&format!("{age:02}"));
    for _ in 0..3 {
        s.push(rng.pick(&letters));
    }
    s
}

/// Whether `vrm` (no spaces) has the current UK format `LLNNLLL` with the
/// letter and age-identifier rules [`random_vrm`] follows.
pub fn is_current_format(vrm: &str) -> bool {
    let b = vrm.as_bytes();
    if b.len() != 7 {
        return false;
    }
    let tags = memory_tag_letters();
    let letters = random_letters();
    let age = match std::str::from_utf8(&b[2..4])
        .ok()
        .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|s| s.parse::<u32>().ok())
    {
        Some(a) => a,
        None => return false,
    };
    let age_ok = (2..=50).contains(&age) || (51..=99).contains(&age);
    tags.contains(&b[0])
        && tags.contains(&b[1])
        && age_ok
        && b[4..].iter().all(|c| letters.contains(c))
}

/// Splits a registration into the groups printed on the plate: `AB12CDE` →
/// `["AB12", "CDE"]`. Text that already has spaces keeps its own grouping;
/// other unspaced text of 5–7 characters splits before its last three (the
/// usual UK layout); anything else stays one group.
pub fn plate_groups(text: &str) -> Vec<String> {
    let t = text.trim().to_ascii_uppercase();
    if t.contains(' ') {
        return t.split_whitespace().map(str::to_owned).collect();
    }
    let n = t.chars().count();
    if (5..=7).contains(&n) {
        let a: String = t.chars().take(n - 3).collect();
        let b: String = t.chars().skip(n - 3).collect();
        vec![a, b]
    } else {
        vec![t]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_vrms_are_current_format_and_reproducible() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let v = random_vrm(&mut a);
            assert_eq!(v, random_vrm(&mut b));
            assert!(is_current_format(&v), "{v}");
            assert!(!v[..2].contains('Z'), "{v}");
            assert!(!v.contains('I') && !v.contains('Q'), "{v}");
            let age: u32 = v[2..4].parse().unwrap();
            assert!((2..=26).contains(&age) || (52..=76).contains(&age), "{v}");
            seen.insert(v);
        }
        assert!(seen.len() > 490, "generator repeats itself");
        let mut c = SplitMix64::new(8);
        assert_ne!(random_vrm(&mut c), random_vrm(&mut SplitMix64::new(7)));
    }

    #[test]
    fn current_format_check_rejects_bad_text() {
        assert!(is_current_format("AB12CDE"));
        assert!(!is_current_format("AB12CD"));
        assert!(!is_current_format("A812CDE"));
        assert!(!is_current_format("AB1XCDE"));
        assert!(!is_current_format("IB12CDE"));
        assert!(!is_current_format("AB12CQE"));
    }

    #[test]
    fn groups_follow_uk_layout() {
        assert_eq!(plate_groups("AB12CDE"), vec!["AB12", "CDE"]);
        assert_eq!(plate_groups("ab12 cde"), vec!["AB12", "CDE"]);
        assert_eq!(plate_groups("A123BCD"), vec!["A123", "BCD"]);
        assert_eq!(plate_groups("K1 NGS"), vec!["K1", "NGS"]);
        assert_eq!(plate_groups("1"), vec!["1"]);
    }

    #[test]
    fn splitmix_range_is_bounded() {
        let mut r = SplitMix64::new(1);
        for _ in 0..1000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(3) < 3);
        }
    }
}

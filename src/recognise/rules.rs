//! Plate rules as data: registration formats written as small patterns, and
//! position-aware fixes of look-alike characters.
//!
//! An engine reads glyphs; it cannot know that the third character of a
//! current UK plate is a digit. A pattern says so, and a read that fits a
//! pattern only after swapping look-alikes (O/0, I/1, S/5, B/8, Z/2, G/6 …) at
//! the positions the pattern pins is corrected. A read that fits no enabled
//! pattern keeps its text and is flagged (no `format`), or is dropped when the
//! configuration asks for that.
//!
//! Pattern syntax, one token per character position:
//!
//! | token | matches |
//! |---|---|
//! | `L` | a letter A–Z |
//! | `D` | a digit 0–9 |
//! | `X` | a letter or a digit |
//! | `[A-HJ-PR-Y]` | one of the listed characters (ranges allowed) |
//!
//! Each token may be followed by `?`, `{n}` or `{m,n}`. Spaces only show the
//! printed grouping and are ignored when matching.

use std::fmt;

use super::{PlateCandidate, Recogniser};
use crate::capture::Frame;

/// Built-in UK formats, in order of preference when a read fits several
/// equally well. Letter sets follow DVLA practice: no I or Q in current-format
/// letters, no Z in the memory tag, and prefix/suffix year letters never I, O,
/// Q, U or Z. Serial numbers (every format but the current one, whose digits
/// are an age identifier such as 02) run from 1 and never start with 0.
pub const UK_FORMATS: &[(&str, &str)] = &[
    ("uk-current", "[A-HJ-PR-Y]{2}DD [A-HJ-PR-Z]{3}"),
    ("uk-prefix", "[A-HJ-NPR-TV-Y][1-9]D{0,2} L{3}"),
    ("uk-suffix", "L{3} [1-9]D{0,2}[A-HJ-NPR-TV-Y]"),
    ("uk-ni", "L?L[IZ] [1-9]D{0,3}"),
    ("uk-dateless", "L{1,3} [1-9]D{0,3}"),
    ("uk-dateless-reversed", "[1-9]D{0,3} L{1,3}"),
];

/// Look-alikes an engine confuses, as (read, what the position may need).
/// Only letter↔digit swaps, plus Q→O which current plates never carry.
const LOOK_ALIKES: &[(u8, &[u8])] = &[
    (b'O', b"0"),
    (b'D', b"0"),
    (b'Q', b"0O"),
    (b'U', b"0"),
    (b'I', b"1"),
    (b'J', b"1"),
    (b'Z', b"2"),
    (b'S', b"5"),
    (b'B', b"8"),
    (b'G', b"6"),
    (b'A', b"4"),
    (b'T', b"7"),
    (b'0', b"OD"),
    (b'1', b"I"),
    (b'2', b"Z"),
    (b'4', b"A"),
    (b'5', b"S"),
    (b'6', b"G"),
    (b'7', b"T"),
    (b'8', b"B"),
];

/// Most positions one read may have corrected by default; beyond that it is a
/// different plate, not a misread of this format.
pub const DEFAULT_MAX_FIXES: usize = 2;

/// A character the engine read at least this surely is taken as read, not
/// as a look-alike to fix: a sure `5` where a UK format wants a letter is
/// more likely a plate of another format than a misread S (a French
/// `AB-125-CD` would become the UK mark `AB12 SCD`, a false match where a
/// read flagged as fitting no format is only less useful). The engine is
/// not that sure of most misreads. Through the UK rules (`anprd eval`,
/// 2026-11-25), exact plates at 1 (every look-alike fixable) / 0.9999 /
/// 0.999 / 0.99 / 0.95: OpenALPR US (not UK marks) 79 / 106 / 111 / 109 / 111
/// of 222 (111 without rules); OpenALPR BR (`LLL DDDD`, which fits the UK
/// dateless format, in a font the reader misreads 1 as I and 8 as B
/// surely) 45 / 36 / 30 / 26 / 24 of 114 (22 without rules); the generated
/// UK test set 1,838 at 1, 1,837 at 0.99, 1,835 at 0.95 of 2,000.
pub const DEFAULT_FIX_BELOW: f32 = 0.999;

/// A pattern that does not parse, with the character offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub offset: usize,
    pub why: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.offset + 1, self.why)
    }
}

impl std::error::Error for PatternError {}

/// One token: a set of allowed characters (bit per A–Z then 0–9) repeated
/// between `min` and `max` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Token {
    set: u64,
    min: u8,
    max: u8,
}

/// A named registration format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub name: String,
    pub source: String,
    tokens: Vec<Token>,
}

fn bit(c: u8) -> u64 {
    match c {
        b'A'..=b'Z' => 1 << (c - b'A'),
        b'0'..=b'9' => 1 << (26 + c - b'0'),
        _ => 0,
    }
}

const LETTERS: u64 = (1 << 26) - 1;
const DIGITS: u64 = ((1 << 10) - 1) << 26;

impl Pattern {
    /// Parses `source` (see the module doc).
    pub fn parse(name: &str, source: &str) -> Result<Pattern, PatternError> {
        let chars: Vec<char> = source.chars().collect();
        let err = |offset: usize, why: String| Err(PatternError { offset, why });
        let mut tokens: Vec<Token> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let set = match c {
                ' ' | '\t' => {
                    i += 1;
                    continue;
                }
                'L' => LETTERS,
                'D' => DIGITS,
                'X' => LETTERS | DIGITS,
                '[' => {
                    let start = i;
                    let mut set = 0u64;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return err(start, "unclosed `[`".into()),
                            Some(']') => break,
                            Some(&a)
                                if chars.get(i + 1) == Some(&'-')
                                    && chars.get(i + 2).is_some_and(|&b| b != ']') =>
                            {
                                let b = chars[i + 2];
                                let (ba, bb) = (bit_of(a), bit_of(b));
                                if ba == 0
                                    || bb == 0
                                    || a > b
                                    || a.is_ascii_digit() != b.is_ascii_digit()
                                {
                                    return err(i, format!("bad range `{a}-{b}`"));
                                }
                                for k in a as u8..=b as u8 {
                                    set |= bit(k);
                                }
                                i += 3;
                                continue;
                            }
                            Some(&a) => {
                                if bit_of(a) == 0 {
                                    return err(i, format!("`{a}` is not A–Z or 0–9"));
                                }
                                set |= bit_of(a);
                            }
                        }
                        i += 1;
                    }
                    if set == 0 {
                        return err(start, "empty set `[]`".into());
                    }
                    set
                }
                other => {
                    return err(
                        i,
                        format!("unexpected `{other}`; expected L, D, X, [set] or a space"),
                    );
                }
            };
            i += 1;
            let (min, max) = match chars.get(i) {
                Some('?') => {
                    i += 1;
                    (0, 1)
                }
                Some('{') => {
                    let start = i;
                    let close = match chars[i..].iter().position(|&c| c == '}') {
                        Some(p) => i + p,
                        None => return err(start, "unclosed `{`".into()),
                    };
                    let body: String = chars[i + 1..close].iter().collect();
                    i = close + 1;
                    let parse = |s: &str| s.trim().parse::<u8>().ok();
                    let range = match body.split_once(',') {
                        Some((a, b)) => parse(a).zip(parse(b)),
                        None => parse(&body).map(|n| (n, n)),
                    };
                    match range {
                        Some((a, b)) if a <= b && (1..=12).contains(&b) => (a, b),
                        _ => {
                            return err(
                                start,
                                format!(
                                    "bad repeat `{{{body}}}`; expected {{n}} or {{m,n}}, n ≤ 12"
                                ),
                            );
                        }
                    }
                }
                _ => (1, 1),
            };
            tokens.push(Token { set, min, max });
        }
        if tokens.iter().all(|t| t.max == 0) || tokens.is_empty() {
            return err(0, "the pattern matches nothing".into());
        }
        Ok(Pattern {
            name: name.to_owned(),
            source: source.to_owned(),
            tokens,
        })
    }

    /// A random text of this format (for generated training and test data).
    pub fn sample(&self, rng: &mut crate::plate::SplitMix64) -> String {
        let mut out = String::new();
        for t in &self.tokens {
            let n = t.min as u64 + rng.below((t.max - t.min) as u64 + 1);
            let allowed: Vec<u8> = (b'A'..=b'Z')
                .chain(b'0'..=b'9')
                .filter(|&c| bit(c) & t.set != 0)
                .collect();
            for _ in 0..n {
                out.push(allowed[rng.below(allowed.len() as u64) as usize] as char);
            }
        }
        out
    }

    /// The text fitted to this pattern with the fewest look-alike fixes, and
    /// which positions were changed; None when it cannot fit.
    pub fn fit(&self, text: &str) -> Option<(String, Vec<usize>)> {
        self.fit_where(text, |_| true)
    }

    /// As [`fit`](Self::fit), changing only the positions `fixable` allows.
    pub fn fit_where(
        &self,
        text: &str,
        fixable: impl Fn(usize) -> bool,
    ) -> Option<(String, Vec<usize>)> {
        let t = text.as_bytes();
        // The fix cost of text position `j` in a slot allowing `set`.
        let cost_at = |j: usize, set: u64| fix_cost(t[j], set).filter(|&c| c == 0 || fixable(j));
        // Slots: each token's required copies, then its optional ones.
        let mut slots: Vec<(u64, bool)> = Vec::new();
        for tok in &self.tokens {
            slots.extend((0..tok.min).map(|_| (tok.set, false)));
            slots.extend((tok.min..tok.max).map(|_| (tok.set, true)));
        }
        let (ns, nt) = (slots.len(), t.len());
        if nt > ns {
            return None;
        }
        // cost[s][j]: fewest fixes to fit t[j..] into slots[s..].
        const NO: u32 = u32::MAX;
        let mut cost = vec![NO; (ns + 1) * (nt + 1)];
        let at = |s: usize, j: usize| s * (nt + 1) + j;
        cost[at(ns, nt)] = 0;
        for s in (0..ns).rev() {
            let (set, optional) = slots[s];
            for j in (0..=nt).rev() {
                let mut best = if optional { cost[at(s + 1, j)] } else { NO };
                if j < nt
                    && let Some(c) = cost_at(j, set)
                {
                    let rest = cost[at(s + 1, j + 1)];
                    if rest != NO {
                        best = best.min(rest + c);
                    }
                }
                cost[at(s, j)] = best;
            }
        }
        if cost[at(0, 0)] == NO {
            return None;
        }
        let mut out = Vec::with_capacity(nt);
        let mut fixed = Vec::new();
        let (mut s, mut j) = (0, 0);
        while j < nt {
            let (set, optional) = slots[s];
            let here = cost[at(s, j)];
            if let Some(c) = cost_at(j, set)
                && cost[at(s + 1, j + 1)] != NO
                && cost[at(s + 1, j + 1)] + c == here
            {
                if c == 0 {
                    out.push(t[j]);
                } else {
                    out.push(replacement(t[j], set));
                    fixed.push(j);
                }
                j += 1;
            } else {
                debug_assert!(optional);
            }
            s += 1;
        }
        Some((String::from_utf8(out).ok()?, fixed))
    }
}

fn bit_of(c: char) -> u64 {
    if c.is_ascii() { bit(c as u8) } else { 0 }
}

/// 0 when `c` is allowed, 1 when a look-alike of it is, None otherwise.
fn fix_cost(c: u8, set: u64) -> Option<u32> {
    if bit(c) & set != 0 {
        Some(0)
    } else if look_alikes(c).iter().any(|&k| bit(k) & set != 0) {
        Some(1)
    } else {
        None
    }
}

fn look_alikes(c: u8) -> &'static [u8] {
    LOOK_ALIKES
        .iter()
        .find(|(k, _)| *k == c)
        .map(|(_, v)| *v)
        .unwrap_or(&[])
}

/// Whether `a` and `b` are the same character or a letter and a digit an
/// engine confuses (see [`LOOK_ALIKES`]).
pub(crate) fn look_alike(a: char, b: char) -> bool {
    let confused = |x: char, y: char| x.is_ascii() && look_alikes(x as u8).contains(&(y as u8));
    a == b || confused(a, b) || confused(b, a)
}

fn replacement(c: u8, set: u64) -> u8 {
    look_alikes(c)
        .iter()
        .copied()
        .find(|&k| bit(k) & set != 0)
        .unwrap_or(c)
}

/// What to do with a read that fits no enabled pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    /// Keep it, without a format.
    Flag,
    /// Drop it.
    Reject,
}

/// The outcome of applying the rules to one read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The text after fixes (unchanged when no pattern fits).
    pub text: String,
    /// The name of the pattern it fits; None when it fits none.
    pub format: Option<String>,
    /// Positions changed by look-alike fixes.
    pub fixed: Vec<usize>,
}

/// A side band (a flag with GB or UK, or the EU's stars over a country
/// code) is part of the plate, left of the registration, and the reader now
/// and then reads its lettering as one more character (`BHP19LZX` for
/// `HP19LZX`). So a read that fits no enabled format, but does without its
/// first character, drops that character when it stands in this leftmost
/// share of a one-line plate. The reader places characters by its 32
/// columns, a little left of their middles: a band's lettering at 0.11–0.14,
/// a registration's first character mostly at 0.11–0.20.
const SIDE_BAND: f32 = 0.15;

/// The enabled patterns and the policy for reads that fit none.
#[derive(Clone, Debug)]
pub struct PlateRules {
    patterns: Vec<Pattern>,
    unmatched: Unmatched,
    max_fixes: usize,
    fix_below: f32,
}

impl PlateRules {
    /// `formats` names built-in formats (`uk` for all UK ones, or one such as
    /// `uk-current`); `custom` adds (name, pattern) pairs after them.
    pub fn new(
        formats: &[String],
        custom: &[(String, String)],
        unmatched: Unmatched,
        max_fixes: usize,
    ) -> Result<PlateRules, String> {
        let mut patterns = Vec::new();
        for f in formats {
            let chosen: Vec<_> = UK_FORMATS
                .iter()
                .filter(|(n, _)| f == "uk" || n == f)
                .collect();
            if chosen.is_empty() {
                return Err(format!(
                    "unknown format {f:?}; expected uk or one of {}",
                    builtin_names().join(", ")
                ));
            }
            for (n, p) in chosen {
                let pat = Pattern::parse(n, p).map_err(|e| format!("{n}: {e}"))?;
                patterns.push(pat);
            }
        }
        for (n, p) in custom {
            patterns.push(Pattern::parse(n, p).map_err(|e| format!("{n}: {e}"))?);
        }
        Ok(PlateRules {
            patterns,
            unmatched,
            max_fixes,
            fix_below: DEFAULT_FIX_BELOW,
        })
    }

    /// All UK formats, flagging reads that fit none.
    pub fn uk() -> PlateRules {
        PlateRules::new(&["uk".into()], &[], Unmatched::Flag, DEFAULT_MAX_FIXES)
            .expect("the built-in UK formats parse")
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Fixes only characters the engine was less sure of than this (see
    /// [`DEFAULT_FIX_BELOW`]); 1 or more fixes any.
    pub fn with_fix_below(mut self, confidence: f32) -> PlateRules {
        self.fix_below = confidence;
        self
    }

    /// The best fit over the enabled patterns, any character fixable: fewest
    /// fixes, then the earlier pattern.
    pub fn judge(&self, text: &str) -> Verdict {
        self.judge_where(text, |_| true)
    }

    /// Whether `text` fits an enabled format as read, the letter O and the
    /// digit 0 counting as one character (on UK plates they are one shape,
    /// drawn a little narrower as a digit). Unlike [`Self::judge`], no other
    /// look-alike is swapped: an engine weighing its readings of a plate (see
    /// [`Recogniser::prefer_formats`]) would otherwise bend a foreign plate's
    /// reading into a local mark.
    pub fn fits_as_read(&self, text: &str) -> bool {
        let o_or_zero = |j: usize| matches!(text.as_bytes().get(j), Some(b'O' | b'0'));
        self.judge_where(text, o_or_zero).format.is_some()
    }

    /// The best fit for an engine's read: only characters it was less sure of
    /// than the `fix_below` confidence are fixed (a position without a
    /// confidence is fixable).
    pub fn judge_read(&self, text: &str, char_confidence: &[f32]) -> Verdict {
        self.judge_where(text, |j| {
            self.fix_below >= 1.0 || char_confidence.get(j).is_none_or(|&c| c < self.fix_below)
        })
    }

    fn judge_where(&self, text: &str, fixable: impl Fn(usize) -> bool) -> Verdict {
        let best = self
            .patterns
            .iter()
            .filter_map(|p| p.fit_where(text, &fixable).map(|(t, fixed)| (p, t, fixed)))
            .filter(|(_, _, fixed)| fixed.len() <= self.max_fixes)
            .min_by_key(|(_, _, fixed)| fixed.len());
        match best {
            Some((p, t, fixed)) => Verdict {
                text: t,
                format: Some(p.name.clone()),
                fixed,
            },
            None => Verdict {
                text: text.to_owned(),
                format: None,
                fixed: Vec::new(),
            },
        }
    }

    /// The verdict on `plate`'s read without its first character, when that
    /// character stands where a side band would ([`SIDE_BAND`]) and the rest
    /// fits an enabled format as read, without a fix.
    fn without_side_band(&self, plate: &PlateCandidate) -> Option<Verdict> {
        if !plate.char_at.first().is_some_and(|&x| x < SIDE_BAND) {
            return None;
        }
        let rest = plate.text.get(1..)?;
        let confidence = plate.char_confidence.get(1..).unwrap_or_default();
        // A remainder that needs a fix to fit is more likely a misread than
        // a registration behind a band.
        Some(self.judge_read(rest, confidence)).filter(|v| v.format.is_some() && v.fixed.is_empty())
    }

    /// Applies the rules to an engine's candidates in place: fixes text,
    /// drops a side band's lettering (`SIDE_BAND`), sets `format`, and
    /// drops unmatched reads when the policy says reject.
    pub fn apply(&self, plates: &mut Vec<PlateCandidate>) {
        for p in plates.iter_mut() {
            let mut v = self.judge_read(&p.text, &p.char_confidence);
            if v.format.is_none()
                && let Some(rest) = self.without_side_band(p)
            {
                // An engine's lists are as long as its text; a hand-built
                // candidate's may not be.
                for list in [&mut p.char_confidence, &mut p.char_at] {
                    if !list.is_empty() {
                        list.remove(0);
                    }
                }
                v = rest;
            }
            p.text = v.text;
            p.format = v.format;
        }
        if self.unmatched == Unmatched::Reject {
            plates.retain(|p| p.format.is_some());
        }
    }
}

/// Names accepted in `recognise.formats`.
pub fn builtin_names() -> Vec<&'static str> {
    std::iter::once("uk")
        .chain(UK_FORMATS.iter().map(|(n, _)| *n))
        .collect()
}

/// An engine with the plate rules applied to everything it reads.
pub struct RuledRecogniser {
    engine: Box<dyn Recogniser>,
    rules: PlateRules,
}

impl RuledRecogniser {
    /// `engine` learns the formats too (see [`Recogniser::prefer_formats`]).
    pub fn new(mut engine: Box<dyn Recogniser>, rules: PlateRules) -> RuledRecogniser {
        engine.prefer_formats(&rules);
        RuledRecogniser { engine, rules }
    }
}

impl Recogniser for RuledRecogniser {
    fn recognise(&mut self, frame: &Frame) -> Vec<PlateCandidate> {
        let mut plates = self.engine.recognise(frame);
        self.rules.apply(&mut plates);
        plates
    }

    fn recognise_in(&mut self, frame: &Frame, region: [u32; 4]) -> Vec<PlateCandidate> {
        let mut plates = self.engine.recognise_in(frame, region);
        self.rules.apply(&mut plates);
        plates
    }

    fn recognise_still(&mut self, frame: &Frame) -> Vec<PlateCandidate> {
        let mut plates = self.engine.recognise_still(frame);
        self.rules.apply(&mut plates);
        plates
    }
}

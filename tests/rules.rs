//! Plate rules: every UK format, each look-alike fix, custom patterns and the
//! flag / reject policy.

use anprd::recognise::rules::{Pattern, PlateRules, Unmatched};
use anprd::recognise::{PlateCandidate, box_corners};

fn format_of(text: &str) -> Option<String> {
    PlateRules::uk().judge(text).format
}

#[test]
fn every_uk_format_is_recognised_as_itself() {
    let cases = [
        ("AB12CDE", "uk-current"),
        ("YX73ZZZ", "uk-current"),
        ("A123BCD", "uk-prefix"),
        ("P7ABC", "uk-prefix"),
        ("ABC123D", "uk-suffix"),
        ("XYZ9A", "uk-suffix"),
        ("ABZ1234", "uk-ni"),
        ("DZ7", "uk-ni"),
        ("AIZ42", "uk-ni"),
        ("ABC123", "uk-dateless"),
        ("A1", "uk-dateless"),
        ("1234AB", "uk-dateless-reversed"),
        ("9X", "uk-dateless-reversed"),
    ];
    for (text, want) in cases {
        let v = PlateRules::uk().judge(text);
        assert_eq!(v.format.as_deref(), Some(want), "{text}");
        assert_eq!(v.text, text, "{text} must not be changed");
        assert!(v.fixed.is_empty(), "{text}");
    }
}

#[test]
fn letter_sets_of_each_format_are_enforced() {
    // Current format: no I or Q anywhere, no Z in the memory tag.
    assert_ne!(format_of("ZB12CDE").as_deref(), Some("uk-current"));
    let v = PlateRules::uk().judge("AB12CQE");
    assert_eq!(
        (v.text.as_str(), v.fixed.as_slice()),
        ("AB12COE", &[5][..]),
        "Q is read as O"
    );
    assert_ne!(format_of("AB12CIE").as_deref(), Some("uk-current"));
    // Prefix and suffix year letters are never I, O, Q, U or Z.
    assert_ne!(format_of("U123BCD").as_deref(), Some("uk-prefix"));
    assert_ne!(format_of("ABC123Q").as_deref(), Some("uk-suffix"));
    // Serial numbers never start with 0; the current format's age
    // identifier may. (A012BCD still reads as current AO12 BCD, one fix.)
    assert_eq!(format_of("AB02CDE").as_deref(), Some("uk-current"));
    for (read, not) in [
        ("A012BCD", "uk-prefix"),
        ("ABC012D", "uk-suffix"),
        ("ABZ0123", "uk-ni"),
        ("ABC012", "uk-dateless"),
        ("0123AB", "uk-dateless-reversed"),
        ("A0", "uk-dateless"),
    ] {
        assert_ne!(format_of(read).as_deref(), Some(not), "{read}");
    }
    // A leading O is not made a 0 to fit.
    assert_eq!(format_of("ABCO12"), None);
    // Too long for any UK format.
    assert_eq!(format_of("ABCD12345"), None);
    assert_eq!(format_of(""), None);
}

#[test]
fn each_look_alike_is_fixed_where_the_format_pins_the_position() {
    // (read, fixed, position changed)
    let cases = [
        ("AB1OCDE", "AB10CDE", 3), // O → 0 in the age identifier
        ("ABI2CDE", "AB12CDE", 2), // I → 1
        ("ABZ2CDE", "AB22CDE", 2), // Z → 2
        ("AB5SCDE", "AB55CDE", 3), // S → 5
        ("AB1BCDE", "AB18CDE", 3), // B → 8
        ("AB1GCDE", "AB16CDE", 3), // G → 6
        ("ABD2CDE", "AB02CDE", 2), // D → 0
        ("AB12C0E", "AB12COE", 5), // 0 → O
        ("AB125DE", "AB12SDE", 4), // 5 → S
        ("AB128DE", "AB12BDE", 4), // 8 → B
        ("AB126DE", "AB12GDE", 4), // 6 → G
    ];
    for (read, want, pos) in cases {
        let v = PlateRules::uk().judge(read);
        assert_eq!(v.text, want, "{read}");
        assert_eq!(v.fixed, vec![pos], "{read}");
        assert_eq!(v.format.as_deref(), Some("uk-current"), "{read}");
    }
    // Z is not allowed in the memory tag, so 2 → Z cannot make it current.
    assert_ne!(format_of("2B12CDE").as_deref(), Some("uk-current"));
    // Other formats: (read, fixed text, format).
    let others = [
        // Suffix: digits in the middle, a year letter last.
        ("ABCI23D", "ABC123D", "uk-suffix"),
        // Already a valid dateless mark: left alone.
        ("ABC1234", "ABC1234", "uk-dateless"),
        // Prefix: a digit of the serial read as a letter. (A leading 8 would
        // make 8123BCD, a valid dateless mark, so that is left alone.)
        ("A1Z3BCD", "A123BCD", "uk-prefix"),
        // Northern Ireland: Z read as 2 in the code.
        ("AB21234", "ABZ1234", "uk-ni"),
        // Dateless reversed: letters after digits.
        ("12348S", "1234BS", "uk-dateless-reversed"),
    ];
    for (read, text, format) in others {
        let v = PlateRules::uk().judge(read);
        assert_eq!(
            (v.text.as_str(), v.format.as_deref()),
            (text, Some(format)),
            "{read}"
        );
    }
    // T/7 and A/4.
    let v = PlateRules::uk().judge("AB1TCDE");
    assert_eq!(v.text, "AB17CDE");
    let v = PlateRules::uk().judge("AB12C4E");
    assert_eq!(v.text, "AB12CAE");
}

#[test]
fn an_exact_fit_beats_a_fixed_one() {
    // Fits uk-ni exactly, and uk-current only with fixes.
    let v = PlateRules::uk().judge("ABZ1234");
    assert_eq!(v.format.as_deref(), Some("uk-ni"));
    assert!(v.fixed.is_empty());
}

#[test]
fn too_many_fixes_is_a_different_plate() {
    let rules = PlateRules::new(&["uk-current".into()], &[], Unmatched::Flag, 2).unwrap();
    assert_eq!(rules.judge("AB1OCD8").text, "AB10CDB");
    let v = rules.judge("A81OCD8"); // three fixes needed
    assert_eq!(v.format, None);
    assert_eq!(v.text, "A81OCD8", "an unmatched read keeps its text");
    let strict = PlateRules::new(&["uk-current".into()], &[], Unmatched::Flag, 0).unwrap();
    assert_eq!(strict.judge("AB1OCDE").format, None);
}

fn cand(text: &str) -> PlateCandidate {
    PlateCandidate {
        text: text.into(),
        confidence: 0.9,
        char_confidence: vec![0.9; text.len()],
        char_at: Vec::new(),
        plate_box: [0, 0, 100, 20],
        corners: box_corners([0, 0, 100, 20]),
        format: None,
    }
}

#[test]
fn unmatched_reads_are_flagged_or_rejected_by_policy() {
    let mut plates = vec![cand("AB1OCDE"), cand("WXYZWXYZ")];
    PlateRules::uk().apply(&mut plates);
    assert_eq!(plates.len(), 2);
    assert_eq!(plates[0].text, "AB10CDE");
    assert_eq!(plates[0].format.as_deref(), Some("uk-current"));
    assert_eq!(plates[1].format, None, "flagged");

    let reject = PlateRules::new(&["uk".into()], &[], Unmatched::Reject, 2).unwrap();
    let mut plates = vec![cand("AB1OCDE"), cand("WXYZWXYZ")];
    reject.apply(&mut plates);
    assert_eq!(plates.len(), 1);
    assert_eq!(plates[0].text, "AB10CDE");
}

/// A candidate whose characters the engine read with `confidence` each.
fn read_as(text: &str, confidence: &[f32]) -> PlateCandidate {
    PlateCandidate {
        char_confidence: confidence.to_vec(),
        ..cand(text)
    }
}

#[test]
fn only_characters_read_unsurely_are_fixed() {
    // A French mark (AB-125-CD) read surely keeps its 5, fits no UK format
    // and is flagged, instead of becoming the UK mark AB12 SCD.
    let sure = [1.0; 7];
    let mut plates = vec![read_as("AB125CD", &sure)];
    PlateRules::uk().apply(&mut plates);
    assert_eq!(plates[0].text, "AB125CD");
    assert_eq!(plates[0].format, None);

    // The same characters with the 5 read doubtfully: a misread S.
    let mut unsure = sure;
    unsure[4] = 0.6;
    let mut plates = vec![read_as("AB125CD", &unsure)];
    PlateRules::uk().apply(&mut plates);
    assert_eq!(plates[0].text, "AB12SCD");
    assert_eq!(plates[0].format.as_deref(), Some("uk-current"));

    // Only the unsure position may change: a sure O in the digits stays
    // and the read fits nothing; an unsure one there is fixed.
    let mut conf = [1.0; 7];
    conf[4] = 0.6;
    let mut plates = vec![read_as("AB1O5CD", &conf)];
    PlateRules::uk().apply(&mut plates);
    assert_eq!(
        (plates[0].text.as_str(), plates[0].format.as_deref()),
        ("AB1O5CD", None)
    );
    conf[3] = 0.7;
    let mut plates = vec![read_as("AB1O5CD", &conf)];
    PlateRules::uk().apply(&mut plates);
    assert_eq!(plates[0].text, "AB10SCD");

    // The threshold is exclusive, 1 fixes whatever the engine's sureness,
    // and a character without a confidence counts as unsure.
    let at = |t: f32| {
        let mut p = vec![read_as("AB125CD", &[0.8; 7])];
        PlateRules::uk().with_fix_below(t).apply(&mut p);
        p.remove(0).text
    };
    assert_eq!(at(0.8), "AB125CD");
    assert_eq!(at(0.81), "AB12SCD");
    let mut p = vec![read_as("AB125CD", &[1.0; 7])];
    PlateRules::uk().with_fix_below(1.0).apply(&mut p);
    assert_eq!(p[0].text, "AB12SCD");
    let mut p = vec![read_as("AB125CD", &[1.0; 4])];
    PlateRules::uk().apply(&mut p);
    assert_eq!(p[0].text, "AB12SCD");
    // Texts without confidences (judge) are fixed anywhere.
    assert_eq!(PlateRules::uk().judge("AB125CD").text, "AB12SCD");
}

/// A one-line candidate whose characters stand at `at` across the plate.
fn placed(text: &str, at: &[f32]) -> PlateCandidate {
    PlateCandidate {
        char_at: at.to_vec(),
        ..cand(text)
    }
}

/// Evenly spaced characters from `first` across a one-line plate.
fn spaced_from(first: f32, n: usize) -> Vec<f32> {
    (0..n).map(|i| first + i as f32 * 0.1).collect()
}

#[test]
fn a_side_band_read_as_a_leading_character_is_dropped() {
    let apply = |p: PlateCandidate| {
        let mut plates = vec![p];
        PlateRules::uk().apply(&mut plates);
        plates.remove(0)
    };
    // The band's GB read as B, at the plate's left edge: the rest is a
    // current mark, and the band's character leaves every per-character list.
    let mut read = placed("BHP19LZX", &spaced_from(0.11, 8));
    read.char_confidence[1] = 0.5;
    let read = apply(read);
    assert_eq!(
        (read.text.as_str(), read.format.as_deref()),
        ("HP19LZX", Some("uk-current"))
    );
    assert_eq!(read.char_at, spaced_from(0.11, 8)[1..]);
    assert_eq!(read.char_confidence, [0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]);

    // The same text starting further in is not a band: flagged as read.
    let read = apply(placed("BHP19LZX", &spaced_from(0.2, 8)));
    assert_eq!((read.text.as_str(), read.format), ("BHP19LZX", None));
    // Where positions are unknown (two-line plates, the classic engine).
    let read = apply(cand("BHP19LZX"));
    assert_eq!((read.text.as_str(), read.format), ("BHP19LZX", None));
    // A read that fits as it is keeps its first character, although the
    // rest would fit too (B12 ABC is a prefix mark, 12 ABC a dateless one).
    let read = apply(placed("B12ABC", &spaced_from(0.11, 6)));
    assert_eq!(read.text, "B12ABC");
    assert!(read.format.is_some());
    // A hand-built candidate without confidences is judged, not panicked on.
    let bare = PlateCandidate {
        char_confidence: Vec::new(),
        ..placed("BHP19LZX", &spaced_from(0.11, 8))
    };
    assert_eq!(apply(bare).text, "HP19LZX");
    // A remainder that fits only with a fix is a misread, not a band: the
    // read stays flagged rather than becoming another valid-looking mark.
    let mut unsure = placed("BHP19LZ5", &spaced_from(0.11, 8));
    unsure.char_confidence[7] = 0.5;
    let read = apply(unsure);
    assert_eq!((read.text.as_str(), read.format), ("BHP19LZ5", None));
}

#[test]
fn custom_country_patterns_are_data() {
    let custom = vec![
        ("nl-6".to_string(), "LL DD LL".to_string()),
        ("de".to_string(), "L{1,3} L{1,2} D{1,4}".to_string()),
    ];
    let rules = PlateRules::new(&[], &custom, Unmatched::Reject, 2).unwrap();
    assert_eq!(rules.judge("XD12AB").format.as_deref(), Some("nl-6"));
    assert_eq!(rules.judge("XD1ZAB").text, "XD12AB");
    assert_eq!(rules.judge("BMW1234").format.as_deref(), Some("de"));
    assert_eq!(
        rules.judge("AB12CDE").format,
        None,
        "UK formats not enabled"
    );
    let only_current = PlateRules::new(&["uk-current".into()], &[], Unmatched::Flag, 2).unwrap();
    assert_eq!(only_current.patterns().len(), 1);
    assert_eq!(only_current.judge("A123BCD").format, None);
}

#[test]
fn pattern_syntax_errors_say_where() {
    let bad = [
        ("LL DD Q", 7, "unexpected `Q`"),
        ("[AB", 1, "unclosed `[`"),
        ("[Z-A]", 2, "bad range"),
        ("[]", 1, "empty set"),
        ("L{3", 2, "unclosed `{`"),
        ("L{4,2}", 2, "bad repeat"),
        ("L{0}", 2, "bad repeat"),
        ("", 1, "matches nothing"),
        ("[a]", 2, "not A–Z or 0–9"),
    ];
    for (src, at, why) in bad {
        let e = Pattern::parse("t", src).expect_err(src);
        assert_eq!(e.offset + 1, at, "{src}: {e}");
        assert!(e.to_string().contains(why), "{src}: {e}");
    }
    let p = Pattern::parse("t", "[A-C0-2]? X{2,3}").unwrap();
    assert!(p.fit("B1Z").is_some());
    assert!(p.fit("Z").is_none());
    assert!(p.fit("AXYZ").is_some());
    assert!(p.fit("AXYZW").is_none());
}

#[test]
fn unknown_builtin_format_is_an_error() {
    let e = PlateRules::new(&["fr".into()], &[], Unmatched::Flag, 2).unwrap_err();
    assert!(e.contains("unknown format \"fr\""), "{e}");
}

const BASE: &str = r#"
[gateway]
id = "gw-3f9a2c"

[[camera]]
id = "cam-01"
source = "rtsp://10.0.0.5/stream1"

[mqtt]
url = "mqtt://127.0.0.1:1883"
allow_insecure = true
"#;

fn parse(extra: &str) -> Result<anprd::config::Config, String> {
    let text = format!("{BASE}{extra}");
    anprd::config::Config::parse(&text, std::path::Path::new("/etc/anprd/anprd.toml"))
        .map_err(|e| e.to_string())
}

#[test]
fn config_rules_are_checked_with_located_errors() {
    let c = parse("").unwrap();
    assert_eq!(
        c.recognise.rules().unwrap().patterns().len(),
        6,
        "all UK formats by default"
    );

    let c = parse(
        "[recognise]\nformats = [\"uk-current\"]\nunmatched = \"reject\"\n\
         [[recognise.pattern]]\nname = \"nl-6\"\npattern = \"LL DD LL\"\n",
    )
    .unwrap();
    let rules = c.recognise.rules().unwrap();
    assert_eq!(rules.patterns().len(), 2);
    let mut plates = vec![cand("XD12AB"), cand("A123BCD")];
    rules.apply(&mut plates);
    assert_eq!(
        plates.len(),
        1,
        "the prefix format is not enabled and reject drops it"
    );

    let e = parse("[recognise]\n[[recognise.pattern]]\nname = \"x\"\npattern = \"LL?Q\"\n")
        .unwrap_err();
    assert!(e.starts_with("/etc/anprd/anprd.toml:15:11:"), "{e}");
    assert!(
        e.contains("recognise.pattern[0].pattern: at character 4: unexpected `Q`"),
        "{e}"
    );

    let e = parse("[recognise]\nformats = [\"uk\", \"mars\"]\n").unwrap_err();
    assert!(
        e.contains("recognise.formats[1]: unknown format \"mars\""),
        "{e}"
    );

    let c = parse("[recognise]\nfix_below = 0.5\n").unwrap();
    let mut plates = vec![read_as("AB125CD", &[0.8; 7])];
    c.recognise.rules().unwrap().apply(&mut plates);
    assert_eq!(plates[0].text, "AB125CD", "fix_below reaches the rules");
    let e = parse("[recognise]\nfix_below = 1.5\n").unwrap_err();
    assert!(
        e.contains("recognise.fix_below: must be between 0 and 1, not 1.5"),
        "{e}"
    );

    let e = parse("[recognise]\nunmatched = \"ignore\"\n").unwrap_err();
    assert!(e.contains("recognise.unmatched"), "{e}");
}

#[test]
fn sampled_marks_fit_their_own_format() {
    let rules = PlateRules::uk();
    let mut rng = anprd::plate::SplitMix64::new(3);
    for p in rules.patterns() {
        for _ in 0..200 {
            let t = p.sample(&mut rng);
            let (fitted, fixed) = p.fit(&t).expect(&t);
            assert_eq!(
                (fitted.as_str(), fixed.len()),
                (t.as_str(), 0),
                "{}",
                p.name
            );
        }
    }
}

#[test]
fn a_reading_fits_as_read_with_only_o_and_zero_as_one() {
    let uk = PlateRules::uk();
    assert!(uk.fits_as_read("HEC706M"));
    assert!(uk.fits_as_read("J9O"), "O read for a 0");
    assert!(uk.fits_as_read("AB12CDE"));
    assert!(uk.fits_as_read("DO80PKZ"));
    assert!(uk.fits_as_read("D080PKZ"), "0 read for an O");
    // The rules would fix these (T→7, 5→S, 8→B), but a reading that needs
    // it does not fit as read.
    for text in ["HECTO6M", "GE765AM", "NY008PW", "JQD"] {
        assert!(!uk.fits_as_read(text), "{text}");
    }
    assert!(uk.judge("HECTO6M").format.is_some());
    assert!(uk.judge("GE765AM").format.is_some());
}

/// An engine that records the formats it is handed.
struct Recording(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl anprd::recognise::Recogniser for Recording {
    fn recognise(&mut self, _frame: &anprd::capture::Frame) -> Vec<PlateCandidate> {
        Vec::new()
    }

    fn prefer_formats(&mut self, rules: &PlateRules) {
        let names = rules.patterns().iter().map(|p| p.name.clone());
        self.0.lock().unwrap().extend(names);
    }
}

#[test]
fn a_ruled_engine_is_told_the_formats() {
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let _ruled = anprd::recognise::rules::RuledRecogniser::new(
        Box::new(Recording(told.clone())),
        PlateRules::uk(),
    );
    let told = told.lock().unwrap();
    assert_eq!(told.len(), 6, "{told:?}");
    assert!(told.iter().any(|n| n == "uk-current"));
}

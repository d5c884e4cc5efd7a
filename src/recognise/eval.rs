//! `anprd eval DIR…`: accuracy of the engine on labelled images.
//!
//! Labels use the OpenALPR benchmark format: beside each image a `NAME.txt`
//! with one line per plate, `file<TAB>x<TAB>y<TAB>w<TAB>h<TAB>TEXT`.
//!
//! A labelled plate is *detected* when a read's box overlaps its box with
//! IoU ≥ 0.5; recall is also given with the looser rule "the read's centre
//! lies inside the labelled box", because engines size boxes differently
//! (the classic engine derives them from UK plate proportions). The read
//! judged for a plate is the most confident one whose centre lies in its box.
//! Texts compare upper case, letters and digits only, with O and 0 equal.
//! With `--misses` every labelled plate not read exactly is also listed,
//! one tab-separated line each, for looking at what goes wrong.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::image_file;
use super::{PlateCandidate, Recogniser};

/// One labelled plate.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub image: PathBuf,
    pub plate_box: [u32; 4],
    pub text: String,
}

/// Reads every `*.txt` label file in `dir`, grouped by image, sorted.
pub fn read_labels(dir: &Path) -> Result<Vec<(PathBuf, Vec<Label>)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt") && p.is_file())
        .collect();
    files.sort();
    let mut by_image: std::collections::BTreeMap<PathBuf, Vec<Label>> = Default::default();
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("{}: cannot read", f.display()))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let label =
                parse_line(dir, line).with_context(|| format!("{}:{}", f.display(), n + 1))?;
            by_image.entry(label.image.clone()).or_default().push(label);
        }
    }
    Ok(by_image.into_iter().collect())
}

/// `file x y w h TEXT`, tab (or space) separated; TEXT may hold spaces.
pub fn parse_line(dir: &Path, line: &str) -> Result<Label> {
    let fields: Vec<&str> = line.split(['\t', ' ']).filter(|s| !s.is_empty()).collect();
    if fields.len() < 6 {
        bail!(
            "expected `file x y w h TEXT`, found {} fields",
            fields.len()
        );
    }
    let mut b = [0i64; 4];
    for (k, v) in b.iter_mut().zip(&fields[1..5]) {
        *k = v
            .parse()
            .with_context(|| format!("`{v}` is not a pixel coordinate"))?;
    }
    // Some labels start a pixel outside the image: clip to it.
    let [x, y, w, h] = b;
    let (x0, y0) = (x.max(0), y.max(0));
    let end = |start: i64, len: i64| start.checked_add(len).context("box too large");
    let (x1, y1) = (end(x, w)?.max(x0), end(y, h)?.max(y0));
    // The box's far edges must be pixel coordinates too.
    let clip = |v: i64| u32::try_from(v).context("box too large");
    clip(x1)?;
    clip(y1)?;
    Ok(Label {
        image: dir.join(fields[0]),
        plate_box: [clip(x0)?, clip(y0)?, clip(x1 - x0)?, clip(y1 - y0)?],
        text: fields[5..].concat(),
    })
}

/// Upper case, letters and digits only, O as 0.
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            c => c,
        })
        .collect()
}

/// Intersection over union of two x, y, w, h boxes (any u32 values: the
/// sums are taken in u64).
pub fn iou(a: &[u32; 4], b: &[u32; 4]) -> f32 {
    let [a, b] = [a, b].map(|r| r.map(u64::from));
    let (ax1, ay1) = (a[0] + a[2], a[1] + a[3]);
    let (bx1, by1) = (b[0] + b[2], b[1] + b[3]);
    let iw = ax1.min(bx1).saturating_sub(a[0].max(b[0])) as f64;
    let ih = ay1.min(by1).saturating_sub(a[1].max(b[1])) as f64;
    let inter = iw * ih;
    let union = (a[2] * a[3] + b[2] * b[3]) as f64 - inter;
    if union > 0.0 {
        (inter / union) as f32
    } else {
        0.0
    }
}

fn centre_in(p: &[u32; 4], b: &[u32; 4]) -> bool {
    let [p, b] = [p, b].map(|r| r.map(u64::from));
    let (cx, cy) = (p[0] + p[2] / 2, p[1] + p[3] / 2);
    (b[0]..=b[0] + b[2]).contains(&cx) && (b[1]..=b[1] + b[3]).contains(&cy)
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A labelled plate that was not read exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Miss {
    pub image: PathBuf,
    pub truth: String,
    /// The read judged for it (text as read, confidence); None when no read
    /// lay on the plate.
    pub read: Option<(String, f32)>,
}

impl std::fmt::Display for Miss {
    /// `miss<TAB>IMAGE<TAB>TRUTH<TAB>READ<TAB>CONFIDENCE`, `-` for no read.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (text, confidence) = match &self.read {
            Some((t, c)) => (t.as_str(), format!("{c:.3}")),
            None => ("-", "-".into()),
        };
        write!(
            f,
            "miss\t{}\t{}\t{text}\t{confidence}",
            self.image.display(),
            self.truth
        )
    }
}

/// Running totals for one set of images.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Score {
    /// Reads at least this confident are the ones the daemon keeps
    /// (recognise.min_confidence); the `kept_` totals count only those.
    pub kept_from: f32,
    pub images: usize,
    pub plates: usize,
    pub found_iou: usize,
    pub found_centre: usize,
    pub exact: usize,
    pub chars: usize,
    pub chars_right: usize,
    /// Reads whose box holds no labelled plate's centre.
    pub false_reads: usize,
    pub kept_exact: usize,
    pub kept_false_reads: usize,
    pub ms: Vec<f64>,
}

impl Score {
    /// An empty score that also counts what the daemon would keep.
    pub fn keeping_from(min_confidence: f32) -> Score {
        Score {
            kept_from: min_confidence,
            ..Score::default()
        }
    }

    /// Adds one image's labels and reads; returns the plates not read exactly.
    pub fn add(&mut self, labels: &[Label], reads: &[PlateCandidate], ms: f64) -> Vec<Miss> {
        let mut misses = Vec::new();
        self.images += 1;
        self.ms.push(ms);
        for l in labels {
            let truth = normalise(&l.text);
            self.plates += 1;
            self.chars += truth.chars().count();
            if reads.iter().any(|r| iou(&r.plate_box, &l.plate_box) >= 0.5) {
                self.found_iou += 1;
            }
            let read = reads
                .iter()
                .filter(|r| centre_in(&r.plate_box, &l.plate_box))
                .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
            let mut exact = false;
            if let Some(r) = read {
                self.found_centre += 1;
                let got = normalise(&r.text);
                exact = got == truth;
                self.exact += usize::from(exact);
                self.kept_exact += usize::from(exact && r.confidence >= self.kept_from);
                let n = truth.chars().count();
                self.chars_right += n.saturating_sub(edit_distance(&got, &truth));
            }
            if !exact {
                misses.push(Miss {
                    image: l.image.clone(),
                    truth: l.text.clone(),
                    read: read.map(|r| (r.text.clone(), r.confidence)),
                });
            }
        }
        let false_reads = || {
            reads
                .iter()
                .filter(|r| !labels.iter().any(|l| centre_in(&r.plate_box, &l.plate_box)))
        };
        self.false_reads += false_reads().count();
        self.kept_false_reads += false_reads()
            .filter(|r| r.confidence >= self.kept_from)
            .count();
        misses
    }

    fn merge(&mut self, o: &Score) {
        self.images += o.images;
        self.plates += o.plates;
        self.found_iou += o.found_iou;
        self.found_centre += o.found_centre;
        self.exact += o.exact;
        self.chars += o.chars;
        self.chars_right += o.chars_right;
        self.false_reads += o.false_reads;
        self.kept_exact += o.kept_exact;
        self.kept_false_reads += o.kept_false_reads;
        self.ms.extend(&o.ms);
    }

    /// One summary line.
    pub fn summary(&self, name: &str) -> String {
        let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        let mut ms = self.ms.clone();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| {
            ms.get(((ms.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
        format!(
            "{name}: {} images, {} plates | exact {:.1}% ({}) | detected IoU≥0.5 {:.1}%, centre-in-box {:.1}% | chars {:.1}% | false reads {} | kept (confidence ≥ {:.2}): exact {:.1}%, false reads {} | ms/image mean {mean:.1} median {:.1} p90 {:.1}",
            self.images,
            self.plates,
            pct(self.exact, self.plates),
            self.exact,
            pct(self.found_iou, self.plates),
            pct(self.found_centre, self.plates),
            pct(self.chars_right, self.chars),
            self.false_reads,
            self.kept_from,
            pct(self.kept_exact, self.plates),
            self.kept_false_reads,
            at(0.5),
            at(0.9),
        )
    }
}

/// Scores `engine` on each labelled directory, reading each image as a
/// `still` picture ([`Recogniser::recognise_still`]) or as a video frame;
/// prints one line per directory and, for several, the total; with
/// `misses`, first a line for each plate not read exactly ([`Miss`]).
pub fn run_dirs(
    engine: &mut dyn Recogniser,
    dirs: &[PathBuf],
    kept_from: f32,
    still: bool,
    misses: bool,
) -> Result<Vec<Score>> {
    let mut sets = Vec::new();
    for d in dirs {
        let images = read_labels(d)?;
        if images.is_empty() {
            bail!("{}: no label files (NAME.txt) found", d.display());
        }
        sets.push((d, images));
    }
    let total_images: usize = sets.iter().map(|(_, i)| i.len()).sum();
    let mut done = 0;
    let mut scores = Vec::new();
    for (dir, images) in sets {
        let mut score = Score::keeping_from(kept_from);
        for (image, labels) in images {
            done += 1;
            progress(done, total_images);
            let frame = image_file::load_luma(&image)?;
            let t = Instant::now();
            let reads = if still {
                engine.recognise_still(&frame)
            } else {
                engine.recognise(&frame)
            };
            let missed = score.add(&labels, &reads, t.elapsed().as_secs_f64() * 1e3);
            if misses && !missed.is_empty() {
                progress_clear();
                missed.iter().for_each(|m| println!("{m}"));
            }
        }
        progress_clear();
        println!("{}", score.summary(&dir.display().to_string()));
        scores.push(score);
    }
    if scores.len() > 1 {
        let mut all = Score::keeping_from(kept_from);
        scores.iter().for_each(|s| all.merge(s));
        println!("{}", all.summary("total"));
    }
    Ok(scores)
}

/// A bar on stderr when it is a terminal (logs and pipes get none).
fn progress(done: usize, total: usize) {
    use std::io::IsTerminal;
    const WIDTH: usize = 30;
    let mut err = std::io::stderr().lock();
    if !err.is_terminal() {
        return;
    }
    let filled = WIDTH * done / total.max(1);
    let _ = write!(
        err,
        "\r[{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
    let _ = err.flush();
}

fn progress_clear() {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}

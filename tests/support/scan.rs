//! Searching bytes for marker strings: in files, messages, images.

use std::path::{Path, PathBuf};

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

/// How many times `needle` occurs in `haystack`.
pub fn count(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

/// The needles found in `haystack`.
pub fn found<'a>(haystack: &[u8], needles: &[&'a str]) -> Vec<&'a str> {
    needles
        .iter()
        .copied()
        .filter(|n| count(haystack, n) > 0)
        .collect()
}

/// Occurrences of every needle in every file under `dir`.
pub fn count_in_files(dir: &Path, needles: &[String]) -> usize {
    files_under(dir)
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).unwrap();
            needles.iter().map(|n| count(&bytes, n)).sum::<usize>()
        })
        .sum()
}

//! Connected components (8-connected) of a run-length encoded mask.

/// A component's bounds (exclusive ends) and pixel count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Comp {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
    pub area: u32,
}

impl Comp {
    pub fn width(&self) -> u32 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> u32 {
        self.y1 - self.y0
    }
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[i as usize];
        parent[i as usize] = parent[p as usize];
        i = p;
    }
    i
}

/// Components of ink runs `(y, x_start, x_end_exclusive)`, given in row order
/// and left to right within a row. Runs touching diagonally are joined.
pub(crate) fn label_runs(runs: &[(u32, u32, u32)]) -> Vec<Comp> {
    let n = runs.len();
    let mut parent: Vec<u32> = (0..n as u32).collect();
    // Index range of the previous row's runs and the current row's.
    let (mut prev_start, mut prev_end) = (0usize, 0usize);
    let mut row_start = 0usize;
    let mut i = 0usize;
    while i < n {
        let y = runs[i].0;
        if i == 0 || runs[i - 1].0 != y {
            if i > 0 && runs[i - 1].0 + 1 == y {
                prev_start = row_start;
                prev_end = i;
            } else {
                prev_start = i;
                prev_end = i;
            }
            row_start = i;
        }
        let (_, x0, x1) = runs[i];
        let mut j = prev_start;
        while j < prev_end && runs[j].2 < x0 {
            j += 1;
        }
        // Later runs of this row start further right: skip what is behind.
        prev_start = j;
        let mut k = j;
        while k < prev_end && runs[k].1 <= x1 {
            let a = find(&mut parent, i as u32);
            let b = find(&mut parent, k as u32);
            if a != b {
                parent[a.max(b) as usize] = a.min(b);
            }
            k += 1;
        }
        i += 1;
    }
    let mut slot: Vec<u32> = vec![u32::MAX; n];
    let mut comps: Vec<Comp> = Vec::new();
    for (i, &(y, x0, x1)) in runs.iter().enumerate() {
        let r = find(&mut parent, i as u32) as usize;
        if slot[r] == u32::MAX {
            slot[r] = comps.len() as u32;
            comps.push(Comp {
                x0,
                y0: y,
                x1,
                y1: y + 1,
                area: 0,
            });
        }
        let c = &mut comps[slot[r] as usize];
        c.x0 = c.x0.min(x0);
        c.x1 = c.x1.max(x1);
        c.y1 = c.y1.max(y + 1);
        c.area += x1 - x0;
    }
    comps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs_of(rows: &[&str]) -> Vec<(u32, u32, u32)> {
        let mut out = Vec::new();
        for (y, r) in rows.iter().enumerate() {
            let b = r.as_bytes();
            let mut x = 0;
            while x < b.len() {
                if b[x] == b'#' {
                    let s = x;
                    while x < b.len() && b[x] == b'#' {
                        x += 1;
                    }
                    out.push((y as u32, s as u32, x as u32));
                } else {
                    x += 1;
                }
            }
        }
        out
    }

    #[test]
    fn joins_diagonals_and_separates_islands() {
        let comps = label_runs(&runs_of(&[
            "##...#..#",
            "..#..#..#",
            "...#....#",
            ".........",
            "#####.###",
            "#...#....",
            "#####....",
        ]));
        let mut boxes: Vec<(u32, u32, u32, u32, u32)> = comps
            .iter()
            .map(|c| (c.x0, c.y0, c.x1, c.y1, c.area))
            .collect();
        boxes.sort();
        assert_eq!(
            boxes,
            vec![
                (0, 0, 4, 3, 4),
                (0, 4, 5, 7, 12),
                (5, 0, 6, 2, 2),
                (6, 4, 9, 5, 3),
                (8, 0, 9, 3, 3),
            ]
        );
    }

    #[test]
    fn u_shape_merges_late() {
        let comps = label_runs(&runs_of(&["#...#", "#...#", "#####"]));
        assert_eq!(comps.len(), 1);
        assert_eq!(comps[0].area, 9);
    }
}

//! One plane of a frame's pixels, owned or lent by the source that decoded it.
//!
//! A 1080p frame is 3 MB. Copying every frame out of the decoder's buffer
//! doubles what a camera holds while its frames wait for recognition, and
//! churns the allocator with 3 MB blocks a hundred times a second (the heap
//! then grows in ways it never gives back). So a frame whose planes are laid
//! out the way recognition wants them (rows without padding) keeps a
//! reference to the decoder's buffer instead; the buffer goes back to the
//! decoder's pool when the last plane that lends it is dropped. Planes are
//! read-only while lent: [`Plane::to_mut`] copies one out first (only
//! redaction writes to frames).

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Tightly packed 8-bit samples, row after row.
#[derive(Clone)]
pub struct Plane(Bytes);

#[derive(Clone)]
enum Bytes {
    Owned(Vec<u8>),
    /// `range` of a buffer held by the source (decoded video).
    Lent {
        buffer: Arc<dyn AsRef<[u8]> + Send + Sync>,
        range: Range<usize>,
    },
}

impl Plane {
    /// `range` of `buffer`, without copying. None when the range lies
    /// outside the buffer.
    pub fn lent(buffer: Arc<dyn AsRef<[u8]> + Send + Sync>, range: Range<usize>) -> Option<Plane> {
        let len = (*buffer).as_ref().len();
        (range.start <= range.end && range.end <= len)
            .then_some(Plane(Bytes::Lent { buffer, range }))
    }

    /// The samples, writable: a lent plane is copied out of its buffer first.
    pub fn to_mut(&mut self) -> &mut Vec<u8> {
        if let Bytes::Lent { .. } = self.0 {
            self.0 = Bytes::Owned(self.to_vec());
        }
        match &mut self.0 {
            Bytes::Owned(v) => v,
            Bytes::Lent { .. } => unreachable!("made owned above"),
        }
    }

    /// Whether the samples are still the source's buffer (not a copy).
    pub fn is_lent(&self) -> bool {
        matches!(self.0, Bytes::Lent { .. })
    }
}

impl Deref for Plane {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Bytes::Owned(v) => v,
            Bytes::Lent { buffer, range } => &(**buffer).as_ref()[range.clone()],
        }
    }
}

impl From<Vec<u8>> for Plane {
    fn from(v: Vec<u8>) -> Plane {
        Plane(Bytes::Owned(v))
    }
}

impl FromIterator<u8> for Plane {
    fn from_iter<I: IntoIterator<Item = u8>>(samples: I) -> Plane {
        Plane(Bytes::Owned(samples.into_iter().collect()))
    }
}

impl PartialEq for Plane {
    fn eq(&self, other: &Plane) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Plane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.is_lent() { "lent" } else { "owned" };
        write!(f, "Plane({} bytes, {how})", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lent_plane_reads_its_range_and_copies_before_writing() {
        let buffer: Arc<Vec<u8>> = Arc::new((0..10).collect());
        let mut plane = Plane::lent(buffer.clone(), 2..6).unwrap();
        assert!(plane.is_lent());
        assert_eq!(&*plane, &[2, 3, 4, 5]);
        let copy = plane.clone();
        plane.to_mut()[0] = 99;
        assert!(!plane.is_lent());
        assert_eq!(&*plane, &[99, 3, 4, 5]);
        assert_eq!(
            &*copy,
            &[2, 3, 4, 5],
            "other frames sharing the buffer are untouched"
        );
        assert_eq!(buffer[2], 2, "the source's buffer is never written");
        drop((plane, copy));
        assert_eq!(
            Arc::strong_count(&buffer),
            1,
            "dropping the planes releases the buffer"
        );
    }

    #[test]
    fn a_range_outside_the_buffer_is_refused() {
        let buffer: Arc<Vec<u8>> = Arc::new(vec![0; 4]);
        assert!(Plane::lent(buffer.clone(), 2..5).is_none());
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 3..1;
        assert!(Plane::lent(buffer, backwards).is_none());
    }
}

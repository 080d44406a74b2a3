//! Offsets into a head's bytes (pingora `BufRef`, hyper `HeaderIndices`).

/// A half-open byte range `start..end` into the bytes of one head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte, inclusive.
    pub start: u32,
    /// Last byte, exclusive.
    pub end: u32,
}

/// Name and value of one header field line, packed into 8 bytes (heads are
/// capped at [`crate::limits::MAX_HEAD_BYTES_CAPACITY`]) so the inline array
/// stays small to fill and move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeaderSpan {
    name_start: u16,
    name_len: u16,
    value_start: u16,
    value_len: u16,
}

// === impl HeaderSpan ===

impl HeaderSpan {
    /// Spans of `name` and `value`, which lie inside `base` (at most 64 KiB).
    pub(crate) fn within(base: &[u8], name: &[u8], value: &[u8]) -> Self {
        let (name, value) = (Span::within(base, name), Span::within(base, value));
        Self {
            name_start: name.start as u16,
            name_len: name.len() as u16,
            value_start: value.start as u16,
            value_len: value.len() as u16,
        }
    }

    pub(crate) fn name(self) -> Span {
        Span::from_range(
            usize::from(self.name_start),
            usize::from(self.name_start) + usize::from(self.name_len),
        )
    }

    pub(crate) fn value(self) -> Span {
        Span::from_range(
            usize::from(self.value_start),
            usize::from(self.value_start) + usize::from(self.value_len),
        )
    }
}

// === impl Span ===

impl Span {
    /// The span of `part`, which must lie inside `base` (both borrowed from one
    /// buffer). Computed from addresses, so it needs no search.
    pub(crate) fn within(base: &[u8], part: &[u8]) -> Self {
        let start = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        debug_assert!(start + part.len() <= base.len(), "span outside its buffer");
        Self::from_range(start, start + part.len())
    }

    /// A span from `usize` offsets. Heads are capped far below 4 GiB.
    pub(crate) fn from_range(start: usize, end: usize) -> Self {
        Self {
            start: start as u32,
            end: end as u32,
        }
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    /// True for an empty range.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The span as an owned `Bytes` sharing `head`'s buffer (no copy), e.g.
    /// to keep a Host or target past the head's lifetime.
    pub fn to_bytes(self, head: &bytes::Bytes) -> bytes::Bytes {
        if self.end as usize > head.len() || self.start > self.end {
            return bytes::Bytes::new();
        }
        head.slice(self.start as usize..self.end as usize)
    }

    /// The bytes of this span inside `buf`; empty if it does not fit.
    pub fn slice(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_and_slice_round_trip() {
        let buf = b"GET /a HTTP/1.1";
        let span = Span::within(buf, &buf[4..6]);
        assert_eq!(span, Span { start: 4, end: 6 });
        assert_eq!(span.slice(buf), b"/a");
        assert_eq!(span.len(), 2);
        assert!(!span.is_empty());
    }

    #[test]
    fn to_bytes_shares_the_buffer() {
        let head = bytes::Bytes::from_static(b"GET /a HTTP/1.1");
        let part = Span { start: 4, end: 6 }.to_bytes(&head);
        assert_eq!(&part[..], b"/a");
        assert_eq!(part.as_ptr(), head[4..].as_ptr());
        assert!(Span { start: 4, end: 99 }.to_bytes(&head).is_empty());
    }

    #[test]
    fn out_of_range_slice_is_empty() {
        let span = Span { start: 10, end: 20 };
        assert_eq!(span.slice(b"short"), b"");
        assert!(Span::default().is_empty());
    }
}

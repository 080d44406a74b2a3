//! A server-sent-events reader that takes bytes in any cut and yields
//! whole events, holding at most one event.
//!
//! It follows the WHATWG event-stream rules that matter for model
//! providers: lines end in `\n`, `\r\n` or `\r` (a `\r` ending one feed
//! and a `\n` starting the next are one line ending); `event:` and `data:`
//! fields lose one space after the colon; several `data:` lines are joined
//! with `\n`; lines starting with `:` are comments; an empty line
//! dispatches the event, unless it has no data. `id:`, `retry:` and
//! unknown fields are ignored. An event still open when the body ends is
//! dropped, as the rules say.

/// The default most bytes one event may hold (its name and its data; a
/// line being read counts without its field name): 1 MiB.
pub const MAX_EVENT: usize = 1 << 20;

/// The bytes of a line's longest field name and separator (`event: `),
/// left out when a line is held against the event's limit.
const FIELD_SLACK: usize = 7;

/// One whole event; the slices borrow the reader's buffers until the
/// callback returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event:` field; empty when the event had none.
    pub event: &'a [u8],
    /// The `data:` lines joined with `\n`; never empty.
    pub data: &'a [u8],
}

/// Why a stream cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// An event grew beyond the reader's limit (the limit is given).
    TooLarge(usize),
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SseError::TooLarge(max) => write!(f, "an event is larger than {max} bytes"),
        }
    }
}

impl std::error::Error for SseError {}

/// Reads events out of bytes fed in any cut. Its buffers are reused from
/// event to event, so a steady stream allocates nothing.
#[derive(Debug)]
pub struct SseReader {
    max_event: usize,
    /// The line read so far when a feed ended inside it.
    line: Vec<u8>,
    event: Vec<u8>,
    data: Vec<u8>,
    /// A `data:` field was seen (the next one is joined with `\n`).
    has_data: bool,
    /// The last feed ended with `\r`: a `\n` starting the next is skipped.
    after_cr: bool,
}

impl SseReader {
    /// A reader whose events may hold at most `max_event` bytes.
    pub fn new(max_event: usize) -> Self {
        SseReader {
            max_event,
            line: Vec::new(),
            event: Vec::new(),
            data: Vec::new(),
            has_data: false,
            after_cr: false,
        }
    }

    /// Reads `input`, calling `on_event` for each event it completes. On
    /// an error the event being read is dropped; the caller should stop.
    pub fn push(
        &mut self,
        mut input: &[u8],
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<(), SseError> {
        if self.after_cr && !input.is_empty() {
            self.after_cr = false;
            input = input.strip_prefix(b"\n").unwrap_or(input);
        }
        while let Some(i) = find_line_end(input) {
            let (line, ending, rest) = (&input[..i], input[i], &input[i + 1..]);
            self.complete_line(line, &mut on_event)?;
            input = rest;
            if ending == b'\r' {
                match input.strip_prefix(b"\n") {
                    Some(after) => input = after,
                    None => self.after_cr = input.is_empty(),
                }
            }
        }
        if !input.is_empty() {
            self.line.extend_from_slice(input);
            self.check_line(self.line.len())?;
        }
        Ok(())
    }

    /// Whether part of an event has been read and not yet dispatched.
    pub fn is_mid_event(&self) -> bool {
        !self.line.is_empty() || self.has_data || !self.event.is_empty()
    }

    /// A line ended: `tail` is its part in this feed.
    fn complete_line(
        &mut self,
        tail: &[u8],
        on_event: &mut impl FnMut(Event<'_>),
    ) -> Result<(), SseError> {
        if self.line.is_empty() {
            return self.take_line(tail, on_event);
        }
        self.line.extend_from_slice(tail);
        let line = std::mem::take(&mut self.line);
        let result = self.take_line(&line, on_event);
        self.line = line;
        self.line.clear();
        result
    }

    /// Applies one whole line.
    fn take_line(
        &mut self,
        line: &[u8],
        on_event: &mut impl FnMut(Event<'_>),
    ) -> Result<(), SseError> {
        self.check_line(line.len())?;
        if line.is_empty() {
            if !self.data.is_empty() {
                on_event(Event {
                    event: &self.event,
                    data: &self.data,
                });
            }
            self.reset();
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => (&line[..c], &line[c + 1..]),
            None => (line, &[][..]),
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.has_data = true;
                self.data.extend_from_slice(value);
            }
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            _ => return Ok(()),
        }
        self.check_size()
    }

    /// Fails (dropping the event) when the event has grown too large.
    fn check_size(&mut self) -> Result<(), SseError> {
        if self.event.len() + self.data.len() <= self.max_event {
            return Ok(());
        }
        self.fail()
    }

    /// Fails when a line of `len` bytes (whole or still partial) cannot
    /// fit the event. The field name's bytes are not counted, so a partial
    /// line never fails where the whole line would pass: the error does
    /// not depend on how the stream was cut.
    fn check_line(&mut self, len: usize) -> Result<(), SseError> {
        let held = len.saturating_sub(FIELD_SLACK) + self.event.len() + self.data.len();
        if held <= self.max_event {
            return Ok(());
        }
        self.fail()
    }

    /// Drops the event being read and reports it too large.
    fn fail(&mut self) -> Result<(), SseError> {
        self.reset();
        self.line.clear();
        Err(SseError::TooLarge(self.max_event))
    }

    /// Forgets the event being read (keeping the buffers' memory).
    fn reset(&mut self) {
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }
}

/// The index of the first `\n` or `\r` in `s`, looking at 8 bytes at a
/// time (SWAR: a byte of `w ^ pattern` is zero where `w` has the byte).
fn find_line_end(s: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = ONES << 7;
    const LF: u64 = ONES * b'\n' as u64;
    const CR: u64 = ONES * b'\r' as u64;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let mut start = 0;
    for word in s.chunks_exact(8) {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let w = u64::from_ne_bytes(bytes);
        if has_zero(w ^ LF) || has_zero(w ^ CR) {
            break;
        }
        start += 8;
    }
    let rest = s.get(start..)?;
    rest.iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| start + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `input` in pieces of `piece` bytes: (event, data) pairs.
    fn read(input: &[u8], piece: usize, max: usize) -> Result<Vec<(String, String)>, SseError> {
        let mut reader = SseReader::new(max);
        let mut events = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            reader.push(chunk, |e| {
                events.push((
                    String::from_utf8_lossy(e.event).into_owned(),
                    String::from_utf8_lossy(e.data).into_owned(),
                ))
            })?;
        }
        Ok(events)
    }

    /// Reads `input` whole and in every piece size up to 7: all agree.
    fn events(input: &str) -> Vec<(String, String)> {
        let whole = read(input.as_bytes(), input.len(), MAX_EVENT).unwrap();
        for piece in 1..8 {
            assert_eq!(
                read(input.as_bytes(), piece, MAX_EVENT).unwrap(),
                whole,
                "piece {piece}"
            );
        }
        whole
    }

    fn ev(event: &str, data: &str) -> (String, String) {
        (event.to_owned(), data.to_owned())
    }

    #[test]
    fn find_line_end_agrees_with_a_plain_scan() {
        let mut text: Vec<u8> = (0..=255u8).collect();
        text.extend_from_slice(b"no line end in these thirty bytes");
        for start in 0..text.len() {
            for end in start..text.len().min(start + 40) {
                let s = &text[start..end];
                let plain = s.iter().position(|&b| b == b'\n' || b == b'\r');
                assert_eq!(find_line_end(s), plain, "{start}..{end}");
            }
        }
        let mut long = vec![b'x'; 100];
        for at in 0..100 {
            for end in [b'\n', b'\r'] {
                long[at] = end;
                assert_eq!(find_line_end(&long), Some(at));
                long[at] = 0x8a; // \n with the high bit: not a line end
                assert_eq!(find_line_end(&long), None);
                long[at] = b'x';
            }
        }
    }

    #[test]
    fn line_endings_lf_crlf_cr() {
        let want = vec![ev("", "a"), ev("x", "b"), ev("", "c")];
        assert_eq!(events("data: a\n\nevent: x\ndata: b\n\ndata: c\n\n"), want);
        assert_eq!(
            events("data: a\r\n\r\nevent: x\r\ndata: b\r\n\r\ndata: c\r\n\r\n"),
            want
        );
        assert_eq!(events("data: a\r\revent: x\rdata: b\r\rdata: c\r\r"), want);
        assert_eq!(
            events("data: a\r\n\nevent: x\rdata: b\n\r\ndata: c\r\r\n"),
            want
        );
    }

    #[test]
    fn cr_at_end_of_feed_then_lf_is_one_ending() {
        let mut reader = SseReader::new(MAX_EVENT);
        let mut got = Vec::new();
        for part in [&b"data: a\r"[..], b"\n", b"data: b\r", b"\n\r", b"\n"] {
            reader
                .push(part, |e| {
                    got.push(String::from_utf8_lossy(e.data).into_owned())
                })
                .unwrap();
        }
        assert_eq!(got, vec!["a\nb".to_owned()]);
        // An empty feed between the \r and the \n changes nothing.
        let mut reader = SseReader::new(MAX_EVENT);
        let mut got = Vec::new();
        for part in [&b"data: a\r"[..], b"", b"\n", b"\r", b"", b"\n"] {
            reader
                .push(part, |e| {
                    got.push(String::from_utf8_lossy(e.data).into_owned())
                })
                .unwrap();
        }
        assert_eq!(got, vec!["a".to_owned()]);
    }

    #[test]
    fn comments_and_other_fields_are_ignored() {
        let input = ": keep-alive\n\n:\ndata: a\n: inside\nid: 7\nretry: 10\nfoo\n\n";
        assert_eq!(events(input), vec![ev("", "a")]);
    }

    #[test]
    fn multi_line_data_is_joined_and_one_space_removed() {
        let input = "data: {\ndata:  \"k\": 1\ndata:}\n\n";
        assert_eq!(events(input), vec![ev("", "{\n \"k\": 1\n}")]);
        assert_eq!(events("data:x:y\n\n"), vec![ev("", "x:y")]);
    }

    #[test]
    fn events_without_data_are_skipped_and_names_do_not_leak() {
        let input = "event: ping\n\nevent: a\ndata: 1\n\ndata: 2\n\nevent: b\ndata\n\n";
        assert_eq!(events(input), vec![ev("a", "1"), ev("", "2")]);
    }

    #[test]
    fn an_open_event_is_held_until_its_blank_line() {
        let mut reader = SseReader::new(MAX_EVENT);
        let mut n = 0;
        reader.push(b"data: a\n", |_| n += 1).unwrap();
        assert!(reader.is_mid_event());
        assert_eq!(n, 0);
        reader.push(b"\n", |_| n += 1).unwrap();
        assert_eq!(n, 1);
        assert!(!reader.is_mid_event());
    }

    #[test]
    fn size_limit() {
        // 10 bytes of data fit a 10-byte limit, 11 do not.
        assert_eq!(
            read(b"data: 0123456789\n\n", 3, 10).unwrap(),
            vec![ev("", "0123456789")]
        );
        assert_eq!(
            read(b"data: 0123456789a\n\n", 3, 10),
            Err(SseError::TooLarge(10))
        );
        // Joined lines count together; so does a long partial line.
        assert_eq!(
            read(b"data: 012345\ndata: 6789\n\n", 1, 10),
            Err(SseError::TooLarge(10))
        );
        assert_eq!(read(&[b'x'; 64], 64, 10), Err(SseError::TooLarge(10)));
        // Many small events never add up.
        let many = "data: 0123456789\n\n".repeat(100);
        assert_eq!(read(many.as_bytes(), 7, 10).unwrap().len(), 100);
        // So do comments.
        let comments = ": 0123456789\n".repeat(100) + "data: x\n\n";
        assert_eq!(read(comments.as_bytes(), 5, 16).unwrap(), vec![ev("", "x")]);
    }
}

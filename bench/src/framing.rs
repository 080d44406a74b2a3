//! Response framing for the load generator: finds where each HTTP/1.1
//! response ends (Content-Length, chunked, or close-delimited) without
//! keeping the body.
//!
//! The head is parsed with httparse straight from the caller's read buffer;
//! only a head split across reads is copied (into a small per-connection
//! `Vec`). Bodies are skipped by counting, so an idle connection holds no
//! buffer at all. (The workspace `parser` crate was not yet committed when
//! this was written; once it is, its `BodyKind` can replace [`Body`].)

/// Largest response head accepted, in bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most response headers accepted.
pub const MAX_HEADERS: usize = 64;

/// Why a response could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The head is not valid HTTP/1.x.
    Head,
    /// The head is larger than [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// A Content-Length value is not a number.
    ContentLength,
    /// The chunked encoding is malformed.
    Chunked,
}

/// A response whose last byte has been seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Complete {
    /// Status code.
    pub status: u16,
    /// The server will close the connection (or the body was close-delimited).
    pub close: bool,
}

/// How the body of the response being read is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

/// Position inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size { size: u64, digits: u8 },
    Extension { size: u64 },
    SizeLf { size: u64 },
    Data(u64),
    DataCr,
    DataLf,
    Trailer { empty_line: bool },
    TrailerLf { empty_line: bool },
}

/// Result of feeding bytes to a [`ResponseReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the input that belong to this response.
    pub consumed: usize,
    /// Set when the response ended within those bytes.
    pub complete: Option<Complete>,
}

/// Incremental framing state for one connection, one response at a time.
#[derive(Debug, Default)]
pub struct ResponseReader {
    partial_head: Vec<u8>,
    body: Option<Body>,
    status: u16,
    close: bool,
}

// === impl ResponseReader ===

impl ResponseReader {
    /// Forgets any response in progress (after a reconnect).
    pub fn reset(&mut self) {
        self.partial_head = Vec::new();
        self.body = None;
    }

    /// True when no byte of a response has been seen yet.
    pub fn is_idle(&self) -> bool {
        self.body.is_none() && self.partial_head.is_empty()
    }

    /// Feeds bytes read from the socket. `no_body` is true for responses to
    /// HEAD requests.
    pub fn feed(&mut self, input: &[u8], no_body: bool) -> Result<Fed, FrameError> {
        let mut consumed = 0;
        loop {
            if self.body.is_none() {
                match self.feed_head(&input[consumed..], no_body)? {
                    None => {
                        return Ok(Fed {
                            consumed: input.len(),
                            complete: None,
                        })
                    }
                    Some(used) => consumed += used,
                }
                if let Some(complete) = self.complete_if_empty() {
                    return Ok(Fed {
                        consumed,
                        complete: Some(complete),
                    });
                }
                if self.body.is_none() {
                    continue; // 1xx interim response: read the next head
                }
            }
            let (used, done) = self.feed_body(&input[consumed..])?;
            consumed += used;
            let complete = done.then(|| self.finish());
            return Ok(Fed { consumed, complete });
        }
    }

    /// The peer closed the connection: completes a close-delimited body.
    pub fn on_eof(&mut self) -> Option<Complete> {
        match self.body {
            Some(Body::UntilClose) => Some(self.finish()),
            _ => None,
        }
    }

    fn finish(&mut self) -> Complete {
        let close = self.close || self.body == Some(Body::UntilClose);
        self.body = None;
        Complete {
            status: self.status,
            close,
        }
    }

    fn complete_if_empty(&mut self) -> Option<Complete> {
        (self.body == Some(Body::Length(0))).then(|| self.finish())
    }

    /// Parses the head; returns the bytes of `input` it used, or `None`
    /// when the head is still incomplete (the bytes are kept).
    fn feed_head(&mut self, input: &[u8], no_body: bool) -> Result<Option<usize>, FrameError> {
        if self.partial_head.is_empty() {
            let parsed = parse_head(input, no_body)?;
            return match parsed {
                Some((len, head)) => Ok(Some(self.accept_head(len, head))),
                None => self.keep_partial(input).map(|()| None),
            };
        }
        let before = self.partial_head.len();
        self.keep_partial(input)?;
        match parse_head(&self.partial_head, no_body)? {
            Some((len, head)) => {
                self.partial_head = Vec::new();
                Ok(Some(self.accept_head(len - before, head)))
            }
            None => Ok(None),
        }
    }

    fn keep_partial(&mut self, input: &[u8]) -> Result<(), FrameError> {
        if self.partial_head.len() + input.len() > MAX_HEAD_BYTES {
            return Err(FrameError::HeadTooLarge);
        }
        self.partial_head.extend_from_slice(input);
        Ok(())
    }

    fn accept_head(&mut self, used: usize, head: Head) -> usize {
        self.status = head.status;
        self.close = head.close;
        self.body = head.body;
        used
    }

    /// Skips body bytes; returns (bytes used, body finished).
    fn feed_body(&mut self, input: &[u8]) -> Result<(usize, bool), FrameError> {
        match self.body {
            Some(Body::Length(left)) => {
                let take = left.min(input.len() as u64);
                let left = left - take;
                self.body = Some(Body::Length(left));
                Ok((take as usize, left == 0))
            }
            Some(Body::Chunked(state)) => {
                let (used, state) = scan_chunked(state, input)?;
                self.body = state.map(Body::Chunked);
                Ok((used, state.is_none()))
            }
            Some(Body::UntilClose) => Ok((input.len(), false)),
            None => Ok((0, false)),
        }
    }
}

/// The framing-relevant parts of a response head.
#[derive(Debug)]
struct Head {
    status: u16,
    close: bool,
    body: Option<Body>,
}

/// Parses a complete head from `buf`; `None` when more bytes are needed.
fn parse_head(buf: &[u8], no_body: bool) -> Result<Option<(usize, Head)>, FrameError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(FrameError::Head),
    };
    let status = response.code.unwrap_or(0);
    let version = response.version.unwrap_or(1);
    let mut close = version == 0;
    let mut length = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            length = Some(parse_length(header.value)?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = last_token_is(header.value, b"chunked");
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = connection_close(header.value, close);
        }
    }
    let body = body_kind(status, no_body, chunked, length);
    Ok(Some((
        len,
        Head {
            status,
            close,
            body,
        },
    )))
}

/// RFC 9112 §6.3, in order: no-body statuses, chunked, Content-Length,
/// else read until close. `None` marks a 1xx interim response.
fn body_kind(status: u16, no_body: bool, chunked: bool, length: Option<u64>) -> Option<Body> {
    if (100..200).contains(&status) && status != 101 {
        return None;
    }
    if no_body || status == 204 || status == 304 {
        return Some(Body::Length(0));
    }
    if chunked {
        return Some(Body::Chunked(Chunk::Size { size: 0, digits: 0 }));
    }
    Some(length.map_or(Body::UntilClose, Body::Length))
}

fn parse_length(value: &[u8]) -> Result<u64, FrameError> {
    let text = std::str::from_utf8(value).map_err(|_| FrameError::ContentLength)?;
    text.trim().parse().map_err(|_| FrameError::ContentLength)
}

fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(token))
}

fn connection_close(value: &[u8], default: bool) -> bool {
    let mut close = default;
    for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
        if token.eq_ignore_ascii_case(b"close") {
            return true;
        }
        if token.eq_ignore_ascii_case(b"keep-alive") {
            close = false;
        }
    }
    close
}

/// Advances the chunked-body state machine over `input`. Returns the bytes
/// used and the new state, `None` once the final CRLF has been read.
fn scan_chunked(mut state: Chunk, input: &[u8]) -> Result<(usize, Option<Chunk>), FrameError> {
    let mut at = 0;
    while at < input.len() {
        if let Chunk::Data(left) = state {
            let take = left.min((input.len() - at) as u64);
            at += take as usize;
            state = if left == take {
                Chunk::DataCr
            } else {
                Chunk::Data(left - take)
            };
            continue;
        }
        let byte = input[at];
        at += 1;
        match chunk_step(state, byte)? {
            Some(next) => state = next,
            None => return Ok((at, None)),
        }
    }
    Ok((at, Some(state)))
}

/// One byte of chunk framing outside chunk data; `None` ends the body.
fn chunk_step(state: Chunk, byte: u8) -> Result<Option<Chunk>, FrameError> {
    let next = match (state, byte) {
        (Chunk::Size { size, digits }, _) if byte.is_ascii_hexdigit() => {
            if digits >= 15 {
                return Err(FrameError::Chunked);
            }
            let digit = u64::from(hex_value(byte));
            Chunk::Size {
                size: size * 16 + digit,
                digits: digits + 1,
            }
        }
        (Chunk::Size { size, digits }, b';' | b' ' | b'\t') if digits > 0 => {
            Chunk::Extension { size }
        }
        (Chunk::Size { size, digits }, b'\r') if digits > 0 => Chunk::SizeLf { size },
        (Chunk::Extension { size }, b'\r') => Chunk::SizeLf { size },
        (Chunk::Extension { size }, _) => Chunk::Extension { size },
        (Chunk::SizeLf { size: 0 }, b'\n') => Chunk::Trailer { empty_line: true },
        (Chunk::SizeLf { size }, b'\n') => Chunk::Data(size),
        (Chunk::DataCr, b'\r') => Chunk::DataLf,
        (Chunk::DataLf, b'\n') => Chunk::Size { size: 0, digits: 0 },
        (Chunk::Trailer { empty_line }, b'\r') => Chunk::TrailerLf { empty_line },
        (Chunk::Trailer { .. }, _) => Chunk::Trailer { empty_line: false },
        (Chunk::TrailerLf { empty_line: true }, b'\n') => return Ok(None),
        (Chunk::TrailerLf { empty_line: false }, b'\n') => Chunk::Trailer { empty_line: true },
        _ => return Err(FrameError::Chunked),
    };
    Ok(Some(next))
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        _ => byte - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns the completions and
    /// the total bytes consumed.
    fn feed_in_steps(input: &[u8], step: usize, no_body: bool) -> (Vec<Complete>, usize) {
        let mut reader = ResponseReader::default();
        let mut done = Vec::new();
        let mut total = 0;
        for piece in input.chunks(step) {
            let mut at = 0;
            while at < piece.len() {
                let fed = reader.feed(&piece[at..], no_body).unwrap();
                at += fed.consumed;
                total += fed.consumed;
                done.extend(fed.complete);
            }
        }
        (done, total)
    }

    const LENGTH: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    const CHUNKED: &[u8] = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n";

    #[test]
    fn content_length_in_every_split() {
        for step in 1..=LENGTH.len() {
            let (done, total) = feed_in_steps(LENGTH, step, false);
            assert_eq!(
                done,
                [Complete {
                    status: 200,
                    close: false
                }],
                "step {step}"
            );
            assert_eq!(total, LENGTH.len());
        }
    }

    #[test]
    fn chunked_in_every_split() {
        for step in 1..=CHUNKED.len() {
            let (done, total) = feed_in_steps(CHUNKED, step, false);
            assert_eq!(
                done,
                [Complete {
                    status: 201,
                    close: false
                }],
                "step {step}"
            );
            assert_eq!(total, CHUNKED.len());
        }
    }

    #[test]
    fn two_responses_back_to_back() {
        let both = [LENGTH, CHUNKED].concat();
        let (done, total) = feed_in_steps(&both, 7, false);
        assert_eq!(done.len(), 2);
        assert_eq!(total, both.len());
    }

    #[test]
    fn interim_1xx_is_skipped() {
        let input = [b"HTTP/1.1 100 Continue\r\n\r\n".as_slice(), LENGTH].concat();
        let (done, _) = feed_in_steps(&input, input.len(), false);
        assert_eq!(
            done,
            [Complete {
                status: 200,
                close: false
            }]
        );
    }

    #[test]
    fn head_and_204_have_no_body() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
        assert_eq!(feed_in_steps(head, 3, true).0.len(), 1);
        let no_content = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(feed_in_steps(no_content, 3, false).0[0].status, 204);
    }

    #[test]
    fn close_delimited_completes_on_eof() {
        let mut reader = ResponseReader::default();
        let fed = reader
            .feed(b"HTTP/1.0 200 OK\r\n\r\nsome body", false)
            .unwrap();
        assert_eq!(fed.complete, None);
        assert_eq!(
            reader.on_eof(),
            Some(Complete {
                status: 200,
                close: true
            })
        );
    }

    #[test]
    fn connection_close_is_reported() {
        let input = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let (done, _) = feed_in_steps(input, 5, false);
        assert!(done[0].close);
        let keep = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
        assert!(!feed_in_steps(keep, 100, false).0[0].close);
    }

    #[test]
    fn malformed_input_is_an_error() {
        let mut reader = ResponseReader::default();
        assert_eq!(reader.feed(b"NOPE\r\n\r\n", false), Err(FrameError::Head));
        let bad_length = b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n";
        assert_eq!(
            ResponseReader::default().feed(bad_length, false),
            Err(FrameError::ContentLength)
        );
        let bad_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            ResponseReader::default().feed(bad_chunk, false),
            Err(FrameError::Chunked)
        );
    }

    #[test]
    fn oversized_head_is_rejected() {
        let mut reader = ResponseReader::default();
        let junk = vec![b'a'; MAX_HEAD_BYTES / 2];
        let start = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &junk].concat();
        assert!(reader.feed(&start, false).is_ok());
        assert_eq!(reader.feed(&junk, false), Err(FrameError::HeadTooLarge));
    }
}

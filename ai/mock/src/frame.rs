//! Streamed frames: SSE encoding, and how a fault truncates or spoils a stream.

use serde_json::Value;

use crate::Fault;

/// The role a frame plays, which decides where a fault cuts the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// Opening or structural frame (role chunk, `message_start`, block start/stop).
    Meta,
    /// A frame carrying content (a word, a tool-call piece); faults count these.
    Content,
    /// A closing frame (finish reason, usage, `[DONE]`, `message_stop`).
    End,
}

/// One SSE event, sent as one HTTP chunk.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) bytes: Vec<u8>,
    pub(crate) part: Part,
}

impl Frame {
    /// A `data:`-only frame.
    pub(crate) fn data(part: Part, v: &Value) -> Frame {
        Frame {
            bytes: format!("data: {v}\n\n").into_bytes(),
            part,
        }
    }

    /// An `event:` + `data:` frame.
    pub(crate) fn event(part: Part, name: &str, v: &Value) -> Frame {
        Frame {
            bytes: format!("event: {name}\ndata: {v}\n\n").into_bytes(),
            part,
        }
    }

    /// A frame from raw bytes.
    pub(crate) fn raw(part: Part, bytes: &[u8]) -> Frame {
        Frame {
            bytes: bytes.to_vec(),
            part,
        }
    }
}

/// How a stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// With the last chunk; the connection stays usable.
    Done,
    /// By closing the connection, without the last chunk.
    Cut,
}

/// The frames a format sends when a fault strikes mid-stream.
pub(crate) struct Spoilers {
    /// The provider's own mid-stream error event.
    pub(crate) error: Frame,
    /// A frame whose data is not JSON.
    pub(crate) malformed: Frame,
}

/// Applies a stream-shaped fault to the frames (other faults leave them alone).
pub(crate) fn shape(
    frames: Vec<Frame>,
    fault: Option<&Fault>,
    spoil: Spoilers,
) -> (Vec<Frame>, End) {
    match fault {
        Some(Fault::MidStreamError) => {
            let mut out = prefix(frames, 2);
            out.push(spoil.error);
            (out, End::Done)
        }
        Some(Fault::Malformed) => {
            let mut out = prefix(frames, 1);
            out.push(spoil.malformed);
            (out, End::Done)
        }
        Some(Fault::Cut) => (prefix(frames, 2), End::Cut),
        _ => (frames, End::Done),
    }
}

/// The frames up to the `n`th content frame, stopping before any closing frame.
fn prefix(frames: Vec<Frame>, n: usize) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut seen = 0;
    for f in frames {
        if f.part == Part::End || seen == n {
            break;
        }
        if f.part == Part::Content {
            seen += 1;
        }
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: &[Part]) -> Vec<Frame> {
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| Frame::raw(*p, i.to_string().as_bytes()))
            .collect()
    }

    fn names(f: &[Frame]) -> String {
        f.iter()
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .collect()
    }

    fn spoilers() -> Spoilers {
        Spoilers {
            error: Frame::raw(Part::End, b"E"),
            malformed: Frame::raw(Part::End, b"M"),
        }
    }

    #[test]
    fn faults_cut_after_content_frames() {
        use Part::{Content, Meta};
        let all = frames(&[Meta, Content, Meta, Content, Content, Part::End, Part::End]);
        let (out, end) = shape(all.clone(), Some(&Fault::MidStreamError), spoilers());
        assert_eq!((names(&out).as_str(), end), ("0123E", End::Done));
        let (out, end) = shape(all.clone(), Some(&Fault::Malformed), spoilers());
        assert_eq!((names(&out).as_str(), end), ("01M", End::Done));
        let (out, end) = shape(all.clone(), Some(&Fault::Cut), spoilers());
        assert_eq!((names(&out).as_str(), end), ("0123", End::Cut));
        let (out, end) = shape(all, None, spoilers());
        assert_eq!((names(&out).as_str(), end), ("0123456", End::Done));
        let short = frames(&[Meta, Content, Part::End]);
        let (out, _) = shape(short, Some(&Fault::Cut), spoilers());
        assert_eq!(names(&out), "01");
    }
}

//! Sans-io, zero-copy, strict HTTP/1.1 framing on top of httparse.

//! From a byte offset in the config text to what an operator reads: a line
//! number and a field path such as `routes[1].upstream`.
//!
//! Validation knows its field paths; this module is for errors that come
//! from the TOML deserializer, which only gives a span.

use std::ops::Range;

/// 1-based line number of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    // An error at end of input belongs to the last line, not the one after it.
    let end = offset.min(text.trim_end().len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Best-effort field path for a deserializer error at `span`: the enclosing
/// table header (`[server]`, the n-th `[[routes]]`), the key of the line,
/// and the key the span points at when it is a different one (inside an
/// inline table). Empty when nothing sensible can be said.
pub(crate) fn field_at(text: &str, span: Range<usize>) -> String {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    if header_of(line).is_some() {
        return table_path(&text[..line_start + line.len()]).unwrap_or_default();
    }
    let mut path: Vec<String> = table_path(&text[..line_start]).into_iter().collect();
    if let Some(key) = line_key(line) {
        path.push(key.to_owned());
        let at = text.get(span).unwrap_or("").trim_matches('"');
        if at != key && is_bare_key(at) && span_is_key(text, start) {
            path.push(at.to_owned());
        }
    }
    path.join(".")
}

/// The path of the last table header in `before`: `server`, `upstreams.api`,
/// or `routes[1]` for the second `[[routes]]`.
fn table_path(before: &str) -> Option<String> {
    let header = before.lines().rev().find_map(header_of)?;
    match header {
        Header::Table(name) => Some(name.to_owned()),
        Header::Array(name) => {
            let count = before
                .lines()
                .filter_map(header_of)
                .filter(|h| *h == Header::Array(name))
                .count();
            Some(format!("{name}[{}]", count.saturating_sub(1)))
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Header<'a> {
    Table(&'a str),
    Array(&'a str),
}

fn header_of(line: &str) -> Option<Header<'_>> {
    let line = line.split('#').next().unwrap_or("").trim();
    if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
        return Some(Header::Array(name.trim()));
    }
    let name = line.strip_prefix('[')?.strip_suffix(']')?;
    Some(Header::Table(name.trim()))
}

/// `shards = 2` → `shards`.
fn line_key(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('[')).then_some(key)
}

fn is_bare_key(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether the token at `start` is followed by `=`, i.e. is a key.
fn span_is_key(text: &str, start: usize) -> bool {
    let rest = &text[start..];
    let after = rest.trim_start_matches(|c: char| {
        c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '"'
    });
    after.trim_start().starts_with('=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> String {
        let start = text.find(needle).unwrap();
        field_at(text, start..start + needle.len())
    }

    #[test]
    fn lines_are_one_based() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
        assert_eq!(line_of("a\nb\n\n", 5), 2);
    }

    #[test]
    fn paths() {
        let text = "top = 1\n[server]\nshards = x\n[[routes]]\na = 1\n[[routes]]\nhost = 2 # c\n\
                    [upstreams.api]\nbackends = [{ weight = 0 }]\n";
        assert_eq!(at(text, "1"), "top");
        assert_eq!(at(text, "x"), "server.shards");
        assert_eq!(at(text, "2"), "routes[1].host");
        assert_eq!(at(text, "weight"), "upstreams.api.backends.weight");
        assert_eq!(at(text, "[server]"), "server");
        assert_eq!(at(text, "[[routes]]\nhost"), "routes[1]");
    }
}

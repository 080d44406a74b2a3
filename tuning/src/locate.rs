//! From a byte offset in the config text to what an operator reads: a line
//! number and a field path such as `routes[1].upstream`.
//!
//! Validation knows its field paths and spans; this module serves errors
//! that come from the TOML deserializer (a span, no path) and unknown keys
//! (a path, no span).

use std::collections::HashMap;
use std::ops::Range;

use crate::unknown::{display, Seg};

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

/// The line where the key at `segs` is written: its `[table]` header, its
/// `key =` line or, for a key inside an inline table or array, the first
/// line from that value on that writes `key =`.
pub(crate) fn line_of_key(text: &str, segs: &[Seg]) -> Option<usize> {
    let target = display(segs);
    let Some(Seg::Key(last)) = segs.last() else {
        return None;
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut table = String::new();
    let mut arrays: HashMap<String, usize> = HashMap::new();
    for (n, line) in lines.iter().enumerate() {
        let code = line.split('#').next().unwrap_or("");
        if let Some(header) = header_of(code) {
            table = resolve_header(header, &mut arrays);
            if table == target {
                return Some(n + 1);
            }
            continue;
        }
        let Some(key) = line_key(code).filter(|k| is_dotted_key(k)) else {
            continue;
        };
        let path = match table.is_empty() {
            true => normalize(key),
            false => format!("{table}.{}", normalize(key)),
        };
        if path == target {
            return Some(n + 1);
        }
        let inside = target
            .strip_prefix(path.as_str())
            .is_some_and(|r| r.starts_with(['.', '[']));
        if inside {
            let found = lines[n..].iter().position(|l| writes_key(l, last));
            return Some(n + 1 + found.unwrap_or(0));
        }
    }
    None
}

/// `[[routes]]` → `routes[2]` (its third use); `[routes.respond]` after it →
/// `routes[2].respond`.
fn resolve_header(header: Header<'_>, arrays: &mut HashMap<String, usize>) -> String {
    match header {
        Header::Array(name) => {
            let name = normalize(name);
            let count = arrays.entry(name.clone()).or_insert(0);
            *count += 1;
            format!("{name}[{}]", *count - 1)
        }
        Header::Table(name) => {
            let name = normalize(name);
            let parent = arrays
                .iter()
                .filter(|(a, _)| {
                    name.strip_prefix(a.as_str())
                        .is_some_and(|r| r.starts_with('.'))
                })
                .max_by_key(|(a, _)| a.len());
            match parent {
                Some((a, count)) => format!("{a}[{}]{}", count - 1, &name[a.len()..]),
                None => name,
            }
        }
    }
}

/// `upstreams . "api"` → `upstreams.api`.
fn normalize(key: &str) -> String {
    key.split('.')
        .map(|p| p.trim().trim_matches('"'))
        .collect::<Vec<_>>()
        .join(".")
}

fn is_dotted_key(key: &str) -> bool {
    key.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.\" ".contains(&b))
}

/// Whether `line` writes `key =` (at the start, or after `{`, `,` or a space).
fn writes_key(line: &str, key: &str) -> bool {
    line.match_indices(key).any(|(i, _)| {
        let before = line[..i].trim_end_matches('"').chars().next_back();
        let after = line[i + key.len()..].trim_start_matches('"').trim_start();
        matches!(before, None | Some(' ' | '\t' | '{' | ',')) && after.starts_with('=')
    })
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

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_owned())
    }

    #[test]
    fn lines_of_keys() {
        let text = "top = 1\n[server]\nlisen = 2\n[[routes]]\nx = 1\n[[routes]]\nother = 3\n\
                    [routes.respond]\nstauts = 1\n[upstreams.\"api\"]\nbackends = [\n  \"a\",\n  { address = \"b\", wieght = 2 },\n]\n[sever]\n";
        assert_eq!(line_of_key(text, &[key("top")]), Some(1));
        assert_eq!(line_of_key(text, &[key("server"), key("lisen")]), Some(3));
        assert_eq!(
            line_of_key(text, &[key("routes"), Seg::Index(1), key("other")]),
            Some(7)
        );
        assert_eq!(
            line_of_key(
                text,
                &[key("routes"), Seg::Index(1), key("respond"), key("stauts")]
            ),
            Some(9)
        );
        let wieght = [
            key("upstreams"),
            key("api"),
            key("backends"),
            Seg::Index(1),
            key("wieght"),
        ];
        assert_eq!(line_of_key(text, &wieght), Some(13));
        assert_eq!(line_of_key(text, &[key("sever")]), Some(15));
        assert_eq!(line_of_key(text, &[key("nowhere")]), None);
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

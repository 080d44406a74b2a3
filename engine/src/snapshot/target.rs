//! The parts of a request target that routing needs: the authority of an
//! absolute-form target and the origin-form path and query.

/// The parts of a request target that routing needs.
pub(crate) struct Target<'a> {
    /// The host of an absolute-form target (`http://host/path`).
    pub(crate) authority: Option<&'a [u8]>,
    /// The origin-form path and query.
    pub(crate) path: &'a [u8],
}

// === impl Target ===

impl<'a> Target<'a> {
    pub(crate) fn parse(t: &'a [u8]) -> Target<'a> {
        let rest = strip_scheme(t);
        match rest {
            Some(rest) => {
                let end = rest
                    .iter()
                    .position(|&b| b == b'/' || b == b'?')
                    .unwrap_or(rest.len());
                let (authority, path) = rest.split_at(end);
                let path: &[u8] = if path.is_empty() { b"/" } else { path };
                Target {
                    authority: Some(authority),
                    path,
                }
            }
            None => Target {
                authority: None,
                path: t,
            },
        }
    }

    /// Whether the target was in absolute form.
    pub(crate) fn is_absolute(&self) -> bool {
        self.authority.is_some()
    }
}

fn strip_scheme(t: &[u8]) -> Option<&[u8]> {
    let lower_starts = |p: &[u8]| t.len() >= p.len() && t[..p.len()].eq_ignore_ascii_case(p);
    if lower_starts(b"http://") {
        Some(&t[7..])
    } else if lower_starts(b"https://") {
        Some(&t[8..])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_targets() {
        let t = Target::parse(b"http://Example.com:8080/a/b?c");
        assert_eq!(t.authority, Some(&b"Example.com:8080"[..]));
        assert_eq!(t.path, b"/a/b?c");
        let t = Target::parse(b"HTTP://h?q");
        assert_eq!((t.authority, t.path), (Some(&b"h"[..]), &b"?q"[..]));
        let t = Target::parse(b"https://h");
        assert_eq!(t.path, b"/");
        let t = Target::parse(b"/plain");
        assert!(!t.is_absolute());
    }
}

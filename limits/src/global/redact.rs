//! Keeps the URL's password out of every error text and debug print.

/// The secrets to scrub: the password as written in the URL and decoded.
/// Deliberately not `Debug`.
pub(super) struct Redactor {
    secrets: Vec<String>,
}

/// What replaces a secret.
const MASK: &str = "***";

// === impl Redactor ===

impl Redactor {
    /// Scrubs the password of `url`, if it parses and has one.
    pub(super) fn from_url(url: &str) -> Redactor {
        let mut secrets = Vec::new();
        if let Some(raw) = url::Url::parse(url)
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
        {
            if let Ok(decoded) = percent_decode(&raw) {
                secrets.push(decoded);
            }
            secrets.push(raw);
        }
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a secret that contains another goes whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// `text` with every secret replaced by `***`.
    pub(super) fn clean(&self, mut text: String) -> String {
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), MASK);
            }
        }
        text
    }
}

/// Decodes `%XX` escapes; fails on a bad escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_raw_and_decoded_password() {
        let r = Redactor::from_url("redis://:p%40ss@127.0.0.1:6379/0");
        assert_eq!(r.clean("auth p@ss and p%40ss".into()), "auth *** and ***");
    }

    #[test]
    fn no_password_changes_nothing() {
        let r = Redactor::from_url("redis://127.0.0.1:6379");
        assert_eq!(r.clean("nothing secret".into()), "nothing secret");
    }
}

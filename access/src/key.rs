//! Credentials' secrets: API keys are generated here, shown once and kept
//! as SHA-256 digests; Basic passwords are kept as argon2id PHC strings.
//! Comparisons of digests run in constant time.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{digest as sha, SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Every key starts with this, so that a leaked key is recognisable
/// (secret scanners match on it).
pub const KEY_PREFIX: &str = "cg_";
/// Characters of a key kept in clear to tell keys apart in lists.
const SHOWN: usize = 8;

/// A key just generated: the secret is shown to its owner once and then
/// forgotten; the store keeps the digest and the shown prefix.
#[derive(Debug)]
pub struct NewKey {
    /// The whole key, `cg_` and 43 base64url characters (256 bits).
    pub secret: String,
    /// SHA-256 of the secret.
    pub digest: [u8; 32],
    /// Its first characters, for lists (`cg_AbCdE`).
    pub shown: String,
}

/// The system random generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomError;

/// A fresh random key.
pub fn generate() -> Result<NewKey, RandomError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomError)?;
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    Ok(NewKey {
        digest: digest(secret.as_bytes()),
        shown: secret[..SHOWN].to_owned(),
        secret,
    })
}

/// The digest a presented key is looked up by.
pub fn digest(presented: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(sha(&SHA256, presented).as_ref());
    out
}

/// Whether two digests are equal, in time that does not depend on where
/// they differ.
pub fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    verify_slices_are_equal(a, b).is_ok()
}

/// An argon2id PHC string for `password` (default parameters: 19 MiB, 2
/// passes), with a random salt.
pub fn hash_password(password: &str) -> Result<String, RandomError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| RandomError)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| RandomError)?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| RandomError)
}

/// Whether `password` matches the PHC string (constant time inside
/// argon2's verifier); a malformed PHC string never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// An argon2id PHC string no password matches in practice, made once: an
/// unknown Basic user name is verified against it, so that it costs as
/// long as a known one.
pub fn dummy_phc() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 24];
        let _ = SystemRandom::new().fill(&mut random);
        hash_password(&URL_SAFE_NO_PAD.encode(random)).unwrap_or_default()
    })
}

/// Longest `Authorization: Basic` value looked at.
const MAX_BASIC: usize = 4096;

/// The user name and password of an `Authorization: Basic` value (RFC
/// 7617: base64 of `user:password`, the scheme case-insensitive); `None`
/// when it is malformed, too long or not UTF-8.
pub fn basic_credentials(value: &[u8]) -> Option<(String, String)> {
    if value.len() > MAX_BASIC || value.len() < 6 {
        return None;
    }
    let (scheme, rest) = value.split_at(6);
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim_ascii())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The key a successful Basic verification is remembered by: SHA-256 of
/// the user name, a separator and the password (never kept in clear).
pub fn basic_digest(user: &str, password: &str) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&SHA256);
    ctx.update(user.as_bytes());
    ctx.update(&[0]);
    ctx.update(password.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_values_parse_strictly() {
        assert_eq!(
            basic_credentials(b"Basic YWxpY2U6czNjcjp0"),
            Some(("alice".into(), "s3cr:t".into()))
        );
        assert_eq!(
            basic_credentials(b"basic   YWxpY2U6czNjcjp0 ").map(|c| c.0),
            Some("alice".into())
        );
        assert_eq!(basic_credentials(b"Bearer YWxpY2U6czNjcjp0"), None);
        assert_eq!(basic_credentials(b"Basic !!!"), None);
        assert_eq!(basic_credentials(b"Basic YWxpY2U="), None, "no colon");
        assert_eq!(basic_credentials(&[b'a'; 5000]), None);
        assert_ne!(basic_digest("a", "bc"), basic_digest("ab", "c"));
    }

    #[test]
    fn keys_are_random_prefixed_and_found_by_digest() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(a.secret.starts_with("cg_") && a.secret.len() == 46);
        assert_ne!(a.secret, b.secret);
        assert!(same(&a.digest, &digest(a.secret.as_bytes())));
        assert!(!same(&a.digest, &b.digest));
        assert_eq!(a.shown, &a.secret[..8]);
    }

    #[test]
    fn passwords_verify_only_with_the_right_password() {
        let phc = hash_password("s3cret \"'; DROP").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("s3cret \"'; DROP", &phc));
        assert!(!verify_password("s3cret", &phc));
        assert!(!verify_password("s3cret", "not a phc string"));
    }
}

//! Session-ticket keys: rotating in-memory keys shared by every shard (so
//! a ticket issued on one shard resumes on any other), or keys from files
//! shared by several hosts, as Envoy's `session_ticket_key_paths`.
//!
//! A key file holds at least 48 random bytes (`openssl rand 80 > key`):
//! 16 name the key, the next 32 are an AES-256-GCM key. The first file's
//! key seals new tickets; every file's key opens them, so keys rotate
//! across a fleet by prepending a new file, then dropping the oldest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use rustls::server::ProducesTickets;

use crate::error::TlsError;

/// How long a ticket from a key file is accepted, in seconds (12 h, as
/// rustls's own rotating ticketer).
pub const FILE_TICKET_LIFETIME: u32 = 12 * 60 * 60;
const NAME_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// The ticketer every shard's `ServerConfig` shares.
pub fn ticketer(files: &[PathBuf]) -> Result<Arc<dyn ProducesTickets>, TlsError> {
    if files.is_empty() {
        return rustls::crypto::aws_lc_rs::Ticketer::new()
            .map_err(|e| TlsError::setting(format!("cannot make session-ticket keys: {e}")));
    }
    let keys: Result<Vec<_>, _> = files.iter().map(|f| FileKey::load(f)).collect();
    Ok(Arc::new(FileTicketer { keys: keys? }))
}

/// Tickets bound to one profile: `tag` (a digest of what the profile lets
/// a resumed session skip: its name and its client-certificate policy,
/// CA included) is sealed inside every ticket and checked on the way
/// back, so a ticket issued by a profile without client certificates
/// never resumes on one that requires them, nor on a profile whose CA
/// changed since. Costs 16 bytes per ticket.
pub fn bound(inner: Arc<dyn ProducesTickets>, tag: [u8; TAG_LEN]) -> Arc<dyn ProducesTickets> {
    Arc::new(Bound { inner, tag })
}

/// Length of a profile's ticket tag.
pub const TAG_LEN: usize = 16;

struct Bound {
    inner: Arc<dyn ProducesTickets>,
    tag: [u8; TAG_LEN],
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound").field("inner", &self.inner).finish()
    }
}

impl ProducesTickets for Bound {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.inner.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut tagged = Vec::with_capacity(TAG_LEN + plain.len());
        tagged.extend_from_slice(&self.tag);
        tagged.extend_from_slice(plain);
        self.inner.encrypt(&tagged)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let mut plain = self.inner.decrypt(cipher)?;
        if plain.get(..TAG_LEN)? != self.tag {
            return None;
        }
        plain.drain(..TAG_LEN);
        Some(plain)
    }
}

/// One named ticket key.
struct FileKey {
    name: [u8; NAME_LEN],
    key: LessSafeKey,
}

// === impl FileKey ===

impl FileKey {
    fn load(path: &Path) -> Result<FileKey, TlsError> {
        let raw = crate::load::read(path)?;
        if raw.len() < NAME_LEN + KEY_LEN {
            let what = format!(
                "a ticket key file needs at least {} bytes, this has {}",
                NAME_LEN + KEY_LEN,
                raw.len()
            );
            return Err(TlsError::file(path, what));
        }
        let mut name = [0u8; NAME_LEN];
        name.copy_from_slice(&raw[..NAME_LEN]);
        let unbound = UnboundKey::new(&AES_256_GCM, &raw[NAME_LEN..NAME_LEN + KEY_LEN])
            .map_err(|_| TlsError::file(path, "unusable AES-256-GCM key"))?;
        Ok(FileKey {
            name,
            key: LessSafeKey::new(unbound),
        })
    }
}

/// Tickets sealed with keys from files: `name | nonce | ciphertext | tag`.
struct FileTicketer {
    keys: Vec<FileKey>,
}

impl std::fmt::Debug for FileTicketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileTicketer({} keys)", self.keys.len())
    }
}

impl ProducesTickets for FileTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        FILE_TICKET_LIFETIME
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let k = self.keys.first()?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        let mut out = Vec::with_capacity(NAME_LEN + NONCE_LEN + plain.len() + 16);
        out.extend_from_slice(&k.name);
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        let nonce = Nonce::assume_unique_for_key(nonce);
        k.key
            .seal_in_place_append_tag(nonce, Aad::from(&k.name), &mut body)
            .ok()?;
        out.extend_from_slice(&body);
        Some(out)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let (name, rest) = cipher.split_at_checked(NAME_LEN)?;
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
        let k = self.keys.iter().find(|k| k.name == name)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = sealed.to_vec();
        let plain = k
            .key
            .open_in_place(nonce, Aad::from(&k.name), &mut body)
            .ok()?;
        let n = plain.len();
        body.truncate(n);
        Some(body)
    }
}

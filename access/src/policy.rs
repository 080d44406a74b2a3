//! The store's contents compiled for the data path: who a presented key
//! belongs to, and whether that app may call a service. Built off the data
//! path from one [`AccessData`] read; on a request it is a hash of the
//! presented key, one map lookup by digest and one set lookup, with no
//! lock and no store access: 111 ns per verdict at 10, 10k and 100k
//! credentials alike, and 59 ms to compile 100k apps with a key and a
//! subscription each (`cargo bench -p access`, 2026-12-02, 2-vCPU AMD
//! EPYC VM).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::key;
use crate::model::{AuthKind, CredentialKind, Id, SubState};
use crate::store::AccessData;

/// Who is calling, once a credential matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// The app.
    pub app: Id,
    /// Its name, for the identity header.
    pub app_name: Arc<str>,
    /// Its team.
    pub team: Id,
    /// The team's name.
    pub team_name: Arc<str>,
}

/// How a service wants to be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePolicy {
    /// The service's id.
    pub id: Id,
    /// The credentials it accepts; empty: open.
    pub auth: Vec<AuthKind>,
    /// The header an API key comes in (lowercase).
    pub key_header: Box<str>,
    /// The query parameter it may come in instead.
    pub key_query: Option<Box<str>>,
}

/// What a request with a credential gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'p> {
    /// A valid credential of an app with an approved subscription.
    Allowed(&'p Consumer),
    /// No credential, or one that matches nothing: 401.
    Unauthorized,
    /// A valid credential, but its app has no approved subscription: 403.
    Forbidden(&'p Consumer),
}

/// A Basic credential, as the data path checks it.
#[derive(Debug, Clone)]
pub struct BasicEntry {
    /// The credential's id (a cached verification must name the same one).
    pub credential: Id,
    /// Whose it is.
    pub consumer: Arc<Consumer>,
    /// The argon2id PHC string the password is verified against.
    pub phc: Arc<str>,
}

/// A JWT credential, compiled: its validation rules and its keys decoded
/// once.
pub struct JwtEntry {
    /// The credential's id.
    pub credential: Id,
    /// Whose tokens these are.
    pub consumer: Arc<Consumer>,
    algorithm: jsonwebtoken::Algorithm,
    validation: jsonwebtoken::Validation,
    keys: JwtKeys,
    /// The JWKS source, when the keys come from one.
    pub jwks: Option<String>,
    issuer: Box<str>,
}

impl std::fmt::Debug for JwtEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtEntry")
            .field("credential", &self.credential)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

enum JwtKeys {
    Secret(jsonwebtoken::DecodingKey),
    /// By key id; the key without an id, when the set has exactly one key.
    Set(
        HashMap<String, jsonwebtoken::DecodingKey>,
        Option<jsonwebtoken::DecodingKey>,
    ),
}

/// A bearer token's verdict.
#[derive(Debug)]
pub enum JwtCheck<'p> {
    /// Signed, of a known issuer, within its times: valid until `exp`
    /// (Unix seconds).
    Valid(&'p JwtEntry, u64),
    /// Of a known issuer, but its `kid` is in no key set we hold: worth a
    /// refresh of the JWKS (rate-limited), and a 401 now.
    UnknownKid,
    /// Anything else: malformed, `alg` other than the pinned one, bad
    /// signature, expired, not yet valid, wrong audience, unknown issuer.
    Invalid,
}

/// Longest bearer token looked at.
const MAX_TOKEN: usize = 8192;

/// The compiled policy of one store revision.
#[derive(Debug, Default)]
pub struct Policy {
    /// The store revision it was compiled from.
    pub revision: u64,
    services: HashMap<Box<str>, ServicePolicy, ahash::RandomState>,
    keys: HashMap<[u8; 32], Arc<Consumer>, ahash::RandomState>,
    basic: HashMap<Box<str>, BasicEntry, ahash::RandomState>,
    consumers: HashMap<Id, Arc<Consumer>>,
    jwt: HashMap<Box<str>, Arc<JwtEntry>, ahash::RandomState>,
    jwt_ids: HashMap<Id, Arc<JwtEntry>, ahash::RandomState>,
    /// Set by a shard that met an unknown `kid`; the control thread
    /// refreshes the JWKS and clears it.
    pub jwks_wanted: Arc<std::sync::atomic::AtomicBool>,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    pub jwt_leeway: u64,
    approved: HashSet<(Id, Id), ahash::RandomState>,
}

// === impl Policy ===

impl Policy {
    /// Compiles `data`: every service by name, every API key by digest,
    /// every approved (app, service) pair.
    pub fn compile(data: &AccessData) -> Policy {
        Policy::compile_with(data, &crate::jwks::JwksCache::default(), 30)
    }

    /// As [`Policy::compile`], with the JWKS sets of `jwks` and `leeway`
    /// seconds of clock skew allowed on `exp` and `nbf`.
    pub fn compile_with(data: &AccessData, jwks: &crate::jwks::JwksCache, leeway: u64) -> Policy {
        let consumers = consumers(data);
        let jwt: Vec<Arc<JwtEntry>> = data
            .credentials
            .iter()
            .filter_map(|c| jwt_entry(c, &consumers, jwks, leeway))
            .map(Arc::new)
            .collect();
        let keys = data
            .credentials
            .iter()
            .filter_map(|c| match &c.kind {
                CredentialKind::Key { digest, .. } => {
                    Some((*digest, Arc::clone(consumers.get(&c.app)?)))
                }
                CredentialKind::Basic { .. } | CredentialKind::Jwt(_) => None,
            })
            .collect();
        let basic = data
            .credentials
            .iter()
            .filter_map(|c| match &c.kind {
                CredentialKind::Basic { username, phc } => {
                    let entry = BasicEntry {
                        credential: c.id,
                        consumer: Arc::clone(consumers.get(&c.app)?),
                        phc: phc.as_str().into(),
                    };
                    Some((username.as_str().into(), entry))
                }
                CredentialKind::Key { .. } | CredentialKind::Jwt(_) => None,
            })
            .collect();
        Policy {
            revision: data.revision,
            basic,
            consumers,
            jwt_ids: jwt.iter().map(|e| (e.credential, Arc::clone(e))).collect(),
            jwt: jwt.into_iter().map(|e| (e.issuer.clone(), e)).collect(),
            jwks_wanted: Arc::default(),
            jwt_leeway: leeway,
            services: data
                .services
                .iter()
                .map(|s| (s.spec.name.as_str().into(), service_policy(s)))
                .collect(),
            keys,
            approved: data
                .subscriptions
                .iter()
                .filter(|s| s.state == SubState::Approved)
                .map(|s| (s.app, s.service))
                .collect(),
        }
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&ServicePolicy> {
        self.services.get(name)
    }

    /// The verdict on a presented API key (`None`: none was presented).
    pub fn by_key(&self, service: &ServicePolicy, presented: Option<&[u8]>) -> Verdict<'_> {
        let Some(consumer) = presented.and_then(|k| self.keys.get(&key::digest(k))) else {
            return Verdict::Unauthorized;
        };
        match self.approved.contains(&(consumer.app, service.id)) {
            true => Verdict::Allowed(consumer),
            false => Verdict::Forbidden(consumer),
        }
    }

    /// The verdict on a bearer token (signature, pinned `alg`, issuer,
    /// audience, `exp` and `nbf`).
    pub fn by_jwt(&self, token: &str) -> JwtCheck<'_> {
        #[derive(serde::Deserialize)]
        struct Iss {
            iss: String,
        }
        #[derive(serde::Deserialize)]
        struct Exp {
            exp: u64,
        }
        if token.len() > MAX_TOKEN {
            return JwtCheck::Invalid;
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return JwtCheck::Invalid;
        };
        let iss = jsonwebtoken::dangerous::insecure_decode_claims::<Iss>(token);
        let Some(entry) = iss.ok().and_then(|c| self.jwt.get(c.iss.as_str())) else {
            return JwtCheck::Invalid;
        };
        if header.alg != entry.algorithm {
            return JwtCheck::Invalid;
        }
        let Some(key) = entry.key(header.kid.as_deref()) else {
            return JwtCheck::UnknownKid;
        };
        match jsonwebtoken::decode::<Exp>(token, key, &entry.validation) {
            Ok(t) => JwtCheck::Valid(entry, t.claims.exp),
            Err(_) => JwtCheck::Invalid,
        }
    }

    /// The JWT credential `id`, while it exists.
    pub fn jwt_credential(&self, id: Id) -> Option<&JwtEntry> {
        self.jwt_ids.get(&id).map(|e| &**e)
    }

    /// Every JWKS source the JWT credentials name.
    pub fn jwks_sources(data: &AccessData) -> Vec<String> {
        let mut out: Vec<String> = data
            .credentials
            .iter()
            .filter_map(|c| match &c.kind {
                CredentialKind::Jwt(spec) => spec.jwks.clone(),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The app `app` and its team, for logs.
    pub fn consumer(&self, app: Id) -> Option<&Consumer> {
        self.consumers.get(&app).map(|c| &**c)
    }

    /// The Basic credential of `username`.
    pub fn basic_user(&self, username: &str) -> Option<&BasicEntry> {
        self.basic.get(username)
    }

    /// Whether `consumer` may call `service`: an approved subscription.
    pub fn approved(&self, consumer: &Consumer, service: &ServicePolicy) -> bool {
        self.approved.contains(&(consumer.app, service.id))
    }

    /// Credentials compiled (API keys).
    pub fn keys(&self) -> usize {
        self.keys.len()
    }
}

fn consumers(data: &AccessData) -> HashMap<Id, Arc<Consumer>> {
    let teams: HashMap<Id, Arc<str>> = data
        .teams
        .iter()
        .map(|t| (t.id, t.name.as_str().into()))
        .collect();
    data.apps
        .iter()
        .filter_map(|a| {
            let team_name = teams.get(&a.team)?.clone();
            let consumer = Consumer {
                app: a.id,
                app_name: a.name.as_str().into(),
                team: a.team,
                team_name,
            };
            Some((a.id, Arc::new(consumer)))
        })
        .collect()
}

fn service_policy(s: &crate::model::Service) -> ServicePolicy {
    ServicePolicy {
        id: s.id,
        auth: s.spec.auth.clone(),
        key_header: s.spec.key_header.to_ascii_lowercase().into(),
        key_query: s.spec.key_query.as_deref().map(Into::into),
    }
}

/// Compiles one JWT credential; `None` when it is not one, or its keys
/// cannot be used (no JWKS fetched yet, a bad secret).
fn jwt_entry(
    c: &crate::model::Credential,
    consumers: &HashMap<Id, Arc<Consumer>>,
    jwks: &crate::jwks::JwksCache,
    leeway: u64,
) -> Option<JwtEntry> {
    let CredentialKind::Jwt(spec) = &c.kind else {
        return None;
    };
    let algorithm: jsonwebtoken::Algorithm = spec.algorithm.parse().ok()?;
    let keys = match (&spec.secret, &spec.jwks) {
        (Some(secret), _) => {
            JwtKeys::Secret(jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()).ok()?)
        }
        (None, Some(source)) => key_set(jwks.get(source)?),
        (None, None) => return None,
    };
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.leeway = leeway;
    validation.validate_nbf = true;
    validation.set_issuer(&[&spec.issuer]);
    match &spec.audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    Some(JwtEntry {
        credential: c.id,
        consumer: Arc::clone(consumers.get(&c.app)?),
        algorithm,
        validation,
        keys,
        jwks: spec.jwks.clone(),
        issuer: spec.issuer.as_str().into(),
    })
}

fn key_set(set: &jsonwebtoken::jwk::JwkSet) -> JwtKeys {
    let mut by_kid = HashMap::new();
    let mut only = None;
    for jwk in &set.keys {
        let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match &jwk.common.key_id {
            Some(kid) => {
                by_kid.insert(kid.clone(), key);
            }
            None => only = Some(key),
        }
    }
    let lone = match (set.keys.len(), only) {
        (1, only) => only,
        _ => None,
    };
    JwtKeys::Set(by_kid, lone)
}

impl JwtEntry {
    /// The key for a token's `kid`.
    fn key(&self, kid: Option<&str>) -> Option<&jsonwebtoken::DecodingKey> {
        match (&self.keys, kid) {
            (JwtKeys::Secret(k), _) => Some(k),
            (JwtKeys::Set(by_kid, _), Some(kid)) => by_kid.get(kid),
            (JwtKeys::Set(_, lone), None) => lone.as_ref(),
        }
    }
}

//! The objects: teams own services and apps, apps hold credentials and
//! subscribe to services. Plain values; the store gives them their ids.

use serde::{Deserialize, Serialize};

/// A store id.
pub type Id = i64;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// Its id.
    pub id: Id,
    /// Unique among teams.
    pub name: String,
    /// Declared in the config file: read-only through the API.
    #[serde(default)]
    pub declared: bool,
}

/// Who sees a service in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Every team.
    Public,
    /// Its own team only.
    Team,
}

/// Whether a subscription needs the owning team's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Approved as soon as it is applied for.
    Auto,
    /// Pending until the service's team approves it.
    Required,
}

/// A kind of credential a service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// An API key in a header or query parameter.
    Key,
    /// A JSON Web Token.
    Jwt,
    /// HTTP Basic.
    Basic,
}

/// What a service is, as created or updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Unique among services: routes name their service.
    pub name: String,
    /// Who sees it.
    pub visibility: Visibility,
    /// Whether subscriptions need approval.
    pub approval: Approval,
    /// The credentials it accepts; empty: none needed.
    pub auth: Vec<AuthKind>,
    /// The header an API key comes in.
    pub key_header: String,
    /// The query parameter an API key may come in instead, if any.
    pub key_query: Option<String>,
}

/// An API: a set of routes with its access policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Its id.
    pub id: Id,
    /// The team that owns it.
    pub team: Id,
    /// What it is.
    #[serde(flatten)]
    pub spec: ServiceSpec,
    /// Declared in the config file: read-only through the API.
    #[serde(default)]
    pub declared: bool,
}

/// A consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Its id.
    pub id: Id,
    /// The team that owns it.
    pub team: Id,
    /// Unique within its team.
    pub name: String,
    /// Declared in the config file: read-only through the API.
    #[serde(default)]
    pub declared: bool,
}

/// A credential's secret part, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CredentialKind {
    /// An API key: its SHA-256 digest and its first characters.
    Key {
        /// SHA-256 of the key.
        #[serde(skip)]
        digest: [u8; 32],
        /// The first 8 characters, to tell keys apart.
        shown: String,
    },
    /// A Basic user name and its password's argon2id PHC string.
    Basic {
        /// Unique among Basic credentials.
        username: String,
        /// The password hash.
        #[serde(skip)]
        phc: String,
    },
    /// JSON Web Tokens of one issuer, verified with a pinned algorithm.
    Jwt(JwtSpec),
}

/// What a JWT credential accepts: tokens whose `iss` is `issuer` (which
/// maps them to the app), signed with `algorithm` by a key from `jwks`
/// (asymmetric algorithms) or with `secret` (HMAC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    /// The `iss` claim; unique among JWT credentials.
    pub issuer: String,
    /// The `aud` claim the token must carry, if any.
    #[serde(default)]
    pub audience: Option<String>,
    /// `ES256`, `RS256`, `HS256`...; never `none`.
    pub algorithm: String,
    /// Where the keys are: an `http(s)://` JWKS URL, or `file:/path` to a
    /// JWKS document (asymmetric algorithms).
    #[serde(default)]
    pub jwks: Option<String>,
    /// The HMAC secret (HS algorithms), at least 32 bytes; never shown.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
}

/// The algorithms a JWT credential may pin.
pub const JWT_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

impl JwtSpec {
    /// Checks the spec: a known algorithm, and exactly the key source it needs.
    pub fn check(&self) -> Result<(), crate::StoreError> {
        let bad = |field, reason: &str| crate::StoreError::Invalid {
            field,
            reason: reason.to_owned(),
        };
        check_name("issuer", &self.issuer)?;
        if !JWT_ALGORITHMS.contains(&self.algorithm.as_str()) {
            return Err(bad(
                "algorithm",
                "must be one of HS256..HS512, RS256..RS512, PS256..PS512, ES256, ES384, EdDSA",
            ));
        }
        let hmac = self.algorithm.starts_with("HS");
        match (hmac, &self.secret, &self.jwks) {
            (true, Some(s), None) if s.len() >= 32 && s.len() <= 1024 => Ok(()),
            (true, _, _) => Err(bad("secret", "an HS algorithm needs a secret of 32 to 1024 bytes, and no jwks")),
            (false, None, Some(j)) if is_jwks_source(j) => Ok(()),
            (false, _, _) => Err(bad("jwks", "an asymmetric algorithm needs jwks: an http(s):// URL or file:/absolute/path, and no secret")),
        }
    }
}

fn is_jwks_source(s: &str) -> bool {
    let ok_chars = !s.chars().any(|c| c.is_control() || c.is_whitespace()) && s.len() <= 2048;
    ok_chars
        && (s.starts_with("http://")
            || s.starts_with("https://")
            || s.strip_prefix("file:").is_some_and(|p| p.starts_with('/')))
}

/// A credential of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Its id.
    pub id: Id,
    /// The app it belongs to.
    pub app: Id,
    /// Its kind and stored secret.
    #[serde(flatten)]
    pub kind: CredentialKind,
}

/// A team's token for the management API: it acts for its team only.
/// The token itself is shown once; the store keeps its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Its id.
    pub id: Id,
    /// The team it acts for.
    pub team: Id,
    /// Its first characters, to tell tokens apart.
    pub shown: String,
}

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubState {
    /// Waiting for the service's team.
    Pending,
    /// Calls go through.
    Approved,
    /// Refused; the app may apply again.
    Rejected,
    /// Withdrawn after approval; the app may apply again.
    Revoked,
}

/// What the service's team decides about a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Pending → approved.
    Approve,
    /// Pending → rejected.
    Reject,
    /// Approved → revoked.
    Revoke,
}

/// An app's subscription to a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its id.
    pub id: Id,
    /// The subscribing app.
    pub app: Id,
    /// The service.
    pub service: Id,
    /// Where it stands.
    pub state: SubState,
    /// Declared in the config file: read-only through the API.
    #[serde(default)]
    pub declared: bool,
}

// === impl SubState ===

impl SubState {
    /// The state an application starts in.
    pub fn applied(approval: Approval) -> SubState {
        match approval {
            Approval::Auto => SubState::Approved,
            Approval::Required => SubState::Pending,
        }
    }

    /// The state after `action`, or `None` when it does not apply here.
    pub fn after(self, action: Action) -> Option<SubState> {
        match (self, action) {
            (SubState::Pending, Action::Approve) => Some(SubState::Approved),
            (SubState::Pending, Action::Reject) => Some(SubState::Rejected),
            (SubState::Approved, Action::Revoke) => Some(SubState::Revoked),
            _ => None,
        }
    }

    /// Whether an app in this state may apply again.
    pub fn may_reapply(self) -> bool {
        matches!(self, SubState::Rejected | SubState::Revoked)
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            SubState::Pending => "pending",
            SubState::Approved => "approved",
            SubState::Rejected => "rejected",
            SubState::Revoked => "revoked",
        }
    }

    /// From the stored text.
    pub fn parse(s: &str) -> Option<SubState> {
        [
            SubState::Pending,
            SubState::Approved,
            SubState::Rejected,
            SubState::Revoked,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// Checks a name: 1 to 128 bytes, no control characters. Quotes, spaces
/// and SQL are fine: every query is parameterised.
pub fn check_name(field: &'static str, name: &str) -> Result<(), crate::StoreError> {
    let bad = |reason: &str| crate::StoreError::Invalid {
        field,
        reason: reason.to_owned(),
    };
    if name.is_empty() || name.len() > 128 {
        return Err(bad("must be 1 to 128 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_move_only_along_their_transitions() {
        use Action::*;
        use SubState::*;
        assert_eq!(SubState::applied(Approval::Auto), Approved);
        assert_eq!(SubState::applied(Approval::Required), Pending);
        assert_eq!(Pending.after(Approve), Some(Approved));
        assert_eq!(Pending.after(Reject), Some(Rejected));
        assert_eq!(Approved.after(Revoke), Some(Revoked));
        for (s, a) in [
            (Pending, Revoke),
            (Approved, Approve),
            (Approved, Reject),
            (Rejected, Approve),
            (Revoked, Approve),
            (Revoked, Revoke),
        ] {
            assert_eq!(s.after(a), None, "{s:?} {a:?}");
        }
        assert!(Rejected.may_reapply() && Revoked.may_reapply() && !Pending.may_reapply());
        for s in [Pending, Approved, Rejected, Revoked] {
            assert_eq!(SubState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn names_allow_quotes_but_not_controls_or_empties() {
        assert!(check_name("name", "o'brien \"; DROP TABLE teams; --").is_ok());
        assert!(check_name("name", "").is_err());
        assert!(check_name("name", "a\nb").is_err());
        assert!(check_name("name", &"x".repeat(129)).is_err());
    }
}

/// Objects declared in the config file, by name: the gateway writes them
/// into the store at start and on every reload (and removes the ones no
/// longer declared).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredSet {
    /// Team names.
    pub teams: Vec<String>,
    /// Services, with their team's name.
    pub services: Vec<(String, ServiceSpec)>,
    /// Apps, as (team, name).
    pub apps: Vec<(String, String)>,
    /// Approved subscriptions, as ((team, app), service).
    pub subscriptions: Vec<((String, String), String)>,
}

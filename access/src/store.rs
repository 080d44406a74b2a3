//! The store behind the management API: one interface, [`Store`], and its
//! two backends, embedded SQLite by default and PostgreSQL for several
//! gateway hosts, which share one implementation ([`SqlStore`]) and differ
//! only in how they run a statement. Every call takes a
//! [`Scope`], and every write bumps one revision counter in the same
//! transaction, which the control thread polls to know when to recompile
//! the snapshot.

mod postgres;
mod schema;
mod sql;
mod sqlite;

pub use postgres::{Postgres, PostgresStore};
pub use sql::SqlStore;
pub use sqlite::{Sqlite, SqliteStore};

use crate::model::{
    Action, ApiToken, App, Credential, Id, Service, ServiceSpec, SubState, Subscription, Team,
};

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The root token: everything.
    Root,
    /// A team's token: its own teams' objects, the services it may see,
    /// and the subscriptions on either side of it.
    Team(Id),
}

/// A slice of a list, in id order, optionally of one team's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Ids above this one (0: from the start).
    pub after: Id,
    /// At most this many (capped at 1,000).
    pub limit: u32,
    /// Only this team's objects (services, apps; for subscriptions, those
    /// of this team's apps).
    pub team: Option<Id>,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            after: 0,
            limit: 100,
            team: None,
        }
    }
}

/// Everything the store holds, for compiling into the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessData {
    /// The revision this was read at.
    pub revision: u64,
    /// Every team.
    pub teams: Vec<Team>,
    /// Every service.
    pub services: Vec<Service>,
    /// Every app.
    pub apps: Vec<App>,
    /// Every credential, digests and PHC strings included.
    pub credentials: Vec<Credential>,
    /// Every subscription.
    pub subscriptions: Vec<Subscription>,
}

/// Units a quota policy counted for one key in one step of its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCount {
    /// The policy's name.
    pub policy: String,
    /// The key's hash (the same in every process of this build).
    pub key: i64,
    /// The step's number.
    pub step: i64,
    /// Units counted.
    pub count: i64,
}

/// Why a store call failed. An object outside the caller's scope is
/// [`StoreError::NotFound`], exactly as one that does not exist.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// No such object, or not one the caller may see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The scope may not do this at all (a team creating teams).
    #[error("not allowed for this token")]
    Forbidden,
    /// A name or pair that must be unique is taken, or a subscription
    /// that cannot move that way.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A field's value is not acceptable.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The database failed (its message names no secret).
    #[error("store: {0}")]
    Backend(String),
}

/// The operations of every backend.
pub trait Store {
    /// The revision: bumped by every write.
    fn revision(&self) -> Result<u64, StoreError>;
    /// Everything, at one revision.
    fn load(&self) -> Result<AccessData, StoreError>;
    /// Writes the objects declared in the config file (read-only through
    /// the API) and removes the declared ones no longer there.
    fn sync_declared(&self, d: &crate::model::DeclaredSet) -> Result<(), StoreError>;
    /// The quota counts host `node` saved (not a change: no revision bump).
    fn quota_counts(&self, node: &str) -> Result<Vec<QuotaCount>, StoreError>;
    /// Saves host `node`'s quota counts at `now` (Unix seconds), replacing
    /// those of the same policy, key and step, and forgets every count
    /// saved more than 32 days (the longest window) before.
    fn save_quota_counts(
        &self,
        node: &str,
        counts: &[QuotaCount],
        now: i64,
    ) -> Result<(), StoreError>;

    /// Creates a team (root only).
    fn create_team(&self, scope: Scope, name: &str) -> Result<Team, StoreError>;
    /// A team the scope may see.
    fn team(&self, scope: Scope, id: Id) -> Result<Team, StoreError>;
    /// Renames a team (the root, or the team itself).
    fn rename_team(&self, scope: Scope, id: Id, name: &str) -> Result<Team, StoreError>;
    /// The teams the scope may see.
    fn teams(&self, scope: Scope, page: Page) -> Result<Vec<Team>, StoreError>;
    /// Deletes a team with everything it owns (root only).
    fn delete_team(&self, scope: Scope, id: Id) -> Result<(), StoreError>;

    /// Creates a service owned by `team` (root only: routes name their
    /// service, so the operator hands out names).
    fn create_service(
        &self,
        scope: Scope,
        team: Id,
        spec: &ServiceSpec,
    ) -> Result<Service, StoreError>;
    /// A service the scope may see.
    fn service(&self, scope: Scope, id: Id) -> Result<Service, StoreError>;
    /// The services the scope may see.
    fn services(&self, scope: Scope, page: Page) -> Result<Vec<Service>, StoreError>;
    /// Replaces a service's spec (its team; a new name, root only).
    fn update_service(
        &self,
        scope: Scope,
        id: Id,
        spec: &ServiceSpec,
    ) -> Result<Service, StoreError>;
    /// Deletes a service and its subscriptions (its team only).
    fn delete_service(&self, scope: Scope, id: Id) -> Result<(), StoreError>;

    /// Creates an app owned by `team`.
    fn create_app(&self, scope: Scope, team: Id, name: &str) -> Result<App, StoreError>;
    /// An app of the scope.
    fn app(&self, scope: Scope, id: Id) -> Result<App, StoreError>;
    /// Renames an app.
    fn rename_app(&self, scope: Scope, id: Id, name: &str) -> Result<App, StoreError>;
    /// The apps of the scope.
    fn apps(&self, scope: Scope, page: Page) -> Result<Vec<App>, StoreError>;
    /// Deletes an app with its credentials and subscriptions.
    fn delete_app(&self, scope: Scope, id: Id) -> Result<(), StoreError>;

    /// Generates an API key for an app: the credential, and the key,
    /// which is never stored and cannot be shown again.
    fn add_key(&self, scope: Scope, app: Id) -> Result<(Credential, String), StoreError>;
    /// Adds a Basic credential (the password is kept as argon2id).
    fn add_basic(
        &self,
        scope: Scope,
        app: Id,
        username: &str,
        password: &str,
    ) -> Result<Credential, StoreError>;
    /// Adds a JWT credential: tokens of its issuer identify the app.
    fn add_jwt(
        &self,
        scope: Scope,
        app: Id,
        spec: &crate::model::JwtSpec,
    ) -> Result<Credential, StoreError>;
    /// An app's credentials.
    fn credentials(&self, scope: Scope, app: Id) -> Result<Vec<Credential>, StoreError>;
    /// Deletes a credential.
    fn delete_credential(&self, scope: Scope, id: Id) -> Result<(), StoreError>;

    /// Applies for `app` to use `service`: approved at once under
    /// `approval = "auto"`, pending otherwise.
    fn apply(&self, scope: Scope, app: Id, service: Id) -> Result<Subscription, StoreError>;
    /// Approves, rejects or revokes (the service's team only).
    fn decide(&self, scope: Scope, id: Id, action: Action) -> Result<Subscription, StoreError>;
    /// Issues a management-API token acting for `team`: the record, and
    /// the token, which is never stored and cannot be shown again.
    fn create_token(&self, scope: Scope, team: Id) -> Result<(ApiToken, String), StoreError>;
    /// The tokens of `team`.
    fn tokens(&self, scope: Scope, team: Id) -> Result<Vec<ApiToken>, StoreError>;
    /// Revokes a token.
    fn delete_token(&self, scope: Scope, id: Id) -> Result<(), StoreError>;
    /// The scope a presented team token acts in; `None`: no such token.
    fn token_scope(&self, presented: &[u8]) -> Result<Option<Scope>, StoreError>;

    /// Subscriptions where the scope owns the app or the service,
    /// optionally in one state.
    fn subscriptions(
        &self,
        scope: Scope,
        state: Option<SubState>,
        page: Page,
    ) -> Result<Vec<Subscription>, StoreError>;
}

/// Where the store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// `access.db` in this directory (created if missing).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL, shared by several gateway hosts, and the CA file
    /// its server's certificate is verified against (else the system's).
    Postgres(String, Option<std::path::PathBuf>),
}

impl Location {
    /// Opens a connection (migrating the schema if needed).
    pub fn open(&self) -> Result<Box<dyn Store + Send>, StoreError> {
        Ok(match self {
            Location::Sqlite(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend(e.to_string()))?;
                Box::new(SqliteStore::open(dir)?)
            }
            Location::Postgres(url, ca) => {
                Box::new(PostgresStore::connect_with(url, ca.as_deref())?)
            }
        })
    }
}

/// The location without any password.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(dir) => write!(f, "{}", dir.display()),
            Location::Postgres(url, _) => f.write_str(&redact(url)),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`; a
/// `password=` parameter is cut as well.
pub fn redact(url: &str) -> String {
    let url = match url.split_once('?') {
        Some((base, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
                .collect();
            match kept.is_empty() {
                true => base.to_owned(),
                false => format!("{base}?{}", kept.join("&")),
            }
        }
        None => url.to_owned(),
    };
    redact_user(&url)
}

fn redact_user(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((auth, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_show() {
        assert_eq!(
            super::redact("postgres://u:p@ss@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("postgresql://h/db"), "postgresql://h/db");
        assert_eq!(
            super::redact("postgres://h/db?sslmode=disable&password=s3"),
            "postgres://h/db?sslmode=disable"
        );
    }
}

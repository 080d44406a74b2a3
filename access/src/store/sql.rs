//! The store's logic once, over any SQL database: every scope check,
//! validation and query of [`Store`], written against [`Conn`] (run a
//! statement) and [`Db`] (run a read or write transaction). SQLite and
//! PostgreSQL differ only below that line. Statements use `?N`
//! placeholders and standard SQL; a backend rewrites what it must.

use super::{AccessData, Page, QuotaCount, Scope, Store, StoreError};
use crate::key;
use crate::model::{
    check_name, Action, ApiToken, App, Approval, AuthKind, Credential, CredentialKind, DeclaredSet,
    Id, JwtSpec, Service, ServiceSpec, SubState, Subscription, Team, Visibility,
};

pub(super) type Result<T> = std::result::Result<T, StoreError>;

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Val {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_owned())
    }
}
impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Val {
        Val::Blob(v.to_vec())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// One result row.
#[derive(Debug)]
pub(super) struct Row(pub(super) Vec<Val>);

impl Row {
    fn bad(i: usize) -> StoreError {
        StoreError::Backend(format!("unexpected value in column {i}"))
    }
    fn int(&self, i: usize) -> Result<i64> {
        match self.0.get(i) {
            Some(Val::Int(v)) => Ok(*v),
            _ => Err(Row::bad(i)),
        }
    }
    fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?.ok_or_else(|| Row::bad(i))
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.0.get(i) {
            Some(Val::Text(v)) => Ok(Some(v.clone())),
            Some(Val::Null) => Ok(None),
            _ => Err(Row::bad(i)),
        }
    }
    fn blob(&self, i: usize) -> Result<Vec<u8>> {
        match self.0.get(i) {
            Some(Val::Blob(v)) => Ok(v.clone()),
            Some(Val::Null) => Ok(Vec::new()),
            _ => Err(Row::bad(i)),
        }
    }
}

/// Runs statements (inside a transaction).
pub(super) trait Conn {
    /// Waits until no other transaction of this kind runs (a backend
    /// whose writers are already serialised does nothing).
    fn serialize(&mut self) -> Result<()> {
        Ok(())
    }
    /// The rows of a query.
    fn rows(&mut self, sql: &str, args: &[Val]) -> Result<Vec<Row>>;
    /// Runs a statement; the rows it changed.
    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64>;
    /// Runs an `INSERT` into a table with an `id` key; the new id.
    fn insert(&mut self, sql: &str, args: &[Val]) -> Result<Id>;
}

/// A database: transactions over a [`Conn`].
pub(super) trait Db {
    /// `f` in a read-only transaction that sees one state throughout.
    fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T>;
    /// `f` in a write transaction, committed if it succeeds.
    fn write<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T>;
}

/// The store over the database `D`.
#[derive(Debug)]
pub struct SqlStore<D> {
    pub(super) db: D,
}

// `Db` is sealed: the backends are this crate's own.
#[allow(private_bounds)]
impl<D: Db> SqlStore<D> {
    /// Writes the objects declared in the config file into the store (as
    /// declared: read-only through the API), and deletes the declared
    /// objects that are no longer, in one transaction. An object of the same
    /// name made through the API is taken over.
    fn declare(&self, d: &DeclaredSet) -> Result<()> {
        self.change(|c| {
            // Hosts that start or reload together declare one at a time.
            c.serialize()?;
            let teams = declare_teams(c, &d.teams)?;
            let services = declare_services(c, &teams, &d.services)?;
            let apps = declare_apps(c, &teams, &d.apps)?;
            declare_subscriptions(c, &apps, &services, &d.subscriptions)
        })
    }

    /// A write that also bumps the revision, in the same transaction.
    fn change<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.db.write(|c| {
            let out = f(c)?;
            c.exec("UPDATE revision SET seq = seq + 1", &[])?;
            Ok(out)
        })
    }
}

// --- scopes ---

/// The team filter of a scope: `None` for the root.
fn team_of(scope: Scope) -> Val {
    match scope {
        Scope::Root => Val::Null,
        Scope::Team(t) => Val::Int(t),
    }
}

/// `team` as the scope may act for it.
fn own(scope: Scope, team: Id, what: &'static str) -> Result<()> {
    match scope {
        Scope::Team(t) if t != team => Err(StoreError::NotFound(what)),
        _ => Ok(()),
    }
}

fn root_only(scope: Scope) -> Result<()> {
    match scope {
        Scope::Root => Ok(()),
        Scope::Team(_) => Err(StoreError::Forbidden),
    }
}

fn limit(page: Page) -> Val {
    Val::Int(i64::from(page.limit.clamp(1, 1000)))
}

// --- rows ---

const TEAM_COLS: &str = "id, name, declared";
const APP_COLS: &str = "id, team, name, declared";
const SERVICE_COLS: &str =
    "id, team, name, visibility, approval, auth, key_header, key_query, declared";
const CREDENTIAL_COLS: &str =
    "id, app, kind, digest, shown, username, phc, issuer, audience, algorithm, jwks, secret";
const SUBSCRIPTION_COLS: &str = "id, app, service, state, declared";

fn team_row(r: &Row) -> Result<Team> {
    Ok(Team {
        id: r.int(0)?,
        name: r.text(1)?,
        declared: r.int(2)? != 0,
    })
}

fn service_row(r: &Row) -> Result<Service> {
    Ok(Service {
        id: r.int(0)?,
        team: r.int(1)?,
        spec: ServiceSpec {
            name: r.text(2)?,
            visibility: match r.text(3)?.as_str() {
                "public" => Visibility::Public,
                _ => Visibility::Team,
            },
            approval: match r.text(4)?.as_str() {
                "auto" => Approval::Auto,
                _ => Approval::Required,
            },
            auth: auth_kinds(&r.text(5)?),
            key_header: r.text(6)?,
            key_query: r.opt_text(7)?,
        },
        declared: r.int(8)? != 0,
    })
}

fn auth_kinds(text: &str) -> Vec<AuthKind> {
    text.split(',')
        .filter_map(|k| match k {
            "key" => Some(AuthKind::Key),
            "jwt" => Some(AuthKind::Jwt),
            "basic" => Some(AuthKind::Basic),
            _ => None,
        })
        .collect()
}

fn auth_text(kinds: &[AuthKind]) -> String {
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| match k {
            AuthKind::Key => "key",
            AuthKind::Jwt => "jwt",
            AuthKind::Basic => "basic",
        })
        .collect();
    names.join(",")
}

fn visibility_text(v: Visibility) -> &'static str {
    match v {
        Visibility::Public => "public",
        Visibility::Team => "team",
    }
}

fn approval_text(a: Approval) -> &'static str {
    match a {
        Approval::Auto => "auto",
        Approval::Required => "required",
    }
}

fn app_row(r: &Row) -> Result<App> {
    Ok(App {
        id: r.int(0)?,
        team: r.int(1)?,
        name: r.text(2)?,
        declared: r.int(3)? != 0,
    })
}

fn credential_row(r: &Row) -> Result<Credential> {
    let kind = match r.text(2)?.as_str() {
        "key" => {
            let bytes = r.blob(3)?;
            let mut digest = [0u8; 32];
            if bytes.len() == 32 {
                digest.copy_from_slice(&bytes);
            }
            CredentialKind::Key {
                digest,
                shown: r.text(4)?,
            }
        }
        "jwt" => CredentialKind::Jwt(JwtSpec {
            issuer: r.text(7)?,
            audience: r.opt_text(8)?,
            algorithm: r.text(9)?,
            jwks: r.opt_text(10)?,
            secret: r.opt_text(11)?,
        }),
        _ => CredentialKind::Basic {
            username: r.text(5)?,
            phc: r.text(6)?,
        },
    };
    Ok(Credential {
        id: r.int(0)?,
        app: r.int(1)?,
        kind,
    })
}

fn subscription_row(r: &Row) -> Result<Subscription> {
    Ok(Subscription {
        id: r.int(0)?,
        app: r.int(1)?,
        service: r.int(2)?,
        state: SubState::parse(&r.text(3)?).unwrap_or(SubState::Revoked),
        declared: r.int(4)? != 0,
    })
}

fn token_row(r: &Row) -> Result<ApiToken> {
    Ok(ApiToken {
        id: r.int(0)?,
        team: r.int(1)?,
        shown: r.text(2)?,
    })
}

fn check_spec(spec: &ServiceSpec) -> Result<()> {
    check_name("name", &spec.name)?;
    check_name("key_header", &spec.key_header)?;
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !spec.key_header.bytes().all(token) {
        return Err(StoreError::Invalid {
            field: "key_header",
            reason: "must be a header name (RFC 9110 token)".into(),
        });
    }
    if let Some(q) = &spec.key_query {
        check_name("key_query", q)?;
    }
    Ok(())
}

fn check_basic(username: &str, password: &str) -> Result<()> {
    check_name("username", username)?;
    if username.contains(':') {
        return Err(StoreError::Invalid {
            field: "username",
            reason: "must not contain ':' (RFC 7617)".into(),
        });
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(StoreError::Invalid {
            field: "password",
            reason: "must be 1 to 1024 bytes".into(),
        });
    }
    Ok(())
}

// --- lookups ---

fn all<T>(
    c: &mut dyn Conn,
    sql: &str,
    args: &[Val],
    row: impl Fn(&Row) -> Result<T>,
) -> Result<Vec<T>> {
    c.rows(sql, args)?.iter().map(row).collect()
}

/// The one row `sql` finds for `id`, or `what` not found.
fn one<T>(
    c: &mut dyn Conn,
    sql: &str,
    id: Id,
    row: impl Fn(&Row) -> Result<T>,
    what: &'static str,
) -> Result<T> {
    match c.rows(sql, &[Val::Int(id)])?.first() {
        Some(r) => row(r),
        None => Err(StoreError::NotFound(what)),
    }
}

fn get_service(c: &mut dyn Conn, id: Id) -> Result<Service> {
    let sql = format!("SELECT {SERVICE_COLS} FROM services WHERE id = ?1");
    one(c, &sql, id, service_row, "service")
}

fn get_app(c: &mut dyn Conn, id: Id) -> Result<App> {
    let sql = format!("SELECT {APP_COLS} FROM apps WHERE id = ?1");
    one(c, &sql, id, app_row, "app")
}

fn get_subscription(c: &mut dyn Conn, id: Id) -> Result<Subscription> {
    let sql = format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE id = ?1");
    one(c, &sql, id, subscription_row, "subscription")
}

/// A service `scope` may see: its own team's, or a public one.
fn visible_service(c: &mut dyn Conn, scope: Scope, id: Id) -> Result<Service> {
    let s = get_service(c, id)?;
    match scope {
        Scope::Team(t) if s.team != t && s.spec.visibility != Visibility::Public => {
            Err(StoreError::NotFound("service"))
        }
        _ => Ok(s),
    }
}

/// An app of `scope`.
fn own_app(c: &mut dyn Conn, scope: Scope, id: Id) -> Result<App> {
    let a = get_app(c, id)?;
    own(scope, a.team, "app")?;
    Ok(a)
}

fn team_exists(c: &mut dyn Conn, id: Id) -> Result<()> {
    one(
        c,
        "SELECT id FROM teams WHERE id = ?1",
        id,
        |_| Ok(()),
        "team",
    )
}

/// Refuses a change to an object declared in the config file.
fn writable(c: &mut dyn Conn, table: &'static str, id: Id) -> Result<()> {
    let sql = format!("SELECT declared FROM {table} WHERE id = ?1");
    match c.rows(&sql, &[id.into()])?.first().map(|r| r.int(0)) {
        Some(Ok(1)) => Err(StoreError::Conflict(
            "declared in the config file: change it there".into(),
        )),
        _ => Ok(()),
    }
}

/// Deletes row `id` of `table` (one of the schema's, never input).
fn delete_row(c: &mut dyn Conn, table: &'static str, id: Id, what: &'static str) -> Result<()> {
    match c.exec(
        &format!("DELETE FROM {table} WHERE id = ?1"),
        &[Val::Int(id)],
    )? {
        0 => Err(StoreError::NotFound(what)),
        _ => Ok(()),
    }
}

fn spec_args(spec: &ServiceSpec) -> [Val; 6] {
    [
        spec.name.as_str().into(),
        visibility_text(spec.visibility).into(),
        approval_text(spec.approval).into(),
        auth_text(&spec.auth).as_str().into(),
        spec.key_header.as_str().into(),
        spec.key_query.as_deref().into(),
    ]
}

fn revision(c: &mut dyn Conn) -> Result<u64> {
    let rows = c.rows("SELECT seq FROM revision", &[])?;
    let seq = rows.first().map_or(Ok(0), |r| r.int(0))?;
    Ok(seq as u64)
}

fn load(c: &mut dyn Conn) -> Result<AccessData> {
    Ok(AccessData {
        revision: revision(c)?,
        teams: all(
            c,
            &format!("SELECT {TEAM_COLS} FROM teams ORDER BY id"),
            &[],
            team_row,
        )?,
        services: all(
            c,
            &format!("SELECT {SERVICE_COLS} FROM services ORDER BY id"),
            &[],
            service_row,
        )?,
        apps: all(
            c,
            &format!("SELECT {APP_COLS} FROM apps ORDER BY id"),
            &[],
            app_row,
        )?,
        credentials: all(
            c,
            &format!("SELECT {CREDENTIAL_COLS} FROM credentials ORDER BY id"),
            &[],
            credential_row,
        )?,
        subscriptions: all(
            c,
            &format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions ORDER BY id"),
            &[],
            subscription_row,
        )?,
    })
}

#[allow(private_bounds)]
impl<D: Db> Store for SqlStore<D> {
    fn revision(&self) -> Result<u64> {
        self.db.read(revision)
    }

    fn sync_declared(&self, d: &DeclaredSet) -> Result<()> {
        self.declare(d)
    }

    fn load(&self) -> Result<AccessData> {
        // One read transaction: every table at the same revision.
        self.db.read(load)
    }

    fn quota_counts(&self, node: &str) -> Result<Vec<QuotaCount>> {
        let sql = "SELECT policy, key, step, count FROM quota_counts WHERE node = ?1";
        self.db.read(|c| {
            all(c, sql, &[node.into()], |r| {
                Ok(QuotaCount {
                    policy: r.text(0)?,
                    key: r.int(1)?,
                    step: r.int(2)?,
                    count: r.int(3)?,
                })
            })
        })
    }

    fn save_quota_counts(&self, node: &str, counts: &[QuotaCount], now: i64) -> Result<()> {
        let sql = "INSERT INTO quota_counts (node, policy, key, step, count, saved)
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                   ON CONFLICT (node, policy, key, step)
                   DO UPDATE SET count = excluded.count, saved = excluded.saved";
        self.db.write(|c| {
            for q in counts {
                let args = [
                    node.into(),
                    q.policy.as_str().into(),
                    q.key.into(),
                    q.step.into(),
                    q.count.into(),
                    now.into(),
                ];
                c.exec(sql, &args)?;
            }
            let old = now - 32 * 86_400;
            c.exec("DELETE FROM quota_counts WHERE saved < ?1", &[old.into()])?;
            Ok(())
        })
    }

    fn create_team(&self, scope: Scope, name: &str) -> Result<Team> {
        root_only(scope)?;
        check_name("name", name)?;
        self.change(|c| {
            let id = c.insert("INSERT INTO teams (name) VALUES (?1)", &[name.into()])?;
            Ok(Team {
                id,
                name: name.to_owned(),
                declared: false,
            })
        })
    }

    fn teams(&self, scope: Scope, page: Page) -> Result<Vec<Team>> {
        let sql = format!("SELECT {TEAM_COLS} FROM teams WHERE id > ?1 AND (CAST(?2 AS BIGINT) IS NULL OR id = ?2) ORDER BY id LIMIT ?3");
        let args = [page.after.into(), team_of(scope), limit(page)];
        self.db.read(|c| all(c, &sql, &args, team_row))
    }

    fn team(&self, scope: Scope, id: Id) -> Result<Team> {
        own(scope, id, "team")?;
        self.db.read(|c| {
            one(
                c,
                &format!("SELECT {TEAM_COLS} FROM teams WHERE id = ?1"),
                id,
                team_row,
                "team",
            )
        })
    }

    fn rename_team(&self, scope: Scope, id: Id, name: &str) -> Result<Team> {
        own(scope, id, "team")?;
        check_name("name", name)?;
        self.change(|c| {
            writable(c, "teams", id)?;
            match c.exec(
                "UPDATE teams SET name = ?2 WHERE id = ?1",
                &[id.into(), name.into()],
            )? {
                0 => Err(StoreError::NotFound("team")),
                _ => one(
                    c,
                    &format!("SELECT {TEAM_COLS} FROM teams WHERE id = ?1"),
                    id,
                    team_row,
                    "team",
                ),
            }
        })
    }

    fn delete_team(&self, scope: Scope, id: Id) -> Result<()> {
        root_only(scope)?;
        self.change(|c| {
            writable(c, "teams", id)?;
            delete_row(c, "teams", id, "team")
        })
    }

    fn create_service(&self, scope: Scope, team: Id, spec: &ServiceSpec) -> Result<Service> {
        // Routes name their service: only the operator hands out names.
        root_only(scope)?;
        check_spec(spec)?;
        self.change(|c| {
            team_exists(c, team)?;
            let mut args = vec![team.into()];
            args.extend(spec_args(spec));
            let sql = "INSERT INTO services (team, name, visibility, approval, auth, key_header, key_query) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
            let id = c.insert(sql, &args)?;
            get_service(c, id)
        })
    }

    fn service(&self, scope: Scope, id: Id) -> Result<Service> {
        self.db.read(|c| visible_service(c, scope, id))
    }

    fn services(&self, scope: Scope, page: Page) -> Result<Vec<Service>> {
        let sql = format!("SELECT {SERVICE_COLS} FROM services WHERE id > ?1 AND (CAST(?2 AS BIGINT) IS NULL OR team = ?2 OR visibility = 'public') AND (CAST(?4 AS BIGINT) IS NULL OR team = ?4) ORDER BY id LIMIT ?3");
        let args = [
            page.after.into(),
            team_of(scope),
            limit(page),
            page.team.into(),
        ];
        self.db.read(|c| all(c, &sql, &args, service_row))
    }

    fn update_service(&self, scope: Scope, id: Id, spec: &ServiceSpec) -> Result<Service> {
        check_spec(spec)?;
        self.change(|c| {
            let old = get_service(c, id)?;
            own(scope, old.team, "service")?;
            writable(c, "services", id)?;
            if old.spec.name != spec.name && scope != Scope::Root {
                return Err(StoreError::Forbidden);
            }
            let mut args = vec![id.into()];
            args.extend(spec_args(spec));
            let sql = "UPDATE services SET name = ?2, visibility = ?3, approval = ?4, auth = ?5, key_header = ?6, key_query = ?7 WHERE id = ?1";
            c.exec(sql, &args)?;
            get_service(c, id)
        })
    }

    fn delete_service(&self, scope: Scope, id: Id) -> Result<()> {
        self.change(|c| {
            own(scope, get_service(c, id)?.team, "service")?;
            writable(c, "services", id)?;
            delete_row(c, "services", id, "service")
        })
    }

    fn create_app(&self, scope: Scope, team: Id, name: &str) -> Result<App> {
        own(scope, team, "team")?;
        check_name("name", name)?;
        self.change(|c| {
            team_exists(c, team)?;
            let sql = "INSERT INTO apps (team, name) VALUES (?1, ?2)";
            let id = c.insert(sql, &[team.into(), name.into()])?;
            get_app(c, id)
        })
    }

    fn app(&self, scope: Scope, id: Id) -> Result<App> {
        self.db.read(|c| own_app(c, scope, id))
    }

    fn rename_app(&self, scope: Scope, id: Id, name: &str) -> Result<App> {
        check_name("name", name)?;
        self.change(|c| {
            own_app(c, scope, id)?;
            writable(c, "apps", id)?;
            c.exec(
                "UPDATE apps SET name = ?2 WHERE id = ?1",
                &[id.into(), name.into()],
            )?;
            get_app(c, id)
        })
    }

    fn apps(&self, scope: Scope, page: Page) -> Result<Vec<App>> {
        let sql = format!("SELECT {APP_COLS} FROM apps WHERE id > ?1 AND (CAST(?2 AS BIGINT) IS NULL OR team = ?2) AND (CAST(?4 AS BIGINT) IS NULL OR team = ?4) ORDER BY id LIMIT ?3");
        let args = [
            page.after.into(),
            team_of(scope),
            limit(page),
            page.team.into(),
        ];
        self.db.read(|c| all(c, &sql, &args, app_row))
    }

    fn delete_app(&self, scope: Scope, id: Id) -> Result<()> {
        self.change(|c| {
            own_app(c, scope, id)?;
            writable(c, "apps", id)?;
            delete_row(c, "apps", id, "app")
        })
    }

    fn add_key(&self, scope: Scope, app: Id) -> Result<(Credential, String)> {
        let new = key::generate().map_err(|e| StoreError::Backend(e.to_string()))?;
        let cred = self.change(|c| {
            own_app(c, scope, app)?;
            let sql =
                "INSERT INTO credentials (app, kind, digest, shown) VALUES (?1, 'key', ?2, ?3)";
            let args = [app.into(), new.digest[..].into(), new.shown.as_str().into()];
            Ok(Credential {
                id: c.insert(sql, &args)?,
                app,
                kind: CredentialKind::Key {
                    digest: new.digest,
                    shown: new.shown.clone(),
                },
            })
        })?;
        Ok((cred, new.secret))
    }

    fn add_basic(
        &self,
        scope: Scope,
        app: Id,
        username: &str,
        password: &str,
    ) -> Result<Credential> {
        check_basic(username, password)?;
        let phc = key::hash_password(password).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.change(|c| {
            own_app(c, scope, app)?;
            let sql =
                "INSERT INTO credentials (app, kind, username, phc) VALUES (?1, 'basic', ?2, ?3)";
            let args = [app.into(), username.into(), phc.as_str().into()];
            Ok(Credential {
                id: c.insert(sql, &args)?,
                app,
                kind: CredentialKind::Basic {
                    username: username.to_owned(),
                    phc: phc.clone(),
                },
            })
        })
    }

    fn add_jwt(&self, scope: Scope, app: Id, spec: &JwtSpec) -> Result<Credential> {
        spec.check()?;
        let file = spec.jwks.as_deref().is_some_and(|j| j.starts_with("file:"));
        if file && scope != Scope::Root {
            return Err(StoreError::Invalid {
                field: "jwks",
                reason: "a file: source is for the root token only; use an http(s):// URL".into(),
            });
        }
        self.change(|c| {
            own_app(c, scope, app)?;
            let sql = "INSERT INTO credentials (app, kind, issuer, audience, algorithm, jwks, secret) VALUES (?1, 'jwt', ?2, ?3, ?4, ?5, ?6)";
            let args = [
                app.into(),
                spec.issuer.as_str().into(),
                spec.audience.as_deref().into(),
                spec.algorithm.as_str().into(),
                spec.jwks.as_deref().into(),
                spec.secret.as_deref().into(),
            ];
            Ok(Credential {
                id: c.insert(sql, &args)?,
                app,
                kind: CredentialKind::Jwt(spec.clone()),
            })
        })
    }

    fn credentials(&self, scope: Scope, app: Id) -> Result<Vec<Credential>> {
        self.db.read(|c| {
            own_app(c, scope, app)?;
            let sql =
                format!("SELECT {CREDENTIAL_COLS} FROM credentials WHERE app = ?1 ORDER BY id");
            all(c, &sql, &[app.into()], credential_row)
        })
    }

    fn delete_credential(&self, scope: Scope, id: Id) -> Result<()> {
        self.change(|c| {
            let sql = "SELECT app FROM credentials WHERE id = ?1";
            let app = one(c, sql, id, |r| r.int(0), "credential")?;
            own_app(c, scope, app).map_err(|_| StoreError::NotFound("credential"))?;
            delete_row(c, "credentials", id, "credential")
        })
    }

    fn create_token(&self, scope: Scope, team: Id) -> Result<(ApiToken, String)> {
        own(scope, team, "team")?;
        let new = key::generate().map_err(|e| StoreError::Backend(e.to_string()))?;
        let token = self.change(|c| {
            team_exists(c, team)?;
            let sql = "INSERT INTO api_tokens (team, digest, shown) VALUES (?1, ?2, ?3)";
            let args = [
                team.into(),
                new.digest[..].into(),
                new.shown.as_str().into(),
            ];
            Ok(ApiToken {
                id: c.insert(sql, &args)?,
                team,
                shown: new.shown.clone(),
            })
        })?;
        Ok((token, new.secret))
    }

    fn tokens(&self, scope: Scope, team: Id) -> Result<Vec<ApiToken>> {
        own(scope, team, "team")?;
        let sql = "SELECT id, team, shown FROM api_tokens WHERE team = ?1 ORDER BY id";
        self.db.read(|c| all(c, sql, &[team.into()], token_row))
    }

    fn delete_token(&self, scope: Scope, id: Id) -> Result<()> {
        self.change(|c| {
            let sql = "SELECT id, team, shown FROM api_tokens WHERE id = ?1";
            let t = one(c, sql, id, token_row, "token")?;
            own(scope, t.team, "token")?;
            delete_row(c, "api_tokens", id, "token")
        })
    }

    fn token_scope(&self, presented: &[u8]) -> Result<Option<Scope>> {
        let digest = key::digest(presented);
        let sql = "SELECT team FROM api_tokens WHERE digest = ?1";
        let rows = self.db.read(|c| c.rows(sql, &[digest[..].into()]))?;
        rows.first().map(|r| r.int(0).map(Scope::Team)).transpose()
    }

    fn apply(&self, scope: Scope, app: Id, service: Id) -> Result<Subscription> {
        self.change(|c| {
            own_app(c, scope, app)?;
            let s = visible_service(c, scope, service)?;
            let state = SubState::applied(s.spec.approval);
            let sql = format!(
                "SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE app = ?1 AND service = ?2"
            );
            let existing = all(c, &sql, &[app.into(), service.into()], subscription_row)?;
            let id = match existing.first() {
                Some(sub) if !sub.state.may_reapply() => {
                    return Err(StoreError::Conflict(format!(
                        "the app's subscription is {}",
                        sub.state.as_str()
                    )))
                }
                Some(sub) => {
                    // A revoked app asks again: the service's team decides,
                    // even under auto approval.
                    let state = match sub.state {
                        SubState::Revoked => SubState::Pending,
                        _ => state,
                    };
                    let sql = "UPDATE subscriptions SET state = ?2 WHERE id = ?1";
                    c.exec(sql, &[sub.id.into(), state.as_str().into()])?;
                    sub.id
                }
                None => {
                    let sql = "INSERT INTO subscriptions (app, service, state) VALUES (?1, ?2, ?3)";
                    c.insert(sql, &[app.into(), service.into(), state.as_str().into()])?
                }
            };
            get_subscription(c, id)
        })
    }

    fn decide(&self, scope: Scope, id: Id, action: Action) -> Result<Subscription> {
        self.change(|c| {
            let sub = get_subscription(c, id)?;
            own(scope, get_service(c, sub.service)?.team, "subscription")?;
            writable(c, "subscriptions", id)?;
            let next = sub.state.after(action).ok_or_else(|| {
                StoreError::Conflict(format!(
                    "a {} subscription cannot be changed that way",
                    sub.state.as_str()
                ))
            })?;
            let sql = "UPDATE subscriptions SET state = ?2 WHERE id = ?1";
            c.exec(sql, &[id.into(), next.as_str().into()])?;
            get_subscription(c, id)
        })
    }

    fn subscriptions(
        &self,
        scope: Scope,
        state: Option<SubState>,
        page: Page,
    ) -> Result<Vec<Subscription>> {
        let sql = "SELECT b.id, b.app, b.service, b.state, b.declared FROM subscriptions b
                   JOIN apps a ON a.id = b.app JOIN services s ON s.id = b.service
                   WHERE b.id > ?1 AND (CAST(?2 AS BIGINT) IS NULL OR a.team = ?2 OR s.team = ?2)
                   AND (CAST(?3 AS TEXT) IS NULL OR b.state = ?3)
                   AND (CAST(?5 AS BIGINT) IS NULL OR a.team = ?5) ORDER BY b.id LIMIT ?4";
        let state = state.map(SubState::as_str);
        let args = [
            page.after.into(),
            team_of(scope),
            state.into(),
            limit(page),
            page.team.into(),
        ];
        self.db.read(|c| all(c, sql, &args, subscription_row))
    }
}

// --- declared objects ---

/// The id of the row `select` finds, after inserting it with `insert` if
/// it was missing; either way marked declared.
fn upsert(c: &mut dyn Conn, table: &str, select: &str, insert: &str, args: &[Val]) -> Result<Id> {
    let id = match c.rows(select, args)?.first() {
        Some(r) => r.int(0)?,
        None => c.insert(insert, args)?,
    };
    c.exec(
        &format!("UPDATE {table} SET declared = 1 WHERE id = ?1"),
        &[id.into()],
    )?;
    Ok(id)
}

/// Refuses to declare a team or service whose name an object made through
/// the API holds: taking it over would hand the config's name to whoever
/// made it (its tokens, its subscriptions).
fn not_taken(c: &mut dyn Conn, table: &str, select: &str, args: &[Val], name: &str) -> Result<()> {
    let Some(r) = c.rows(select, args)?.into_iter().next() else {
        return Ok(());
    };
    let sql = format!("SELECT declared FROM {table} WHERE id = ?1");
    let declared = c.rows(&sql, &[r.int(0)?.into()])?;
    match declared.first().map(|d| d.int(0)) {
        Some(Ok(1)) => Ok(()),
        _ => Err(StoreError::Conflict(format!(
            "{name:?} in {table} was made through the API: delete or rename it there, then declare it"
        ))),
    }
}

/// Deletes the declared rows of `table` whose id is not in `keep`.
fn undeclare(c: &mut dyn Conn, table: &'static str, keep: &[Id]) -> Result<()> {
    let sql = format!("SELECT id FROM {table} WHERE declared = 1");
    for r in c.rows(&sql, &[])? {
        let id = r.int(0)?;
        if !keep.contains(&id) {
            delete_row(c, table, id, "declared object")?;
        }
    }
    Ok(())
}

fn declare_teams(c: &mut dyn Conn, names: &[String]) -> Result<Vec<(String, Id)>> {
    let mut out = Vec::new();
    for name in names {
        check_name("name", name)?;
        let select = "SELECT id FROM teams WHERE name = ?1";
        not_taken(c, "teams", select, &[name.as_str().into()], name)?;
        let id = upsert(
            c,
            "teams",
            select,
            "INSERT INTO teams (name) VALUES (?1)",
            &[name.as_str().into()],
        )?;
        out.push((name.clone(), id));
    }
    let keep: Vec<Id> = out.iter().map(|t| t.1).collect();
    undeclare(c, "teams", &keep)?;
    Ok(out)
}

fn team_id(teams: &[(String, Id)], name: &str) -> Result<Id> {
    teams
        .iter()
        .find(|t| t.0 == name)
        .map(|t| t.1)
        .ok_or(StoreError::NotFound("declared team"))
}

fn declare_services(
    c: &mut dyn Conn,
    teams: &[(String, Id)],
    services: &[(String, ServiceSpec)],
) -> Result<Vec<(String, Id)>> {
    let mut out = Vec::new();
    for (team, spec) in services {
        check_spec(spec)?;
        let team = team_id(teams, team)?;
        not_taken(
            c,
            "services",
            "SELECT id FROM services WHERE name = ?1",
            &[spec.name.as_str().into()],
            &spec.name,
        )?;
        let found = c.rows(
            "SELECT id FROM services WHERE name = ?1",
            &[spec.name.as_str().into()],
        )?;
        let id = match found.first() {
            Some(r) => r.int(0)?,
            None => {
                let mut args = vec![team.into()];
                args.extend(spec_args(spec));
                c.insert("INSERT INTO services (team, name, visibility, approval, auth, key_header, key_query) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &args)?
            }
        };
        let mut args = vec![id.into()];
        args.extend(spec_args(spec));
        args.push(team.into());
        c.exec("UPDATE services SET name = ?2, visibility = ?3, approval = ?4, auth = ?5, key_header = ?6, key_query = ?7, team = ?8, declared = 1 WHERE id = ?1", &args)?;
        out.push((spec.name.clone(), id));
    }
    let keep: Vec<Id> = out.iter().map(|s| s.1).collect();
    undeclare(c, "services", &keep)?;
    Ok(out)
}

fn declare_apps(
    c: &mut dyn Conn,
    teams: &[(String, Id)],
    apps: &[(String, String)],
) -> Result<Vec<((String, String), Id)>> {
    let mut out = Vec::new();
    for (team_name, name) in apps {
        check_name("name", name)?;
        let team = team_id(teams, team_name)?;
        let args = [team.into(), name.as_str().into()];
        let select = "SELECT id FROM apps WHERE team = ?1 AND name = ?2";
        let id = upsert(
            c,
            "apps",
            select,
            "INSERT INTO apps (team, name) VALUES (?1, ?2)",
            &args,
        )?;
        out.push(((team_name.clone(), name.clone()), id));
    }
    let keep: Vec<Id> = out.iter().map(|a| a.1).collect();
    undeclare(c, "apps", &keep)?;
    Ok(out)
}

fn declare_subscriptions(
    c: &mut dyn Conn,
    apps: &[((String, String), Id)],
    services: &[(String, Id)],
    subs: &[((String, String), String)],
) -> Result<()> {
    let mut keep = Vec::new();
    for (app, service) in subs {
        let app = apps.iter().find(|a| a.0 == *app).map(|a| a.1);
        let service = services.iter().find(|s| s.0 == *service).map(|s| s.1);
        let (Some(app), Some(service)) = (app, service) else {
            return Err(StoreError::NotFound("declared app or service"));
        };
        let args = [app.into(), service.into()];
        let select = "SELECT id FROM subscriptions WHERE app = ?1 AND service = ?2";
        let insert = "INSERT INTO subscriptions (app, service, state) VALUES (?1, ?2, 'approved')";
        let id = upsert(c, "subscriptions", select, insert, &args)?;
        c.exec(
            "UPDATE subscriptions SET state = 'approved' WHERE id = ?1",
            &[id.into()],
        )?;
        keep.push(id);
    }
    undeclare(c, "subscriptions", &keep)
}

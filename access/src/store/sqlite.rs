//! The embedded store: one SQLite file in the data directory, in WAL mode
//! (readers never wait for the writer), foreign keys on, every query
//! parameterised. Owned by one thread (the control thread, which also
//! serves the management API), never by a shard: `Send`, not `Sync`.

use std::cell::{RefCell, RefMut};
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::schema::MIGRATIONS;
use super::{AccessData, Page, Scope, Store, StoreError};
use crate::key;
use crate::model::{
    check_name, Action, ApiToken, App, Approval, AuthKind, Credential, CredentialKind, Id, Service,
    ServiceSpec, SubState, Subscription, Team, Visibility,
};

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteStore {
    db: RefCell<Connection>,
}

type Result<T> = std::result::Result<T, StoreError>;

fn backend(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, msg)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(msg.unwrap_or_else(|| "already exists".into()))
        }
        e => StoreError::Backend(e.to_string()),
    }
}

// === impl SqliteStore ===

impl SqliteStore {
    /// Opens (creating it if needed) `access.db` in `dir` and brings its
    /// schema up to date.
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        let db = Connection::open(dir.join("access.db")).map_err(backend)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        let store = SqliteStore {
            db: RefCell::new(db),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The connection; no call holds it across another store call.
    fn conn(&self) -> RefMut<'_, Connection> {
        self.db.borrow_mut()
    }

    /// Applies the migrations this database has not seen.
    fn migrate(&self) -> Result<()> {
        let mut db = self.conn();
        let have: usize = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        if have > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "the database's schema is version {have}, newer than this build's {}",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(have) {
            let tx = db.transaction().map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.pragma_update(None, "user_version", i + 1)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        Ok(())
    }

    /// Runs a write in one transaction that also bumps the revision.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut db = self.conn();
        let tx = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let out = f(&tx)?;
        tx.execute("UPDATE revision SET seq = seq + 1", [])
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(out)
    }
}

/// The team filter of a scope: `None` for the root.
fn team_of(scope: Scope) -> Option<Id> {
    match scope {
        Scope::Root => None,
        Scope::Team(t) => Some(t),
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

fn limit(page: Page) -> i64 {
    i64::from(page.limit.clamp(1, 1000))
}

// --- rows ---

const SERVICE_COLS: &str = "id, team, name, visibility, approval, auth, key_header, key_query";

fn service_row(r: &Row<'_>) -> rusqlite::Result<Service> {
    let text = |i| r.get::<_, String>(i);
    Ok(Service {
        id: r.get(0)?,
        team: r.get(1)?,
        spec: ServiceSpec {
            name: text(2)?,
            visibility: match text(3)?.as_str() {
                "public" => Visibility::Public,
                _ => Visibility::Team,
            },
            approval: match text(4)?.as_str() {
                "auto" => Approval::Auto,
                _ => Approval::Required,
            },
            auth: auth_kinds(&text(5)?),
            key_header: text(6)?,
            key_query: r.get(7)?,
        },
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

fn app_row(r: &Row<'_>) -> rusqlite::Result<App> {
    Ok(App {
        id: r.get(0)?,
        team: r.get(1)?,
        name: r.get(2)?,
    })
}

const CREDENTIAL_COLS: &str = "id, app, kind, digest, shown, username, phc";

fn credential_row(r: &Row<'_>) -> rusqlite::Result<Credential> {
    let kind = match r.get::<_, String>(2)?.as_str() {
        "key" => {
            let bytes: Vec<u8> = r.get(3)?;
            let mut digest = [0u8; 32];
            if bytes.len() == 32 {
                digest.copy_from_slice(&bytes);
            }
            CredentialKind::Key {
                digest,
                shown: r.get(4)?,
            }
        }
        _ => CredentialKind::Basic {
            username: r.get(5)?,
            phc: r.get(6)?,
        },
    };
    Ok(Credential {
        id: r.get(0)?,
        app: r.get(1)?,
        kind,
    })
}

fn subscription_row(r: &Row<'_>) -> rusqlite::Result<Subscription> {
    let state: String = r.get(3)?;
    Ok(Subscription {
        id: r.get(0)?,
        app: r.get(1)?,
        service: r.get(2)?,
        state: SubState::parse(&state).unwrap_or(SubState::Revoked),
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

// --- lookups inside a transaction or on the connection ---

/// The one row `sql` finds for `id`, or `what` not found.
fn token_row(r: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: r.get(0)?,
        team: r.get(1)?,
        shown: r.get(2)?,
    })
}

fn one<T>(
    db: &Connection,
    sql: &str,
    id: Id,
    row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    what: &'static str,
) -> Result<T> {
    db.query_row(sql, [id], row)
        .optional()
        .map_err(backend)?
        .ok_or(StoreError::NotFound(what))
}

fn get_service(db: &Connection, id: Id) -> Result<Service> {
    let sql = format!("SELECT {SERVICE_COLS} FROM services WHERE id = ?1");
    one(db, &sql, id, service_row, "service")
}

fn get_app(db: &Connection, id: Id) -> Result<App> {
    one(
        db,
        "SELECT id, team, name FROM apps WHERE id = ?1",
        id,
        app_row,
        "app",
    )
}

fn get_subscription(db: &Connection, id: Id) -> Result<Subscription> {
    let sql = "SELECT id, app, service, state FROM subscriptions WHERE id = ?1";
    one(db, sql, id, subscription_row, "subscription")
}

/// A service `scope` may see: its own team's, or a public one.
fn visible_service(db: &Connection, scope: Scope, id: Id) -> Result<Service> {
    let s = get_service(db, id)?;
    match scope {
        Scope::Team(t) if s.team != t && s.spec.visibility != Visibility::Public => {
            Err(StoreError::NotFound("service"))
        }
        _ => Ok(s),
    }
}

/// An app of `scope`.
fn own_app(db: &Connection, scope: Scope, id: Id) -> Result<App> {
    let a = get_app(db, id)?;
    own(scope, a.team, "app")?;
    Ok(a)
}

fn team_exists(db: &Connection, id: Id) -> Result<()> {
    let found: Option<Id> = db
        .query_row("SELECT id FROM teams WHERE id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    found.map(drop).ok_or(StoreError::NotFound("team"))
}

fn collect<T>(
    db: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = db.prepare(sql).map_err(backend)?;
    let rows = stmt.query_map(args, row).map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<T>>>().map_err(backend)
}

/// Deletes row `id` of `table` (one of the schema's, never input).
fn delete_row(db: &Connection, table: &'static str, id: Id, what: &'static str) -> Result<()> {
    let n = db
        .execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])
        .map_err(backend)?;
    match n {
        0 => Err(StoreError::NotFound(what)),
        _ => Ok(()),
    }
}

impl Store for SqliteStore {
    fn revision(&self) -> Result<u64> {
        let seq: i64 = self
            .conn()
            .query_row("SELECT seq FROM revision", [], |r| r.get(0))
            .map_err(backend)?;
        Ok(seq as u64)
    }

    fn load(&self) -> Result<AccessData> {
        let mut db = self.conn();
        // One read transaction: every table at the same revision.
        let tx = db.transaction().map_err(backend)?;
        let revision: i64 = tx
            .query_row("SELECT seq FROM revision", [], |r| r.get(0))
            .map_err(backend)?;
        let data = AccessData {
            revision: revision as u64,
            teams: collect(&tx, "SELECT id, name FROM teams ORDER BY id", [], |r| {
                Ok(Team {
                    id: r.get(0)?,
                    name: r.get(1)?,
                })
            })?,
            services: collect(
                &tx,
                &format!("SELECT {SERVICE_COLS} FROM services ORDER BY id"),
                [],
                service_row,
            )?,
            apps: collect(
                &tx,
                "SELECT id, team, name FROM apps ORDER BY id",
                [],
                app_row,
            )?,
            credentials: collect(
                &tx,
                &format!("SELECT {CREDENTIAL_COLS} FROM credentials ORDER BY id"),
                [],
                credential_row,
            )?,
            subscriptions: collect(
                &tx,
                "SELECT id, app, service, state FROM subscriptions ORDER BY id",
                [],
                subscription_row,
            )?,
        };
        tx.commit().map_err(backend)?;
        Ok(data)
    }

    fn create_team(&self, scope: Scope, name: &str) -> Result<Team> {
        root_only(scope)?;
        check_name("name", name)?;
        self.write(|tx| {
            tx.execute("INSERT INTO teams (name) VALUES (?1)", [name])
                .map_err(backend)?;
            Ok(Team {
                id: tx.last_insert_rowid(),
                name: name.to_owned(),
            })
        })
    }

    fn teams(&self, scope: Scope, page: Page) -> Result<Vec<Team>> {
        let sql = "SELECT id, name FROM teams WHERE id > ?1 AND (?2 IS NULL OR id = ?2) ORDER BY id LIMIT ?3";
        collect(
            &self.conn(),
            sql,
            params![page.after, team_of(scope), limit(page)],
            |r| {
                Ok(Team {
                    id: r.get(0)?,
                    name: r.get(1)?,
                })
            },
        )
    }

    fn delete_team(&self, scope: Scope, id: Id) -> Result<()> {
        root_only(scope)?;
        self.write(|tx| delete_row(tx, "teams", id, "team"))
    }

    fn create_service(&self, scope: Scope, team: Id, spec: &ServiceSpec) -> Result<Service> {
        own(scope, team, "team")?;
        check_spec(spec)?;
        self.write(|tx| {
            team_exists(tx, team)?;
            tx.execute(
                "INSERT INTO services (team, name, visibility, approval, auth, key_header, key_query) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![team, spec.name, visibility_text(spec.visibility), approval_text(spec.approval), auth_text(&spec.auth), spec.key_header, spec.key_query],
            )
            .map_err(backend)?;
            get_service(tx, tx.last_insert_rowid())
        })
    }

    fn service(&self, scope: Scope, id: Id) -> Result<Service> {
        visible_service(&self.conn(), scope, id)
    }

    fn services(&self, scope: Scope, page: Page) -> Result<Vec<Service>> {
        let sql = format!("SELECT {SERVICE_COLS} FROM services WHERE id > ?1 AND (?2 IS NULL OR team = ?2 OR visibility = 'public') ORDER BY id LIMIT ?3");
        collect(
            &self.conn(),
            &sql,
            params![page.after, team_of(scope), limit(page)],
            service_row,
        )
    }

    fn update_service(&self, scope: Scope, id: Id, spec: &ServiceSpec) -> Result<Service> {
        check_spec(spec)?;
        self.write(|tx| {
            own(scope, get_service(tx, id)?.team, "service")?;
            tx.execute(
                "UPDATE services SET name = ?2, visibility = ?3, approval = ?4, auth = ?5, key_header = ?6, key_query = ?7 WHERE id = ?1",
                params![id, spec.name, visibility_text(spec.visibility), approval_text(spec.approval), auth_text(&spec.auth), spec.key_header, spec.key_query],
            )
            .map_err(backend)?;
            get_service(tx, id)
        })
    }

    fn delete_service(&self, scope: Scope, id: Id) -> Result<()> {
        self.write(|tx| {
            own(scope, get_service(tx, id)?.team, "service")?;
            delete_row(tx, "services", id, "service")
        })
    }

    fn create_app(&self, scope: Scope, team: Id, name: &str) -> Result<App> {
        own(scope, team, "team")?;
        check_name("name", name)?;
        self.write(|tx| {
            team_exists(tx, team)?;
            tx.execute(
                "INSERT INTO apps (team, name) VALUES (?1, ?2)",
                params![team, name],
            )
            .map_err(backend)?;
            get_app(tx, tx.last_insert_rowid())
        })
    }

    fn app(&self, scope: Scope, id: Id) -> Result<App> {
        own_app(&self.conn(), scope, id)
    }

    fn apps(&self, scope: Scope, page: Page) -> Result<Vec<App>> {
        let sql = "SELECT id, team, name FROM apps WHERE id > ?1 AND (?2 IS NULL OR team = ?2) ORDER BY id LIMIT ?3";
        collect(
            &self.conn(),
            sql,
            params![page.after, team_of(scope), limit(page)],
            app_row,
        )
    }

    fn delete_app(&self, scope: Scope, id: Id) -> Result<()> {
        self.write(|tx| {
            own_app(tx, scope, id)?;
            delete_row(tx, "apps", id, "app")
        })
    }

    fn add_key(&self, scope: Scope, app: Id) -> Result<(Credential, String)> {
        let new = key::generate().map_err(|e| StoreError::Backend(e.to_string()))?;
        let cred = self.write(|tx| {
            own_app(tx, scope, app)?;
            tx.execute(
                "INSERT INTO credentials (app, kind, digest, shown) VALUES (?1, 'key', ?2, ?3)",
                params![app, &new.digest[..], new.shown],
            )
            .map_err(backend)?;
            Ok(Credential {
                id: tx.last_insert_rowid(),
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
        let phc = key::hash_password(password).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.write(|tx| {
            own_app(tx, scope, app)?;
            tx.execute(
                "INSERT INTO credentials (app, kind, username, phc) VALUES (?1, 'basic', ?2, ?3)",
                params![app, username, phc],
            )
            .map_err(backend)?;
            Ok(Credential {
                id: tx.last_insert_rowid(),
                app,
                kind: CredentialKind::Basic {
                    username: username.to_owned(),
                    phc: phc.clone(),
                },
            })
        })
    }

    fn credentials(&self, scope: Scope, app: Id) -> Result<Vec<Credential>> {
        let db = self.conn();
        own_app(&db, scope, app)?;
        let sql = format!("SELECT {CREDENTIAL_COLS} FROM credentials WHERE app = ?1 ORDER BY id");
        collect(&db, &sql, [app], credential_row)
    }

    fn delete_credential(&self, scope: Scope, id: Id) -> Result<()> {
        self.write(|tx| {
            let app: Option<Id> = tx
                .query_row("SELECT app FROM credentials WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?;
            let app = app.ok_or(StoreError::NotFound("credential"))?;
            own_app(tx, scope, app).map_err(|_| StoreError::NotFound("credential"))?;
            delete_row(tx, "credentials", id, "credential")
        })
    }

    fn apply(&self, scope: Scope, app: Id, service: Id) -> Result<Subscription> {
        self.write(|tx| {
            own_app(tx, scope, app)?;
            let s = visible_service(tx, scope, service)?;
            let state = SubState::applied(s.spec.approval);
            let existing: Option<Subscription> = tx
                .query_row(
                    "SELECT id, app, service, state FROM subscriptions WHERE app = ?1 AND service = ?2",
                    params![app, service],
                    subscription_row,
                )
                .optional()
                .map_err(backend)?;
            match existing {
                Some(sub) if !sub.state.may_reapply() => Err(StoreError::Conflict(format!(
                    "the app's subscription is {}",
                    sub.state.as_str()
                ))),
                Some(sub) => {
                    tx.execute("UPDATE subscriptions SET state = ?2 WHERE id = ?1", params![sub.id, state.as_str()])
                        .map_err(backend)?;
                    get_subscription(tx, sub.id)
                }
                None => {
                    tx.execute(
                        "INSERT INTO subscriptions (app, service, state) VALUES (?1, ?2, ?3)",
                        params![app, service, state.as_str()],
                    )
                    .map_err(backend)?;
                    get_subscription(tx, tx.last_insert_rowid())
                }
            }
        })
    }

    fn decide(&self, scope: Scope, id: Id, action: Action) -> Result<Subscription> {
        self.write(|tx| {
            let sub = get_subscription(tx, id)?;
            own(scope, get_service(tx, sub.service)?.team, "subscription")?;
            let next = sub.state.after(action).ok_or_else(|| {
                StoreError::Conflict(format!(
                    "a {} subscription cannot be changed that way",
                    sub.state.as_str()
                ))
            })?;
            tx.execute(
                "UPDATE subscriptions SET state = ?2 WHERE id = ?1",
                params![id, next.as_str()],
            )
            .map_err(backend)?;
            get_subscription(tx, id)
        })
    }

    fn create_token(&self, scope: Scope, team: Id) -> Result<(ApiToken, String)> {
        own(scope, team, "team")?;
        let new = key::generate().map_err(|e| StoreError::Backend(e.to_string()))?;
        let token = self.write(|tx| {
            team_exists(tx, team)?;
            tx.execute(
                "INSERT INTO api_tokens (team, digest, shown) VALUES (?1, ?2, ?3)",
                params![team, &new.digest[..], new.shown],
            )
            .map_err(backend)?;
            Ok(ApiToken {
                id: tx.last_insert_rowid(),
                team,
                shown: new.shown.clone(),
            })
        })?;
        Ok((token, new.secret))
    }

    fn tokens(&self, scope: Scope, team: Id) -> Result<Vec<ApiToken>> {
        own(scope, team, "team")?;
        let sql = "SELECT id, team, shown FROM api_tokens WHERE team = ?1 ORDER BY id";
        collect(&self.conn(), sql, [team], token_row)
    }

    fn delete_token(&self, scope: Scope, id: Id) -> Result<()> {
        self.write(|tx| {
            let sql = "SELECT id, team, shown FROM api_tokens WHERE id = ?1";
            let t = one(tx, sql, id, token_row, "token")?;
            own(scope, t.team, "token")?;
            delete_row(tx, "api_tokens", id, "token")
        })
    }

    fn token_scope(&self, presented: &[u8]) -> Result<Option<Scope>> {
        let digest = key::digest(presented);
        let team: Option<Id> = self
            .conn()
            .query_row(
                "SELECT team FROM api_tokens WHERE digest = ?1",
                [&digest[..]],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        Ok(team.map(Scope::Team))
    }

    fn subscriptions(
        &self,
        scope: Scope,
        state: Option<SubState>,
        page: Page,
    ) -> Result<Vec<Subscription>> {
        let sql = "SELECT b.id, b.app, b.service, b.state FROM subscriptions b
                   JOIN apps a ON a.id = b.app JOIN services s ON s.id = b.service
                   WHERE b.id > ?1 AND (?2 IS NULL OR a.team = ?2 OR s.team = ?2)
                   AND (?3 IS NULL OR b.state = ?3) ORDER BY b.id LIMIT ?4";
        let state = state.map(SubState::as_str);
        collect(
            &self.conn(),
            sql,
            params![page.after, team_of(scope), state, limit(page)],
            subscription_row,
        )
    }
}

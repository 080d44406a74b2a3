//! The shared store: PostgreSQL, for several gateway hosts serving the same
//! teams, apps, credentials and subscriptions (`--store postgres://...`).
//! Same tables and logic as SQLite ([`SqlStore`]); reads that must agree
//! (the whole load for a snapshot) run in one REPEATABLE READ transaction,
//! and two hosts that start at once migrate one after the other under an
//! advisory lock.

use std::cell::RefCell;
use std::error::Error;
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, IsolationLevel, Transaction};

use super::schema::POSTGRES;
use super::sql::{Conn, Db, Result, Row, SqlStore, Val};
use super::StoreError;
use crate::model::Id;

/// The PostgreSQL backend.
pub type PostgresStore = SqlStore<Postgres>;

/// A connection to the database.
pub struct Postgres {
    client: RefCell<Client>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Postgres")
    }
}

/// Key of the advisory lock that migrations run under.
const MIGRATION_LOCK: i64 = 0x636f_7265_6761_7465;

fn backend(e: postgres::Error) -> StoreError {
    let conflict = [SqlState::UNIQUE_VIOLATION, SqlState::FOREIGN_KEY_VIOLATION];
    match e.code() {
        Some(code) if conflict.contains(code) => StoreError::Conflict(
            e.as_db_error()
                .map_or_else(|| "already exists".to_owned(), |d| d.message().to_owned()),
        ),
        _ => StoreError::Backend(e.to_string()),
    }
}

// === impl PostgresStore ===

impl SqlStore<Postgres> {
    /// Connects to `url` (`postgres://user:pass@host:port/db`) and brings
    /// the schema up to date. The password never appears in an error.
    pub fn connect(url: &str) -> Result<PostgresStore> {
        PostgresStore::connect_with(url, None)
    }

    /// As [`PostgresStore::connect`], over TLS when the server offers it
    /// (`sslmode=require` in the URL insists on it; `disable` refuses it),
    /// verifying the server against `ca` (PEM), or the system's roots.
    pub fn connect_with(url: &str, ca: Option<&std::path::Path>) -> Result<PostgresStore> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|_| StoreError::Backend("invalid PostgreSQL URL".into()))?;
        config.connect_timeout(Duration::from_secs(3));
        config.options("-c statement_timeout=10000");
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(ca)?);
        let mut client = config.connect(tls).map_err(backend)?;
        migrate(&mut client)?;
        Ok(SqlStore {
            db: Postgres {
                client: RefCell::new(client),
            },
        })
    }
}

/// rustls with aws-lc-rs, trusting `ca` or the system's roots.
fn tls_config(ca: Option<&std::path::Path>) -> Result<rustls::ClientConfig> {
    let bad = |e: &dyn std::fmt::Display| StoreError::Backend(format!("store TLS: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| bad(&format!("{}: {e}", path.display())))?;
            for cert in rustls_pemfile::certs(&mut &pem[..]) {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Applies the migrations this database has not seen; its version is a
/// row of `schema_version`.
fn migrate(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction().map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(backend)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
         INSERT INTO schema_version VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
    )
    .map_err(backend)?;
    let have: i32 = tx
        .query_one("SELECT version FROM schema_version", &[])
        .map_err(backend)?
        .get(0);
    let have = usize::try_from(have).unwrap_or(usize::MAX);
    if have > POSTGRES.len() {
        return Err(StoreError::Backend(format!(
            "the database's schema is version {have}, newer than this build's {}",
            POSTGRES.len()
        )));
    }
    for (i, sql) in POSTGRES.iter().enumerate().skip(have) {
        tx.batch_execute(sql).map_err(backend)?;
        let v = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("UPDATE schema_version SET version = $1", &[&v])
            .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

impl Postgres {
    fn run<T>(&self, read_only: bool, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut client = self.client.borrow_mut();
        let builder = client.build_transaction();
        let builder = match read_only {
            true => builder
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true),
            false => builder,
        };
        let mut tx = Tx(builder.start().map_err(backend)?);
        let out = f(&mut tx)?;
        tx.0.commit().map_err(backend)?;
        Ok(out)
    }
}

impl Db for Postgres {
    fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.run(true, f)
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.run(false, f)
    }
}

/// `?N` placeholders as PostgreSQL's `$N` (no statement here holds a `?`
/// anywhere else).
fn dollars(sql: &str) -> String {
    sql.replace('?', "$")
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Val::Int(v) => v.to_sql(ty, out),
            Val::Text(v) => v.to_sql(ty, out),
            Val::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::INT8,
            Type::INT4,
            Type::TEXT,
            Type::VARCHAR,
            Type::BYTEA,
        ]
        .contains(ty)
    }

    to_sql_checked!();
}

/// A transaction, as a [`Conn`].
struct Tx<'c>(Transaction<'c>);

fn params(args: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

fn row(r: &postgres::Row) -> Result<Row> {
    let bad = |e: postgres::Error| StoreError::Backend(e.to_string());
    let mut out = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i).map_err(bad)?.into(),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)
                .map_err(bad)?
                .map(i64::from)
                .into(),
            Type::BYTEA => r
                .try_get::<_, Option<Vec<u8>>>(i)
                .map_err(bad)?
                .map_or(Val::Null, Val::Blob),
            _ => r
                .try_get::<_, Option<String>>(i)
                .map_err(bad)?
                .map_or(Val::Null, Val::Text),
        };
        out.push(v);
    }
    Ok(Row(out))
}

/// Key of the advisory lock that declares run under.
const DECLARE_LOCK: i64 = 0x636f_7265_6465_636c;

impl Conn for Tx<'_> {
    fn serialize(&mut self) -> Result<()> {
        self.0
            .execute("SELECT pg_advisory_xact_lock($1)", &[&DECLARE_LOCK])
            .map(drop)
            .map_err(backend)
    }

    fn rows(&mut self, sql: &str, args: &[Val]) -> Result<Vec<Row>> {
        let rows = self
            .0
            .query(&dollars(sql), &params(args))
            .map_err(backend)?;
        rows.iter().map(row).collect()
    }

    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64> {
        self.0
            .execute(&dollars(sql), &params(args))
            .map_err(backend)
    }

    fn insert(&mut self, sql: &str, args: &[Val]) -> Result<Id> {
        let sql = format!("{} RETURNING id", dollars(sql));
        let r = self.0.query_one(&sql, &params(args)).map_err(backend)?;
        r.try_get(0).map_err(|e| StoreError::Backend(e.to_string()))
    }
}

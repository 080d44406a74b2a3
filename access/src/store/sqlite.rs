//! The embedded store: one SQLite file in the data directory, in WAL mode
//! (readers never wait for the writer), foreign keys on, every query
//! parameterised. A connection is owned by one thread: `Send`, not `Sync`;
//! threads that want one open their own.

use std::cell::RefCell;
use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::schema::SQLITE;
use super::sql::{Conn, Db, Result, Row, SqlStore, Val};
use super::StoreError;
use crate::model::Id;

/// The SQLite backend.
pub type SqliteStore = SqlStore<Sqlite>;

/// A connection to `access.db`.
#[derive(Debug)]
pub struct Sqlite {
    conn: RefCell<Connection>,
}

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

impl SqlStore<Sqlite> {
    /// Opens (creating it if needed) `access.db` in `dir` and brings its
    /// schema up to date.
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        let mut db = Connection::open(dir.join("access.db")).map_err(backend)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        migrate(&mut db)?;
        Ok(SqlStore {
            db: Sqlite {
                conn: RefCell::new(db),
            },
        })
    }
}

/// Applies the migrations this database has not seen; its version is
/// `PRAGMA user_version`.
fn migrate(db: &mut Connection) -> Result<()> {
    let have: usize = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    if have > SQLITE.len() {
        return Err(StoreError::Backend(format!(
            "the database's schema is version {have}, newer than this build's {}",
            SQLITE.len()
        )));
    }
    for (i, sql) in SQLITE.iter().enumerate().skip(have) {
        let tx = db.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", i + 1)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

impl Sqlite {
    fn run<T>(
        &self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&mut dyn Conn) -> Result<T>,
    ) -> Result<T> {
        let mut db = self.conn.borrow_mut();
        let tx = db.transaction_with_behavior(behavior).map_err(backend)?;
        let mut conn = Tx(tx);
        let out = f(&mut conn)?;
        conn.0.commit().map_err(backend)?;
        Ok(out)
    }
}

impl Db for Sqlite {
    fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.run(TransactionBehavior::Deferred, f)
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        // Immediate: take the write lock first, so two writers queue
        // (busy_timeout) instead of one failing on upgrade.
        self.run(TransactionBehavior::Immediate, f)
    }
}

/// A transaction, as a [`Conn`].
struct Tx<'c>(Transaction<'c>);

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Null => ValueRef::Null,
            Val::Int(v) => ValueRef::Integer(*v),
            Val::Text(v) => ValueRef::Text(v.as_bytes()),
            Val::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

fn value(v: ValueRef<'_>) -> Result<Val> {
    Ok(match v {
        ValueRef::Null => Val::Null,
        ValueRef::Integer(i) => Val::Int(i),
        ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Val::Blob(b.to_vec()),
        ValueRef::Real(_) => return Err(StoreError::Backend("unexpected REAL".into())),
    })
}

impl Conn for Tx<'_> {
    fn rows(&mut self, sql: &str, args: &[Val]) -> Result<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(sql).map_err(backend)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(backend)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(backend)? {
            let vals = (0..width).map(|i| value(r.get_ref(i).map_err(backend)?));
            out.push(Row(vals.collect::<Result<Vec<Val>>>()?));
        }
        Ok(out)
    }

    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64> {
        let mut stmt = self.0.prepare_cached(sql).map_err(backend)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(args))
            .map_err(backend)?;
        Ok(n as u64)
    }

    fn insert(&mut self, sql: &str, args: &[Val]) -> Result<Id> {
        self.exec(sql, args)?;
        Ok(self.0.last_insert_rowid())
    }
}

//! A snapshot's worth of the store: reading 100k apps, each with an API
//! key and an approved subscription, out of SQLite in one transaction and
//! compiling them into a policy, as the control thread does when the
//! store's revision moves.
//!
//! Measured 2026-12-02 on the 2-vCPU AMD EPYC VM: 157 ms to read 100k
//! apps, keys and subscriptions, 200 ms to read and compile them.

#![allow(clippy::expect_used, missing_docs)]

use access::{Policy, Scope, SqliteStore, Store};
use criterion::{criterion_group, criterion_main, Criterion};

/// A store in `dir` with `n` apps, keys and approved subscriptions,
/// written with one transaction of plain SQL (the API would take one
/// transaction per object).
fn seed(dir: &std::path::Path, n: i64) {
    let store = SqliteStore::open(dir).expect("store");
    let team = store.create_team(Scope::Root, "t").expect("team").id;
    let spec = access::ServiceSpec {
        name: "orders".into(),
        visibility: access::Visibility::Public,
        approval: access::Approval::Auto,
        auth: vec![access::AuthKind::Key],
        key_header: "x-api-key".into(),
        key_query: None,
    };
    let svc = store
        .create_service(Scope::Root, team, &spec)
        .expect("service")
        .id;
    drop(store);
    let mut db = rusqlite::Connection::open(dir.join("access.db")).expect("db");
    let tx = db.transaction().expect("tx");
    for i in 0..n {
        tx.execute(
            "INSERT INTO apps (id, team, name) VALUES (?1, ?2, ?3)",
            rusqlite::params![i + 1, team, format!("app-{i}")],
        )
        .expect("app");
        let digest = access::key::digest(format!("cg_{i}").as_bytes());
        tx.execute(
            "INSERT INTO credentials (app, kind, digest, shown) VALUES (?1, 'key', ?2, 'cg_x')",
            rusqlite::params![i + 1, &digest[..]],
        )
        .expect("key");
        tx.execute(
            "INSERT INTO subscriptions (app, service, state) VALUES (?1, ?2, 'approved')",
            rusqlite::params![i + 1, svc],
        )
        .expect("sub");
    }
    tx.execute("UPDATE revision SET seq = seq + 1", [])
        .expect("rev");
    tx.commit().expect("commit");
}

fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    seed(dir.path(), 100_000);
    let store = SqliteStore::open(dir.path()).expect("store");
    let mut g = c.benchmark_group("store_load");
    g.sample_size(10);
    g.bench_function("read_100k", |b| b.iter(|| store.load().expect("load")));
    g.bench_function("read_and_compile_100k", |b| {
        b.iter(|| Policy::compile(&store.load().expect("load")))
    });
    g.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);

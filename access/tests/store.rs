#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Both stores, SQLite on a real database file and PostgreSQL on a real
//! server the test starts: the subscription flow, tenant isolation,
//! persistence across reopening, secrets never stored in clear, hostile
//! names, and the revision the control thread polls. Every scenario runs
//! against each backend (`sqlite::` and `postgres::` tests).

#[path = "support/pg.rs"]
mod pg;

use access::key;
use access::{
    Action, Approval, AuthKind, CredentialKind, Location, Page, Scope, ServiceSpec, SqliteStore,
    Store, StoreError, SubState, Visibility,
};

fn spec(name: &str, visibility: Visibility, approval: Approval) -> ServiceSpec {
    ServiceSpec {
        name: name.to_owned(),
        visibility,
        approval,
        auth: vec![AuthKind::Key, AuthKind::Basic],
        key_header: "x-api-key".into(),
        key_query: Some("apikey".into()),
    }
}

/// A store, with what keeps it alive (a directory, a server).
struct World {
    _keep: Box<dyn std::any::Any>,
    store: Box<dyn Store>,
    /// Opens another connection to the same store.
    location: Location,
    a: i64,
    b: i64,
}

/// Two teams on `location`: A owns the service "orders" (public,
/// approval required), B owns the app "shop".
fn world_at(keep: Box<dyn std::any::Any>, location: Location) -> World {
    let store = location.open().unwrap();
    let a = store.create_team(Scope::Root, "team-a").unwrap().id;
    let b = store.create_team(Scope::Root, "team-b").unwrap().id;
    World {
        _keep: keep,
        store,
        location,
        a,
        b,
    }
}

fn sqlite_world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Sqlite(dir.path().to_owned());
    world_at(Box::new(dir), location)
}

fn postgres_world() -> World {
    let pg = pg::Postgres::start();
    let location = Location::Postgres(pg.database("access"), None);
    world_at(Box::new(pg), location)
}

/// Each scenario as a test on each backend.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(super::sqlite_world())
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name(super::postgres_world())
            })*
        }
    };
}

on_both!(
    a_subscription_is_applied_for_approved_revoked_and_applied_for_again,
    one_team_can_neither_see_nor_change_another_teams_objects,
    state_outlives_the_connection_and_secrets_are_stored_only_as_digests_and_hashes,
    hostile_names_are_stored_verbatim_and_bad_fields_are_named,
    every_write_bumps_the_revision_and_a_refused_one_does_not,
    deleting_a_team_removes_what_it_owns_and_pages_walk_in_id_order,
    two_connections_see_each_others_writes,
    lists_filter_by_team_and_names_change_in_scope,
    quota_counts_are_saved_per_host_replaced_and_aged_out,
);

fn quota_counts_are_saved_per_host_replaced_and_aged_out(w: World) {
    let q = |policy: &str, key: i64, step: i64, count: i64| access::QuotaCount {
        policy: policy.into(),
        key,
        step,
        count,
    };
    let now = 1_796_205_600;
    let rev = w.store.revision().unwrap();
    w.store
        .save_quota_counts("host-a", &[q("daily", -5, 7, 10), q("daily", 9, 7, 1)], now)
        .unwrap();
    w.store
        .save_quota_counts("host-b", &[q("daily", -5, 7, 99)], now)
        .unwrap();
    w.store
        .save_quota_counts("host-a", &[q("daily", -5, 7, 12)], now + 1)
        .unwrap();
    assert_eq!(
        w.store.revision().unwrap(),
        rev,
        "counts are not a change to recompile"
    );
    let other = w.location.open().unwrap();
    let mut a = other.quota_counts("host-a").unwrap();
    a.sort_by_key(|c| c.key);
    assert_eq!(a, [q("daily", -5, 7, 12), q("daily", 9, 7, 1)]);
    assert_eq!(
        other.quota_counts("host-b").unwrap(),
        [q("daily", -5, 7, 99)]
    );
    // 33 days on, a save forgets what was saved before the longest window.
    w.store
        .save_quota_counts("host-b", &[q("monthly", 1, 1, 1)], now + 33 * 86_400)
        .unwrap();
    assert!(other.quota_counts("host-a").unwrap().is_empty());
    assert_eq!(
        other.quota_counts("host-b").unwrap(),
        [q("monthly", 1, 1, 1)]
    );
}

fn a_subscription_is_applied_for_approved_revoked_and_applied_for_again(w: World) {
    let (a, b) = (Scope::Team(w.a), Scope::Team(w.b));
    let orders = w
        .store
        .create_service(
            Scope::Root,
            w.a,
            &spec("orders", Visibility::Public, Approval::Required),
        )
        .unwrap();
    let shop = w.store.create_app(b, w.b, "shop").unwrap();
    let sub = w.store.apply(b, shop.id, orders.id).unwrap();
    assert_eq!(sub.state, SubState::Pending);
    assert_eq!(
        w.store.apply(b, shop.id, orders.id),
        Err(StoreError::Conflict(
            "the app's subscription is pending".into()
        ))
    );
    // Only the service's team decides; to the app's team it does not exist.
    assert_eq!(
        w.store.decide(b, sub.id, Action::Approve),
        Err(StoreError::NotFound("subscription"))
    );
    let pending = w
        .store
        .subscriptions(a, Some(SubState::Pending), Page::default())
        .unwrap();
    assert_eq!(pending, vec![sub.clone()]);
    assert_eq!(
        w.store.decide(a, sub.id, Action::Approve).unwrap().state,
        SubState::Approved
    );
    assert!(matches!(
        w.store.decide(a, sub.id, Action::Approve),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        w.store.decide(a, sub.id, Action::Revoke).unwrap().state,
        SubState::Revoked
    );
    assert_eq!(
        w.store.apply(b, shop.id, orders.id).unwrap().state,
        SubState::Pending
    );
    assert_eq!(
        w.store.decide(a, sub.id, Action::Reject).unwrap().state,
        SubState::Rejected
    );
    // Under approval = "auto" an application is approved at once.
    let free = w
        .store
        .create_service(
            Scope::Root,
            w.a,
            &spec("catalog", Visibility::Public, Approval::Auto),
        )
        .unwrap();
    let auto = w.store.apply(b, shop.id, free.id).unwrap();
    assert_eq!(auto.state, SubState::Approved);
    // Once revoked, asking again waits for the service's team, even there.
    w.store.decide(a, auto.id, Action::Revoke).unwrap();
    assert_eq!(
        w.store.apply(b, shop.id, free.id).unwrap().state,
        SubState::Pending
    );
    // Services are the operator's: a team creates none, renames none.
    let own = spec("mine", Visibility::Public, Approval::Auto);
    assert_eq!(
        w.store.create_service(a, w.a, &own),
        Err(StoreError::Forbidden)
    );
    let renamed = spec("catalog-2", Visibility::Public, Approval::Auto);
    assert_eq!(
        w.store.update_service(a, free.id, &renamed),
        Err(StoreError::Forbidden)
    );
}

fn one_team_can_neither_see_nor_change_another_teams_objects(w: World) {
    let (a, b) = (Scope::Team(w.a), Scope::Team(w.b));
    let shop = w.store.create_app(b, w.b, "shop").unwrap();
    let (key, _) = w.store.add_key(b, shop.id).unwrap();
    let private = w
        .store
        .create_service(
            Scope::Root,
            w.b,
            &spec("internal", Visibility::Team, Approval::Auto),
        )
        .unwrap();
    let app_a = w.store.create_app(a, w.a, "mine").unwrap();
    // Reads: B's app, its keys and its private service are not found for A.
    assert_eq!(w.store.app(a, shop.id), Err(StoreError::NotFound("app")));
    assert_eq!(
        w.store.credentials(a, shop.id),
        Err(StoreError::NotFound("app"))
    );
    assert_eq!(
        w.store.service(a, private.id),
        Err(StoreError::NotFound("service"))
    );
    assert_eq!(
        w.store.apps(a, Page::default()).unwrap(),
        vec![app_a.clone()]
    );
    assert!(w.store.services(a, Page::default()).unwrap().is_empty());
    assert_eq!(w.store.teams(a, Page::default()).unwrap().len(), 1);
    // Writes: A cannot act for B, nor subscribe to B's private service.
    assert_eq!(
        w.store.create_app(a, w.b, "x"),
        Err(StoreError::NotFound("team"))
    );
    assert_eq!(
        w.store.add_key(a, shop.id).map(|_| ()),
        Err(StoreError::NotFound("app"))
    );
    assert_eq!(
        w.store.delete_app(a, shop.id),
        Err(StoreError::NotFound("app"))
    );
    assert_eq!(
        w.store.delete_credential(a, key.id),
        Err(StoreError::NotFound("credential"))
    );
    assert_eq!(
        w.store.update_service(
            a,
            private.id,
            &spec("taken", Visibility::Public, Approval::Auto)
        ),
        Err(StoreError::NotFound("service"))
    );
    assert_eq!(
        w.store.apply(a, app_a.id, private.id),
        Err(StoreError::NotFound("service"))
    );
    assert_eq!(w.store.create_team(a, "t"), Err(StoreError::Forbidden));
    assert_eq!(w.store.delete_team(a, w.b), Err(StoreError::Forbidden));
    // Subscriptions show only on the two sides they join.
    let sub = w.store.apply(b, shop.id, private.id).unwrap();
    assert!(w
        .store
        .subscriptions(a, None, Page::default())
        .unwrap()
        .is_empty());
    assert_eq!(
        w.store.subscriptions(b, None, Page::default()).unwrap(),
        vec![sub]
    );
    // Nothing of B's changed.
    assert_eq!(w.store.credentials(b, shop.id).unwrap(), vec![key]);
}

fn state_outlives_the_connection_and_secrets_are_stored_only_as_digests_and_hashes(w: World) {
    let password = "correct horse battery";
    let (secret, revision) = {
        let store = w.location.open().unwrap();
        let app = store.create_app(Scope::Root, w.a, "app").unwrap();
        let (cred, secret) = store.add_key(Scope::Root, app.id).unwrap();
        let CredentialKind::Key { digest, shown } = cred.kind else {
            panic!("a key")
        };
        assert!(key::same(&digest, &key::digest(secret.as_bytes())));
        assert_eq!(shown, &secret[..8]);
        store
            .add_basic(Scope::Root, app.id, "alice", password)
            .unwrap();
        (secret, store.revision().unwrap())
    };
    let store = w.location.open().unwrap();
    assert_eq!(store.revision().unwrap(), revision);
    let data = store.load().unwrap();
    assert_eq!(
        (data.teams.len(), data.apps.len(), data.credentials.len()),
        (2, 1, 2)
    );
    let found = data.credentials.iter().any(|c| {
        matches!(&c.kind, CredentialKind::Key { digest, .. } if key::same(digest, &key::digest(secret.as_bytes())))
    });
    assert!(found, "the key is found by its digest after reopening");
    let CredentialKind::Basic { phc, .. } = &data.credentials[1].kind else {
        panic!("basic")
    };
    assert!(phc.starts_with("$argon2id$"));
    assert!(key::verify_password(password, phc) && !key::verify_password("wrong", phc));
    // Neither secret is anywhere in the database's files.
    if let Location::Sqlite(dir) = &w.location {
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let has = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
            assert!(!has(&secret) && !has(password));
        }
    }
}

fn two_connections_see_each_others_writes(w: World) {
    let other = w.location.open().unwrap();
    let r0 = other.revision().unwrap();
    let app = w.store.create_app(Scope::Team(w.b), w.b, "shared").unwrap();
    assert_eq!(other.revision().unwrap(), r0 + 1);
    assert_eq!(other.app(Scope::Team(w.b), app.id).unwrap().name, "shared");
    // Two writers racing for one name: one wins, the other is a conflict.
    let again = other.create_app(Scope::Team(w.b), w.b, "shared");
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
}

fn hostile_names_are_stored_verbatim_and_bad_fields_are_named(w: World) {
    let name = "o'brien\"); DROP TABLE apps; --";
    let app = w.store.create_app(Scope::Root, w.a, name).unwrap();
    assert_eq!(w.store.app(Scope::Root, app.id).unwrap().name, name);
    assert_eq!(w.store.apps(Scope::Root, Page::default()).unwrap().len(), 1);
    assert!(matches!(
        w.store.create_app(Scope::Root, w.a, name),
        Err(StoreError::Conflict(_))
    ));
    let bad = |r: Result<_, StoreError>, field: &str| match r {
        Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
        other => panic!("{field}: {other:?}"),
    };
    bad(w.store.create_app(Scope::Root, w.a, "").map(drop), "name");
    bad(
        w.store.create_team(Scope::Root, "a\u{7}b").map(drop),
        "name",
    );
    let mut s = spec("s", Visibility::Public, Approval::Auto);
    s.key_header = "x key".into();
    bad(
        w.store.create_service(Scope::Root, w.a, &s).map(drop),
        "key_header",
    );
    bad(
        w.store
            .add_basic(Scope::Root, app.id, "a:b", "pw")
            .map(drop),
        "username",
    );
    bad(
        w.store.add_basic(Scope::Root, app.id, "ab", "").map(drop),
        "password",
    );
    assert_eq!(
        w.store.create_app(Scope::Root, 999, "x"),
        Err(StoreError::NotFound("team"))
    );
}

fn every_write_bumps_the_revision_and_a_refused_one_does_not(w: World) {
    let r0 = w.store.revision().unwrap();
    let app = w.store.create_app(Scope::Root, w.a, "x").unwrap();
    assert_eq!(w.store.revision().unwrap(), r0 + 1);
    assert!(w.store.create_app(Scope::Root, w.a, "x").is_err());
    assert!(w.store.delete_app(Scope::Team(w.b), app.id).is_err());
    assert_eq!(w.store.revision().unwrap(), r0 + 1);
    w.store.delete_app(Scope::Root, app.id).unwrap();
    assert_eq!(w.store.revision().unwrap(), r0 + 2);
    assert_eq!(w.store.load().unwrap().revision, r0 + 2);
}

fn deleting_a_team_removes_what_it_owns_and_pages_walk_in_id_order(w: World) {
    let app = w.store.create_app(Scope::Root, w.b, "gone").unwrap();
    w.store.add_key(Scope::Root, app.id).unwrap();
    for i in 0..5 {
        w.store
            .create_app(Scope::Root, w.a, &format!("app-{i}"))
            .unwrap();
    }
    w.store.delete_team(Scope::Root, w.b).unwrap();
    let data = w.store.load().unwrap();
    assert!(data.credentials.is_empty() && data.apps.iter().all(|a| a.team == w.a));
    let first = w
        .store
        .apps(
            Scope::Root,
            Page {
                limit: 2,
                ..Page::default()
            },
        )
        .unwrap();
    let next = w
        .store
        .apps(
            Scope::Root,
            Page {
                after: first[1].id,
                limit: 2,
                team: None,
            },
        )
        .unwrap();
    assert_eq!(first.len() + next.len(), 4);
    assert!(first[1].id < next[0].id);
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    // A newer build's schema version: user_version is the big-endian u32
    // at offset 60 of the database header (the WAL was checkpointed and
    // removed when the store closed).
    let path = dir.path().join("access.db");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
    std::fs::write(&path, bytes).unwrap();
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Backend(m) if m.contains("newer than this build")));
}

fn lists_filter_by_team_and_names_change_in_scope(w: World) {
    let (a, b) = (Scope::Team(w.a), Scope::Team(w.b));
    let orders = w
        .store
        .create_service(
            Scope::Root,
            w.a,
            &spec("orders", Visibility::Public, Approval::Auto),
        )
        .unwrap();
    w.store.create_app(a, w.a, "a-app").unwrap();
    let shop = w.store.create_app(b, w.b, "shop").unwrap();
    w.store.apply(b, shop.id, orders.id).unwrap();
    let of = |team| Page {
        team: Some(team),
        ..Page::default()
    };
    let names = |apps: Vec<access::App>| apps.into_iter().map(|a| a.name).collect::<Vec<_>>();
    assert_eq!(names(w.store.apps(Scope::Root, of(w.b)).unwrap()), ["shop"]);
    assert!(
        w.store.apps(b, of(w.a)).unwrap().is_empty(),
        "a filter never widens a scope"
    );
    assert_eq!(w.store.services(b, of(w.a)).unwrap().len(), 1, "public");
    assert_eq!(w.store.subscriptions(a, None, of(w.b)).unwrap().len(), 1);
    assert!(w.store.subscriptions(a, None, of(w.a)).unwrap().is_empty());

    assert_eq!(
        w.store.rename_app(b, shop.id, "store").unwrap().name,
        "store"
    );
    assert_eq!(
        w.store.rename_app(a, shop.id, "mine"),
        Err(StoreError::NotFound("app"))
    );
    assert_eq!(w.store.rename_team(a, w.a, "alpha").unwrap().name, "alpha");
    assert_eq!(
        w.store.rename_team(a, w.b, "x"),
        Err(StoreError::NotFound("team"))
    );
    assert_eq!(w.store.team(b, w.a), Err(StoreError::NotFound("team")));
    assert_eq!(w.store.team(Scope::Root, w.a).unwrap().name, "alpha");
    assert!(matches!(
        w.store.rename_team(Scope::Root, w.a, "team-b"),
        Err(StoreError::Conflict(_))
    ));
}

#[test]
fn postgres_over_tls_verifies_the_server() {
    let ca =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert, key) = (ca.cert.pem(), ca.key_pair.serialize_pem());
    let pg = pg::Postgres::start_tls(&cert, &key);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert).unwrap();
    let url = format!("{}?sslmode=require", pg.database("tls"));
    // Verified against the CA: it works, over TLS only (require).
    let store = Location::Postgres(url.clone(), Some(ca_file))
        .open()
        .unwrap();
    store.create_team(Scope::Root, "over-tls").unwrap();
    assert_eq!(store.teams(Scope::Root, Page::default()).unwrap().len(), 1);
    // The system's roots do not know this server: refused, not downgraded.
    let err = Location::Postgres(url, None).open().err().unwrap();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    // A server without TLS and sslmode=require: refused.
    let plain = pg::Postgres::start();
    let url = format!("{}?sslmode=require", plain.database("plain"));
    assert!(Location::Postgres(url, None).open().is_err());
}

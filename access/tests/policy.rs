#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The compiled policy from a real store: a key's verdict follows its
//! app's subscription through approval and revocation, an unknown or
//! missing key is unauthorized, and a deleted key stops working.

use access::{
    Action, Approval, AuthKind, Policy, Scope, ServiceSpec, SqliteStore, Store, Verdict, Visibility,
};

#[test]
fn a_keys_verdict_follows_its_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let owner = store.create_team(Scope::Root, "owner").unwrap();
    let client = store.create_team(Scope::Root, "client").unwrap();
    let spec = ServiceSpec {
        name: "orders".into(),
        visibility: Visibility::Public,
        approval: Approval::Required,
        auth: vec![AuthKind::Key],
        key_header: "X-Api-Key".into(),
        key_query: Some("apikey".into()),
    };
    let service = store.create_service(Scope::Root, owner.id, &spec).unwrap();
    let app = store.create_app(Scope::Root, client.id, "shop").unwrap();
    let (cred, secret) = store.add_key(Scope::Root, app.id).unwrap();
    let verdict = |store: &SqliteStore| {
        let policy = Policy::compile(&store.load().unwrap());
        let s = policy.service("orders").unwrap().clone();
        assert_eq!(&*s.key_header, "x-api-key");
        let v = policy.by_key(&s, Some(secret.as_bytes()));
        let name = match v {
            Verdict::Allowed(c) | Verdict::Forbidden(c) => {
                assert_eq!(
                    (c.app, &*c.app_name, &*c.team_name),
                    (app.id, "shop", "client")
                );
                format!("{v:?}").split('(').next().unwrap().to_owned()
            }
            Verdict::Unauthorized => "Unauthorized".into(),
        };
        assert_eq!(policy.by_key(&s, None), Verdict::Unauthorized);
        assert_eq!(
            policy.by_key(&s, Some(b"cg_not-a-key")),
            Verdict::Unauthorized
        );
        name
    };
    assert_eq!(verdict(&store), "Forbidden");
    let sub = store.apply(Scope::Root, app.id, service.id).unwrap();
    assert_eq!(verdict(&store), "Forbidden", "pending is not approved");
    store.decide(Scope::Root, sub.id, Action::Approve).unwrap();
    assert_eq!(verdict(&store), "Allowed");
    store.decide(Scope::Root, sub.id, Action::Revoke).unwrap();
    assert_eq!(verdict(&store), "Forbidden");
    store.apply(Scope::Root, app.id, service.id).unwrap();
    store.decide(Scope::Root, sub.id, Action::Approve).unwrap();
    assert_eq!(verdict(&store), "Allowed");
    store.delete_credential(Scope::Root, cred.id).unwrap();
    assert_eq!(verdict(&store), "Unauthorized");
}

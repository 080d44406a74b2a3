//! Who may call: the access model and the store that keeps it.
//!
//! Teams (tenants) own services (APIs) and apps (consumers). Apps hold
//! credentials (API keys, stored only as SHA-256 digests; Basic passwords,
//! stored as argon2 PHC strings) and subscribe to services; a service may
//! need its team to approve a subscription before it works. Every store
//! call runs in a [`store::Scope`]: the root sees everything, a team sees
//! its own objects and the services it may see, and another team's object
//! is "not found", never "forbidden", so that its existence does not leak.
//!
//! This crate never runs on the data path: the control thread reads the
//! store and compiles what it holds into the snapshot. A key's digest
//! takes 64 ns (SHA-256 of its 46 bytes, aws-lc); an argon2id
//! verification 28 ms, which is why Basic verifications are to be cached
//! (2026-12-02, 2-vCPU AMD EPYC VM).

pub mod jwks;
pub mod key;
pub mod model;
pub mod policy;
pub mod store;

pub use model::{
    Action, ApiToken, App, Approval, AuthKind, Credential, CredentialKind, DeclaredSet, Id,
    JwtSpec, Service, ServiceSpec, SubState, Subscription, Team, Visibility,
};
pub use policy::{BasicEntry, Consumer, JwtCheck, JwtEntry, Policy, ServicePolicy, Verdict};
pub use store::{AccessData, Location, Page, PostgresStore, Scope, SqliteStore, Store, StoreError};

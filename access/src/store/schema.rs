//! The schema as numbered migrations: each runs once, in order, in one
//! transaction with the bump of `schema_version`; a database newer than
//! this build is refused rather than misread.

/// Migrations, version 1 first. Append only; never edit a released one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the access model.
    "CREATE TABLE revision (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
     INSERT INTO revision VALUES (1, 0);
     CREATE TABLE teams (
         id INTEGER PRIMARY KEY,
         name TEXT NOT NULL UNIQUE);
     CREATE TABLE services (
         id INTEGER PRIMARY KEY,
         team INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
         name TEXT NOT NULL UNIQUE,
         visibility TEXT NOT NULL CHECK (visibility IN ('public', 'team')),
         approval TEXT NOT NULL CHECK (approval IN ('auto', 'required')),
         auth TEXT NOT NULL,
         key_header TEXT NOT NULL,
         key_query TEXT);
     CREATE TABLE apps (
         id INTEGER PRIMARY KEY,
         team INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
         name TEXT NOT NULL,
         UNIQUE (team, name));
     CREATE TABLE credentials (
         id INTEGER PRIMARY KEY,
         app INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
         kind TEXT NOT NULL CHECK (kind IN ('key', 'basic')),
         digest BLOB UNIQUE,
         shown TEXT,
         username TEXT UNIQUE,
         phc TEXT);
     CREATE TABLE subscriptions (
         id INTEGER PRIMARY KEY,
         app INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
         service INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
         state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'revoked')),
         UNIQUE (app, service));
     CREATE INDEX subscriptions_service ON subscriptions(service);",
    // 2: team tokens of the management API.
    "CREATE TABLE api_tokens (
         id INTEGER PRIMARY KEY,
         team INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
         digest BLOB NOT NULL UNIQUE,
         shown TEXT NOT NULL);",
];

//! `[access]`: where the store of teams, services, apps and credentials
//! lives, where its management API listens and how it is authenticated,
//! and the headers that carry a caller's identity upstream.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::checker::{Checker, Key};
use crate::cli::{parse_admin, Admin, Cli};
use crate::defaults::{DEFAULT_API, DEFAULT_APP_HEADER, DEFAULT_TEAM_HEADER};
use crate::file::FileConfig;
use crate::route::Route;
use crate::tls_fields::file_path;
use crate::tuning::ConfigSource;

/// The store and its API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// Directory of the embedded store (`access.db`).
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL of a shared store, instead of `data_dir`. With
    /// neither there is no store, and no route may name a service.
    pub postgres: Option<String>,
    /// The CA (PEM) the PostgreSQL server's certificate is verified
    /// against; `None`: the system's roots.
    pub store_ca: Option<PathBuf>,
    /// The management API's address; `None`: off. On by default (on
    /// [`DEFAULT_API`]) when there is a store.
    pub api: Option<SocketAddr>,
    /// A file holding the root token (`COREGATE_API_TOKEN` is the other
    /// way; never a flag, which `ps` would show).
    pub api_token_file: Option<PathBuf>,
    /// The header naming the calling app upstream.
    pub app_header: String,
    /// The header naming the calling app's team upstream.
    pub team_header: String,
    /// Objects declared in the file, written into the store.
    pub declared: crate::declared::Declared,
    /// Clock skew allowed on a JWT's `exp` and `nbf`.
    pub jwt_skew: std::time::Duration,
}

impl AccessConfig {
    /// Whether a store is configured (SQLite or PostgreSQL).
    pub fn has_store(&self) -> bool {
        self.data_dir.is_some() || self.postgres.is_some()
    }
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            data_dir: None,
            postgres: None,
            store_ca: None,
            api: None,
            api_token_file: None,
            app_header: DEFAULT_APP_HEADER.to_owned(),
            team_header: DEFAULT_TEAM_HEADER.to_owned(),
            declared: crate::declared::Declared::default(),
            jwt_skew: std::time::Duration::from_secs(30),
        }
    }
}

/// `[access]` with its flags over it; `taken` are the addresses already
/// bound (listeners, admin), which the API may not share.
pub(crate) fn access(
    c: &mut Checker<'_>,
    cli: &Cli,
    raw: &FileConfig,
    taken: &[SocketAddr],
) -> AccessConfig {
    let a = &raw.access;
    let base = c.base_dir();
    let data_dir = c.pick(
        cli.data_dir.clone(),
        Key::DATA_DIR,
        a.data_dir.as_ref(),
        |t| file_path(t, base),
    );
    let postgres = c.pick(cli.store.clone(), Key::STORE, a.store.as_ref(), |t| {
        postgres_url(t)
    });
    let postgres = c.accept(postgres, |_| match &data_dir {
        Some(_) => Err("set either access.data_dir (SQLite) or access.store (PostgreSQL)".into()),
        None => Ok(()),
    });
    let has_store = data_dir.is_some() || postgres.is_some();
    let token = c.pick(
        cli.api_token_file.clone(),
        Key::API_TOKEN_FILE,
        a.api_token_file.as_ref(),
        |t| file_path(t, base),
    );
    let api = c.pick(cli.api, Key::API, a.api.as_ref(), |t| parse_admin(t));
    let api = c.accept(api, |api| match api {
        Admin::At(at) if taken.iter().any(|t| t.port() != 0 && t == at) => {
            Err(format!("{at} is already a listen or admin address"))
        }
        _ => Ok(()),
    });
    let api = c.accept(api, |api| match (api, has_store) {
        (Admin::At(_), false) => {
            Err("the management API needs a store: set access.data_dir or access.store".into())
        }
        _ => Ok(()),
    });
    let api = match (api.map(|g| g.value), has_store) {
        (Some(Admin::At(at)), _) => Some(at),
        (Some(Admin::Off), _) | (None, false) => None,
        (None, true) => Some(DEFAULT_API),
    };
    AccessConfig {
        data_dir: data_dir.map(|g| g.value),
        postgres: postgres.map(|g| g.value),
        store_ca: c.field("access.store_ca", a.store_ca.as_ref(), |t| {
            file_path(t, base)
        }),
        api,
        api_token_file: token.map(|g| g.value),
        app_header: header_name(
            c,
            "access.app_header",
            a.app_header.as_ref(),
            DEFAULT_APP_HEADER,
        ),
        team_header: header_name(
            c,
            "access.team_header",
            a.team_header.as_ref(),
            DEFAULT_TEAM_HEADER,
        ),
        declared: crate::declared::declared(c, a),
        jwt_skew: jwt_skew(c, a),
    }
}

/// `access.jwt_skew`: 0 to 10 minutes, default 30 s.
fn jwt_skew(c: &mut Checker<'_>, a: &crate::file::AccessFile) -> std::time::Duration {
    let max = std::time::Duration::from_secs(600);
    let skew = c.field("access.jwt_skew", a.jwt_skew.as_ref(), |t| {
        crate::units::parse_duration(t).and_then(|d| match d <= max {
            true => Ok(d),
            false => Err("at most 10m".to_owned()),
        })
    });
    skew.unwrap_or(std::time::Duration::from_secs(30))
}

/// `postgres://` or `postgresql://`, and nothing a shell or log would mangle.
fn postgres_url(t: &str) -> Result<String, String> {
    let ok = (t.starts_with("postgres://") || t.starts_with("postgresql://"))
        && !t.chars().any(|c| c.is_control() || c.is_whitespace());
    match ok {
        true => Ok(t.to_owned()),
        false => Err("expected a postgres:// or postgresql:// URL".into()),
    }
}

fn header_name(
    c: &mut Checker<'_>,
    field: &str,
    raw: Option<&toml::Spanned<String>>,
    default: &str,
) -> String {
    let valid = |t: &String| match crate::route_fields::is_token(t) {
        true => Ok(t.clone()),
        false => Err(format!("invalid header name {t:?}")),
    };
    c.field(field, raw, valid)
        .unwrap_or_else(|| default.to_owned())
}

/// Every route that names a service needs a store: the error goes on the
/// route's `service` field.
pub(crate) fn check_services(c: &mut Checker<'_>, raw: &FileConfig, access: &AccessConfig) {
    if access.has_store() {
        return;
    }
    if !access.declared.is_empty() {
        let at = c.at_key("access");
        c.fail(at, "access", "declared teams, services and apps live in the store: set access.data_dir or access.store");
    }
    for (i, r) in raw.routes.iter().enumerate() {
        if let Some(s) = &r.get_ref().service {
            c.fail_at(
                s.span(),
                format!("routes[{i}].service"),
                "services live in the store: set access.data_dir or access.store",
            );
        }
    }
}

/// `--service`: in quick mode, the catch-all route joins that service.
pub(crate) fn quick_service(
    c: &mut Checker<'_>,
    cli: &Cli,
    source: &ConfigSource,
    access: &AccessConfig,
    mut routes: Vec<Route>,
) -> Vec<Route> {
    let Some(name) = &cli.service else {
        return routes;
    };
    let problem = match (source, access.has_store()) {
        (ConfigSource::Quick, true) => None,
        (ConfigSource::Quick, false) => Some("needs a store: --data-dir or --store"),
        _ => Some("quick mode (--upstream) only: with --config, a route names its service"),
    };
    match problem {
        Some(message) => c.fail(crate::error::Location::CommandLine, "--service", message),
        None => routes
            .iter_mut()
            .for_each(|r| r.service = Some(name.clone())),
    }
    routes
}

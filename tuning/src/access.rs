//! `[access]`: where the store of teams, services, apps and credentials
//! lives, where its management API listens and how it is authenticated,
//! and the headers that carry a caller's identity upstream.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::checker::{Checker, Key};
use crate::cli::{parse_admin, Admin, Cli};
use crate::defaults::{DEFAULT_API, DEFAULT_APP_HEADER, DEFAULT_TEAM_HEADER};
use crate::file::FileConfig;
use crate::tls_fields::file_path;

/// The store and its API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// Directory of the embedded store (`access.db`); `None`: no store, and
    /// no route may name a service.
    pub data_dir: Option<PathBuf>,
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
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            data_dir: None,
            api: None,
            api_token_file: None,
            app_header: DEFAULT_APP_HEADER.to_owned(),
            team_header: DEFAULT_TEAM_HEADER.to_owned(),
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
    let api = c.accept(api, |api| match (api, &data_dir) {
        (Admin::At(_), None) => {
            Err("the management API needs a store: set access.data_dir (or --data-dir)".into())
        }
        _ => Ok(()),
    });
    let api = match (api.map(|g| g.value), &data_dir) {
        (Some(Admin::At(at)), _) => Some(at),
        (Some(Admin::Off), _) | (None, None) => None,
        (None, Some(_)) => Some(DEFAULT_API),
    };
    AccessConfig {
        data_dir: data_dir.map(|g| g.value),
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
    }
}

fn header_name(
    c: &mut Checker<'_>,
    field: &str,
    raw: Option<&toml::Spanned<String>>,
    default: &str,
) -> String {
    let valid = |t: &String| match !t.is_empty() && t.bytes().all(is_tchar) {
        true => Ok(t.clone()),
        false => Err(format!("invalid header name {t:?}")),
    };
    c.field(field, raw, valid)
        .unwrap_or_else(|| default.to_owned())
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Every route that names a service needs a store: the error goes on the
/// route's `service` field.
pub(crate) fn check_services(c: &mut Checker<'_>, raw: &FileConfig, access: &AccessConfig) {
    if access.data_dir.is_some() {
        return;
    }
    for (i, r) in raw.routes.iter().enumerate() {
        if let Some(s) = &r.get_ref().service {
            c.fail_at(
                s.span(),
                format!("routes[{i}].service"),
                "services live in the store: set access.data_dir (or --data-dir)",
            );
        }
    }
}

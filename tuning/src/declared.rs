//! `[[access.teams]]`, `[[access.services]]`, `[[access.apps]]` and
//! `[[access.subscriptions]]`: access objects declared in the file
//! (GitOps). The gateway writes them into its store at start and on every
//! reload, and the management API shows them read-only. Credentials are
//! never declared: their secrets stay out of the file.

use toml::Spanned;

use crate::checker::Checker;
use crate::file::{AccessFile, DeclaredAppFile, DeclaredServiceFile, DeclaredSubFile};

/// The declared objects, checked: names valid, references resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// Team names.
    pub teams: Vec<String>,
    /// Services.
    pub services: Vec<DeclaredService>,
    /// Apps, as (team, name).
    pub apps: Vec<(String, String)>,
    /// Approved subscriptions, as ((team, app), service).
    pub subscriptions: Vec<((String, String), String)>,
}

/// A declared service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredService {
    /// Its team's name.
    pub team: String,
    /// Its name.
    pub name: String,
    /// `public` or `team`.
    pub visibility: String,
    /// `required` or `auto`.
    pub approval: String,
    /// `key`, `jwt`, `basic`.
    pub auth: Vec<String>,
    /// The key's header.
    pub key_header: String,
    /// The key's query parameter, if any.
    pub key_query: Option<String>,
}

impl Declared {
    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.teams.is_empty() && self.services.is_empty() && self.apps.is_empty()
    }
}

/// Reads and checks the declared objects of `[access]`.
pub(crate) fn declared(c: &mut Checker<'_>, raw: &AccessFile) -> Declared {
    let teams = names(
        c,
        "access.teams",
        raw.teams.as_deref().unwrap_or_default(),
        |t| &t.name,
    );
    let known_team = |t: &str| teams.iter().any(|n| n == t);
    let mut out = Declared {
        teams: teams.clone(),
        ..Declared::default()
    };
    for (i, s) in raw
        .services
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if let Some(svc) = service(c, i, s, &known_team) {
            out.services.push(svc);
        }
    }
    for (i, a) in raw.apps.as_deref().unwrap_or_default().iter().enumerate() {
        let field = format!("access.apps[{i}]");
        let a: &DeclaredAppFile = a.get_ref();
        if !known_team(a.team.get_ref()) {
            c.fail_at(
                a.team.span(),
                format!("{field}.team"),
                "not a team of [[access.teams]]",
            );
        } else if valid_name(c, &format!("{field}.name"), &a.name) {
            out.apps
                .push((a.team.get_ref().clone(), a.name.get_ref().clone()));
        }
    }
    for (i, s) in raw
        .subscriptions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if let Some(sub) = subscription(c, i, s.get_ref(), &out) {
            out.subscriptions.push(sub);
        }
    }
    out
}

fn names<T>(
    c: &mut Checker<'_>,
    field: &str,
    items: &[Spanned<T>],
    name: impl Fn(&T) -> &Spanned<String>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = name(item.get_ref());
        if !valid_name(c, &format!("{field}[{i}].name"), n) {
            continue;
        }
        match out.contains(n.get_ref()) {
            true => c.fail_at(n.span(), format!("{field}[{i}].name"), "declared twice"),
            false => out.push(n.get_ref().clone()),
        }
    }
    out
}

fn valid_name(c: &mut Checker<'_>, field: &str, n: &Spanned<String>) -> bool {
    let v = n.get_ref();
    let ok = !v.is_empty() && v.len() <= 128 && !v.chars().any(char::is_control);
    if !ok {
        c.fail_at(
            n.span(),
            field,
            "must be 1 to 128 bytes without control characters",
        );
    }
    ok
}

fn service(
    c: &mut Checker<'_>,
    i: usize,
    s: &Spanned<DeclaredServiceFile>,
    known_team: &dyn Fn(&str) -> bool,
) -> Option<DeclaredService> {
    let field = format!("access.services[{i}]");
    let f: &DeclaredServiceFile = s.get_ref();
    if !known_team(f.team.get_ref()) {
        c.fail_at(
            f.team.span(),
            format!("{field}.team"),
            "not a team of [[access.teams]]",
        );
        return None;
    }
    let one_of = |c: &mut Checker<'_>,
                  name: &str,
                  v: &Option<Spanned<String>>,
                  allowed: &[&str],
                  default: &str| {
        match v {
            Some(v) if !allowed.contains(&v.get_ref().as_str()) => {
                c.fail_at(
                    v.span(),
                    format!("{field}.{name}"),
                    format!("must be one of {}", allowed.join(", ")),
                );
                None
            }
            Some(v) => Some(v.get_ref().clone()),
            None => Some(default.to_owned()),
        }
    };
    let visibility = one_of(
        c,
        "visibility",
        &f.visibility,
        &["public", "team"],
        "public",
    )?;
    let approval = one_of(
        c,
        "approval",
        &f.approval,
        &["required", "auto"],
        "required",
    )?;
    let mut auth = Vec::new();
    for (j, k) in f
        .auth
        .as_ref()
        .map_or(&[][..], |a| a.get_ref())
        .iter()
        .enumerate()
    {
        match ["key", "jwt", "basic"].contains(&k.get_ref().as_str()) {
            true => auth.push(k.get_ref().clone()),
            false => c.fail_at(
                k.span(),
                format!("{field}.auth[{j}]"),
                "must be key, jwt or basic",
            ),
        }
    }
    if f.auth.is_none() {
        auth.push("key".into());
    }
    valid_name(c, &format!("{field}.name"), &f.name).then(|| DeclaredService {
        team: f.team.get_ref().clone(),
        name: f.name.get_ref().clone(),
        visibility,
        approval,
        auth,
        key_header: f
            .key_header
            .as_ref()
            .map_or_else(|| "x-api-key".into(), |h| h.get_ref().clone()),
        key_query: f.key_query.as_ref().map(|q| q.get_ref().clone()),
    })
}

/// `app = "team/app"`, `service = "name"`, both declared.
fn subscription(
    c: &mut Checker<'_>,
    i: usize,
    s: &DeclaredSubFile,
    known: &Declared,
) -> Option<((String, String), String)> {
    let field = format!("access.subscriptions[{i}]");
    let app = s
        .app
        .get_ref()
        .split_once('/')
        .map(|(t, a)| (t.to_owned(), a.to_owned()))
        .filter(|k| known.apps.contains(k));
    let Some(app) = app else {
        c.fail_at(
            s.app.span(),
            format!("{field}.app"),
            "expected \"team/app\" of [[access.apps]]",
        );
        return None;
    };
    if !known
        .services
        .iter()
        .any(|v| v.name == *s.service.get_ref())
    {
        c.fail_at(
            s.service.span(),
            format!("{field}.service"),
            "not a service of [[access.services]]",
        );
        return None;
    }
    Some((app, s.service.get_ref().clone()))
}

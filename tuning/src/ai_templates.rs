//! `[[ai.templates]]`: prompt templates with typed variables, compiled at
//! load so that a bad placeholder or default is a file:line error.

use std::sync::Arc;

use serde_json::{Map, Value};
use toml::Spanned;

use crate::ai::{AiModel, AiProvider, AiTemplate};
use crate::checker::Checker;
use crate::file::{AiFile, AiTemplateFile, AiVarFile};

/// Every template, compiled.
pub(crate) fn templates(
    c: &mut Checker<'_>,
    f: &AiFile,
    models: &[AiModel],
    providers: &[AiProvider],
) -> Vec<AiTemplate> {
    let mut out: Vec<AiTemplate> = Vec::new();
    for (i, t) in f.templates.iter().enumerate() {
        let field = format!("ai.templates[{i}]");
        let Some(spec) = spec(c, &field, t, models, providers) else {
            continue;
        };
        if out.iter().any(|o| o.0.name() == spec.name) {
            c.fail_at(
                t.span(),
                format!("{field}.name"),
                "a template of this name exists",
            );
            continue;
        }
        match ai::Template::compile(spec) {
            Ok(t) => out.push(AiTemplate(Arc::new(t))),
            Err(message) => c.fail_at(t.span(), field, message),
        }
    }
    out
}

/// The template as written, before it is compiled.
fn spec(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<AiTemplateFile>,
    models: &[AiModel],
    providers: &[AiProvider],
) -> Option<ai::TemplateSpec> {
    let f = raw.get_ref();
    let missing = |c: &mut Checker<'_>, name: &str| {
        c.fail_at(
            raw.span(),
            format!("{field}.{name}"),
            format!("`{name}` is required"),
        );
    };
    let (Some(name), Some(model), Some(messages)) = (&f.name, &f.model, &f.messages) else {
        for (given, name) in [
            (f.name.is_some(), "name"),
            (f.model.is_some(), "model"),
            (f.messages.is_some(), "messages"),
        ] {
            if !given {
                missing(c, name);
            }
        }
        return None;
    };
    let known = models.iter().any(|m| m.name == *model.get_ref())
        || model
            .get_ref()
            .split_once('/')
            .is_some_and(|(p, _)| providers.iter().any(|x| x.name == p));
    if !known {
        let message = format!(
            "{:?} is neither an [[ai.models]] alias nor provider/model",
            model.get_ref()
        );
        c.fail_at(model.span(), format!("{field}.model"), message);
        return None;
    }
    let messages = template_messages(c, field, messages)?;
    let vars = vars(c, field, f)?;
    let params = match &f.params {
        Some(p) => match serde_json::to_value(p.get_ref()) {
            Ok(Value::Object(m)) => m,
            _ => {
                c.fail_at(
                    p.span(),
                    format!("{field}.params"),
                    "not representable as JSON",
                );
                return None;
            }
        },
        None => Map::new(),
    };
    Some(ai::TemplateSpec {
        name: name.get_ref().clone(),
        version: f
            .version
            .as_ref()
            .map_or_else(|| "1".to_owned(), |v| v.get_ref().clone()),
        model: model.get_ref().clone(),
        messages,
        vars,
        params,
    })
}

/// `messages = [{ role = "system", content = "..." }, ...]`.
fn template_messages(
    c: &mut Checker<'_>,
    field: &str,
    raw: &Spanned<Vec<Spanned<crate::file::AiMessageFile>>>,
) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (i, m) in raw.get_ref().iter().enumerate() {
        let g = m.get_ref();
        match (&g.role, &g.content) {
            (Some(r), Some(t)) => out.push((r.get_ref().clone(), t.get_ref().clone())),
            _ => {
                let message = "a message needs `role` and `content`";
                c.fail_at(m.span(), format!("{field}.messages[{i}]"), message);
                return None;
            }
        }
    }
    if out.is_empty() {
        c.fail_at(
            raw.span(),
            format!("{field}.messages"),
            "at least one message",
        );
        return None;
    }
    Some(out)
}

/// `vars = [{ name = "text", type = "string", required = true }, ...]`.
fn vars(c: &mut Checker<'_>, field: &str, f: &AiTemplateFile) -> Option<Vec<ai::VarSpec>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, v) in f.vars.iter().flat_map(|v| v.get_ref()).enumerate() {
        match var(c, &format!("{field}.vars[{i}]"), v) {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One variable: its type and constraints.
fn var(c: &mut Checker<'_>, field: &str, raw: &Spanned<AiVarFile>) -> Option<ai::VarSpec> {
    let f = raw.get_ref();
    let Some(name) = &f.name else {
        c.fail_at(raw.span(), format!("{field}.name"), "`name` is required");
        return None;
    };
    let kind_name = f.kind.as_ref().map_or("string", |k| k.get_ref().as_str());
    let min = f.min.as_ref().map(|m| *m.get_ref());
    let max = f.max.as_ref().map(|m| *m.get_ref());
    let kind = match kind_name {
        "string" => ai::VarKind::String {
            max_len: f.max_len.as_ref().map(|m| (*m.get_ref()).max(0) as usize),
        },
        "number" => ai::VarKind::Number { min, max },
        "integer" => ai::VarKind::Integer {
            min: min.map(|m| m as i64),
            max: max.map(|m| m as i64),
        },
        "boolean" => ai::VarKind::Boolean,
        "enum" => ai::VarKind::Enum(
            f.values
                .iter()
                .flat_map(|v| v.get_ref())
                .map(|v| v.get_ref().clone())
                .collect(),
        ),
        other => {
            let message =
                format!("unknown type {other:?}: string, number, integer, boolean or enum");
            let span = f.kind.as_ref().map_or(raw.span(), Spanned::span);
            c.fail_at(span, format!("{field}.type"), message);
            return None;
        }
    };
    let default = match &f.default {
        Some(d) => Some(serde_json::to_value(d.get_ref()).ok()?),
        None => None,
    };
    Some(ai::VarSpec {
        name: name.get_ref().clone(),
        kind,
        required: f.required.as_ref().is_some_and(|r| *r.get_ref()),
        default,
        description: f.description.as_ref().map(|d| d.get_ref().clone()),
    })
}

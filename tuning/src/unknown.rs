//! Unknown keys in the config file. Deserialization goes through
//! `serde_ignored`, which reports every key no struct asked for, so one run of
//! `coregate check` lists all typos, not the first: each gets the line, the
//! field path and, when one is close, the field that was meant.

use serde::de::{self, Deserialize, Deserializer, Visitor};

use crate::file::{
    AccessFile, AccessLogFile, AiFile, AiKeyFile, AiMessageFile, AiModelFile, AiPriceFile,
    AiProviderFile, AiRouteFile, AiTargetFile, AiTemplateFile, AiVarFile, BackendTable,
    ClientAuthFile, CorsFile, DeclaredAppFile, DeclaredServiceFile, DeclaredSubFile,
    DeclaredTeamFile, FileConfig, HeaderMatchFile, HeaderOpsFile, HealthCheckFile, IoFile,
    LimitsFile, ListenTable, MetricsFile, OutlierFile, PoolFile, RateLimitFile, RedisFile,
    RespondFile, RetriesFile, RouteFile, RouteTimeoutsFile, ServerFile, TimeoutsFile, TlsCertFile,
    TlsFile, UpstreamFile, UpstreamTlsFile,
};

/// One step of a path into the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// The path `serde_ignored` reports, without its `Option` and `Spanned` wrappers.
pub(crate) fn segments(path: &serde_ignored::Path<'_>) -> Vec<Seg> {
    use serde_ignored::Path;
    let mut out = match path {
        Path::Root => return Vec::new(),
        Path::Seq { parent, .. }
        | Path::Map { parent, .. }
        | Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments(parent),
    };
    match path {
        Path::Seq { index, .. } => out.push(Seg::Index(*index)),
        Path::Map { key, .. } if !key.starts_with("$__serde_spanned_private") => {
            out.push(Seg::Key(key.clone()));
        }
        _ => {}
    }
    out
}

/// `routes[1].respond.stauts`.
pub(crate) fn display(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// "unknown field `lisen` (did you mean `listen`?)", or the fields expected there.
pub(crate) fn message(segs: &[Seg]) -> String {
    let (name, parent) = match segs.split_last() {
        Some((Seg::Key(name), parent)) => (name.as_str(), parent),
        _ => return "unknown field".to_owned(),
    };
    let known = known_fields(parent);
    if let Some(close) = closest(known, name) {
        return format!("unknown field `{name}` (did you mean `{close}`?)");
    }
    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    match list.is_empty() {
        true => format!("unknown field `{name}`"),
        false => format!(
            "unknown field `{name}`, expected one of {}",
            list.join(", ")
        ),
    }
}

/// A field within two edits of `name`, else the only one it begins.
pub(crate) fn closest<'k>(known: &[&'k str], name: &str) -> Option<&'k str> {
    let near = known.iter().copied().filter(|k| distance(k, name) <= 2);
    if let Some(k) = near.min_by_key(|k| distance(k, name)) {
        return Some(k);
    }
    let mut starting = known
        .iter()
        .copied()
        .filter(|k| name.len() >= 3 && k.starts_with(name));
    match (starting.next(), starting.next()) {
        (Some(k), None) => Some(k),
        _ => None,
    }
}

/// The fields serde expects in the table at `parent`.
fn known_fields(parent: &[Seg]) -> &'static [&'static str] {
    match shape(parent).as_str() {
        "" => fields_of::<FileConfig>(),
        "server" => fields_of::<ServerFile>(),
        "server.listen[]" => fields_of::<ListenTable>(),
        "timeouts" => fields_of::<TimeoutsFile>(),
        "limits" => fields_of::<LimitsFile>(),
        "io" => fields_of::<IoFile>(),
        "pool" => fields_of::<PoolFile>(),
        "metrics" => fields_of::<MetricsFile>(),
        "access_log" => fields_of::<AccessLogFile>(),
        "access" => fields_of::<AccessFile>(),
        "access.teams[]" => fields_of::<DeclaredTeamFile>(),
        "access.services[]" => fields_of::<DeclaredServiceFile>(),
        "access.apps[]" => fields_of::<DeclaredAppFile>(),
        "access.subscriptions[]" => fields_of::<DeclaredSubFile>(),
        "upstreams.*" => fields_of::<UpstreamFile>(),
        "upstreams.*.backends[]" => fields_of::<BackendTable>(),
        "upstreams.*.health_check" => fields_of::<HealthCheckFile>(),
        "upstreams.*.outlier" => fields_of::<OutlierFile>(),
        "upstreams.*.tls" => fields_of::<UpstreamTlsFile>(),
        "tls.*" => fields_of::<TlsFile>(),
        "tls.*.certificates[]" => fields_of::<TlsCertFile>(),
        "tls.*.client_auth" => fields_of::<ClientAuthFile>(),
        "routes[]" => fields_of::<RouteFile>(),
        "routes[].respond" => fields_of::<RespondFile>(),
        "routes[].headers[]" => fields_of::<HeaderMatchFile>(),
        "routes[].request_headers" | "routes[].response_headers" => fields_of::<HeaderOpsFile>(),
        "routes[].timeouts" => fields_of::<RouteTimeoutsFile>(),
        "routes[].retries" => fields_of::<RetriesFile>(),
        "routes[].cors" => fields_of::<CorsFile>(),
        "routes[].rate_limit" | "rate_limits[]" => fields_of::<RateLimitFile>(),
        "redis" => fields_of::<RedisFile>(),
        "ai" => fields_of::<AiFile>(),
        "ai.providers[]" => fields_of::<AiProviderFile>(),
        "ai.providers[].keys[]" => fields_of::<AiKeyFile>(),
        "ai.providers[].price" => fields_of::<AiPriceFile>(),
        "ai.models[]" => fields_of::<AiModelFile>(),
        "ai.models[].targets[]" => fields_of::<AiTargetFile>(),
        "ai.templates[]" => fields_of::<AiTemplateFile>(),
        "ai.templates[].messages[]" => fields_of::<AiMessageFile>(),
        "ai.templates[].vars[]" => fields_of::<AiVarFile>(),
        "routes[].ai" => fields_of::<AiRouteFile>(),
        _ => &[],
    }
}

/// `upstreams.api.backends[0]` → `upstreams.*.backends[]`; `tls.edge` → `tls.*`.
fn shape(segs: &[Seg]) -> String {
    let mut out = String::new();
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Index(_) => out.push_str("[]"),
            Seg::Key(_) if i == 1 && (out == "upstreams" || out == "tls") => out.push_str(".*"),
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => out.push_str(&format!(".{k}")),
        }
    }
    out
}

/// The field names `#[derive(Deserialize)]` gave `T`: `T` is asked to
/// deserialize from a probe that records them and then refuses.
fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _refused = T::deserialize(FieldProbe(&mut fields));
    fields
}

struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("field probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_owned())
    }

    #[test]
    fn probes_derived_fields() {
        assert!(fields_of::<ServerFile>().contains(&"listen"));
        assert!(fields_of::<BackendTable>().contains(&"weight"));
        assert_eq!(fields_of::<PoolFile>(), ["max_idle"]);
    }

    #[test]
    fn suggests_the_close_field() {
        let path = [
            key("upstreams"),
            key("api"),
            key("backends"),
            Seg::Index(0),
            key("wieght"),
        ];
        assert_eq!(display(&path), "upstreams.api.backends[0].wieght");
        assert_eq!(
            message(&path),
            "unknown field `wieght` (did you mean `weight`?)"
        );
        assert_eq!(
            message(&[key("pool"), key("zzz")]),
            "unknown field `zzz`, expected one of `max_idle`"
        );
        let path = [key("tls"), key("edge"), key("versoins")];
        assert_eq!(
            message(&path),
            "unknown field `versoins` (did you mean `versions`?)"
        );
        let path = [key("server"), key("listen"), Seg::Index(1), key("tsl")];
        assert_eq!(message(&path), "unknown field `tsl` (did you mean `tls`?)");
        let path = [key("routes"), Seg::Index(0), key("path_prefx")];
        assert_eq!(
            message(&path),
            "unknown field `path_prefx` (did you mean `path_prefix`?)"
        );
        let path = [key("routes"), Seg::Index(0), key("retries"), key("atempts")];
        assert_eq!(
            message(&path),
            "unknown field `atempts` (did you mean `attempts`?)"
        );
        let path = [
            key("upstreams"),
            key("api"),
            key("health_check"),
            key("intervall"),
        ];
        assert_eq!(
            message(&path),
            "unknown field `intervall` (did you mean `interval`?)"
        );
        // Two fields begin with "max_hea": no guess.
        assert_eq!(closest(&["max_head_bytes", "max_headers"], "max_hea"), None);
    }

    #[test]
    fn reference_doc_names_every_file_field() {
        let doc = include_str!("docs/config.md");
        let sections: [(&str, &[&str]); 9] = [
            ("server", fields_of::<ServerFile>()),
            ("timeouts", fields_of::<TimeoutsFile>()),
            ("limits", fields_of::<LimitsFile>()),
            ("io", fields_of::<IoFile>()),
            ("pool", fields_of::<PoolFile>()),
            ("metrics", fields_of::<MetricsFile>()),
            ("access_log", fields_of::<AccessLogFile>()),
            ("health_check", fields_of::<HealthCheckFile>()),
            ("outlier", fields_of::<OutlierFile>()),
        ];
        for (section, fields) in sections {
            for field in fields {
                let name = format!("`{section}.{field}`");
                assert!(doc.contains(&name), "docs/config.md lacks {name}");
            }
        }
        let tables = [
            fields_of::<RouteFile>(),
            fields_of::<BackendTable>(),
            fields_of::<HealthCheckFile>(),
            fields_of::<OutlierFile>(),
            fields_of::<HeaderMatchFile>(),
            fields_of::<HeaderOpsFile>(),
            fields_of::<RouteTimeoutsFile>(),
            fields_of::<RetriesFile>(),
            fields_of::<ListenTable>(),
        ];
        for field in tables.into_iter().flatten() {
            assert!(
                doc.contains(&format!("{field} =")),
                "docs/config.md lacks `{field} =`"
            );
        }
        // Every TLS field has a row in the TLS table.
        let tls = [
            ("tls.NAME", fields_of::<TlsFile>()),
            ("tls.NAME.certificates[]", fields_of::<TlsCertFile>()),
            ("tls.NAME.client_auth", fields_of::<ClientAuthFile>()),
            ("upstreams.NAME.tls", fields_of::<UpstreamTlsFile>()),
        ];
        for (table, fields) in tls {
            for field in fields.iter().filter(|&&f| f != "client_auth") {
                let row = format!("| `{table}.{field}`");
                assert!(doc.contains(&row), "docs/config.md lacks a row {row}");
            }
        }
        // Every group and route field has a row in its table.
        for field in fields_of::<UpstreamFile>()
            .iter()
            .chain(fields_of::<RouteFile>())
        {
            assert!(
                doc.contains(&format!("| `{field}")),
                "docs/config.md lacks a row for `{field}`"
            );
        }
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance("listen", "lisen"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}

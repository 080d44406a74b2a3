//! `[ai]` settings: what a valid file gives, and every mistake named with
//! its file, line and field.
#![allow(clippy::unwrap_used)]

use tuning::{parse_toml, KeySource, RouteAction};

const BASE: &str = r#"
[upstreams.mock]
backends = ["127.0.0.1:9100"]

[upstreams.anthropic]
backends = ["127.0.0.1:9101"]
tls = { sni = "api.anthropic.com" }

[[ai.providers]]
name = "openai"
kind = "openai"
upstream = "mock"
keys = [ { id = "a", env = "OPENAI_A", weight = 3 }, { file = "keys/b" } ]
models = { "gpt-4o" = "gpt-4o-2024-08-06" }
price = { input = 2.5, output = 10 }

[[ai.providers]]
name = "claude"
kind = "anthropic"
upstream = "anthropic"
keys = [ { env = "CLAUDE" } ]
first_byte_timeout = "5s"

[[ai.models]]
name = "smart"
targets = [ { provider = "openai", model = "gpt-4o", weight = 2 }, { provider = "claude", model = "claude-x", weight = 0 } ]

[[ai.templates]]
name = "summarize"
model = "smart"
messages = [ { role = "user", content = "Summarize: {{ text }}" } ]
vars = [ { name = "text", type = "string", required = true } ]

[[routes]]
path_prefix = "/ai"
ai = { }

[[routes]]
path = "/summarize"
ai = { template = "summarize" }
"#;

fn errors(text: &str) -> Vec<String> {
    match parse_toml("/etc/coregate/coregate.toml", text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_full_ai_config_validates() {
    let t = parse_toml("/etc/coregate/coregate.toml", BASE).unwrap();
    let ai = &t.ai;
    assert_eq!(ai.providers.len(), 2);
    let openai = &ai.providers[0];
    assert_eq!(openai.base_path, "/v1");
    assert_eq!(openai.host, "127.0.0.1:9100");
    assert_eq!(openai.keys[0].source, KeySource::Env("OPENAI_A".into()));
    assert_eq!(openai.keys[0].weight, 3);
    assert_eq!(openai.keys[1].id, "key-1");
    assert_eq!(
        openai.keys[1].source,
        KeySource::File("/etc/coregate/keys/b".into())
    );
    assert_eq!(openai.price.input, 2_500_000);
    assert_eq!(openai.price.cached, 2_500_000, "cached defaults to input");
    let claude = &ai.providers[1];
    assert_eq!(claude.host, "api.anthropic.com", "the group's SNI");
    assert_eq!(claude.first_byte_timeout.as_secs(), 5);
    let smart = ai.model("smart").unwrap();
    assert_eq!(smart.targets[0].model, "gpt-4o-2024-08-06", "mapped");
    assert_eq!(smart.targets[1].weight, 0);
    assert_eq!(ai.templates[0].0.name(), "summarize");
    assert!(matches!(&t.routes[0].action, RouteAction::Ai(a) if a.template.is_none()));
    assert!(matches!(&t.routes[1].action, RouteAction::Ai(a) if a.template == Some(0)));
}

#[test]
fn mistakes_are_named_with_their_line() {
    let cases = [
        (
            "kind = \"openai\"",
            "kind = \"bard\"",
            "ai.providers[0].kind",
            "unknown kind",
        ),
        (
            "upstream = \"mock\"",
            "upstream = \"nope\"",
            "ai.providers[0].upstream",
            "no [upstreams.nope]",
        ),
        (
            "keys = [ { env = \"CLAUDE\" } ]",
            "keys = [ { env = \"CLAUDE\", file = \"x\" } ]",
            "ai.providers[1].keys[0]",
            "exactly one of `file` and `env`",
        ),
        (
            "model = \"claude-x\"",
            "model = \"\"",
            "ai.models[0].targets[1].model",
            "empty",
        ),
        (
            "provider = \"claude\"",
            "provider = \"gemini\"",
            "ai.models[0].targets[1].provider",
            "no [[ai.providers]]",
        ),
        (
            "ai = { template = \"summarize\" }",
            "ai = { template = \"other\" }",
            "routes[1].ai.template",
            "no [[ai.templates]]",
        ),
        (
            "content = \"Summarize: {{ text }}\"",
            "content = \"{{ txt }}\"",
            "ai.templates[0]",
            "txt",
        ),
        (
            "model = \"smart\"",
            "model = \"dumb\"",
            "ai.templates[0].model",
            "neither",
        ),
    ];
    for (from, to, field, says) in cases {
        assert!(BASE.contains(from), "{from}");
        let text = BASE.replacen(from, to, 1);
        // A template that does not compile is named at its table.
        let at = if field == "ai.templates[0]" {
            "[[ai.templates]]"
        } else {
            to
        };
        let line = text.lines().position(|l| l.contains(at)).unwrap() + 1;
        let errors = errors(&text);
        let hit = errors.iter().find(|e| e.contains(field));
        let e = hit.unwrap_or_else(|| panic!("{field}: {errors:#?}"));
        assert!(e.contains(says), "{e}");
        assert!(
            e.contains(&format!("coregate.toml:{line}")),
            "{e} (line {line})"
        );
    }
}

#[test]
fn a_token_budget_is_a_local_rate_or_quota() {
    let ok = format!("{BASE}\n[[rate_limits]]\nname = \"tpm\"\nrate = \"1000/m\"\nunit = \"tokens\"\nkey = \"app\"\n");
    let t = parse_toml("c.toml", &ok).unwrap();
    let _ = t;
    let bad =
        format!("{BASE}\n[[rate_limits]]\nname = \"tpm\"\nconcurrency = 3\nunit = \"tokens\"\n");
    let found = errors(&bad);
    assert!(
        found.iter().any(|e| e.contains("rate_limits[0].unit")),
        "{found:#?}"
    );
    let typo =
        format!("{BASE}\n[[rate_limits]]\nname = \"tpm\"\nrate = \"1/s\"\nunit = \"token\"\n");
    let found = errors(&typo);
    assert!(
        found
            .iter()
            .any(|e| e.contains("expected \"requests\" or \"tokens\"")),
        "{found:#?}"
    );
}

#[test]
fn keys_are_never_written_in_the_config() {
    let text = BASE.replacen("{ env = \"CLAUDE\" }", "{ key = \"sk-live-123\" }", 1);
    let errors = errors(&text);
    assert!(
        errors.iter().any(|e| e.contains("unknown field `key`")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().all(|e| !e.contains("sk-live-123")),
        "{errors:#?}"
    );
}

#[test]
fn a_token_budget_on_a_route_that_is_not_ai_is_an_error() {
    let text = format!(
        "{BASE}\n[[rate_limits]]\nname = \"tpd\"\nquota = \"1000/day\"\nunit = \"tokens\"\n\n[[routes]]\npath = \"/plain\"\nupstream = \"mock\"\nrate_limits = [\"tpd\"]\n"
    );
    let found = errors(&text);
    assert!(
        found
            .iter()
            .any(|e| e.contains("routes[2].rate_limits") && e.contains("only AI routes")),
        "{found:#?}"
    );
}

#[test]
fn values_that_go_into_request_heads_are_visible_characters() {
    let cases = [
        (
            "kind = \"anthropic\"",
            "kind = \"anthropic\"\nhost = \"a\\r\\nx-evil: 1\"",
            "ai.providers[1].host",
        ),
        (
            "upstream = \"mock\"",
            "upstream = \"mock\"\nbase_path = \"/v1\\r\\nx: y\"",
            "ai.providers[0].base_path",
        ),
        (
            "\"gpt-4o\" = \"gpt-4o-2024-08-06\"",
            "\"gpt-4o\" = \"gpt 4o\"",
            "ai.providers[0].models",
        ),
        (
            "ai = { }",
            "ai = { models = [\"nope\"] }",
            "routes[0].ai.models",
        ),
    ];
    for (from, to, field) in cases {
        assert!(BASE.contains(from), "{from}");
        let found = errors(&BASE.replacen(from, to, 1));
        assert!(
            found.iter().any(|e| e.contains(field)),
            "{field}: {found:#?}"
        );
    }
    let narrow = BASE.replacen("ai = { }", "ai = { models = [\"smart\", \"claude/*\"] }", 1);
    let t = parse_toml("c.toml", &narrow).unwrap();
    let RouteAction::Ai(route) = &t.routes[0].action else {
        panic!("not ai");
    };
    assert!(route.allows("smart") && route.allows("claude/x"));
    assert!(!route.allows("openai/gpt-4o") && !route.allows("claude/") && !route.allows("claude"));
}

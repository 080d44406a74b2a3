//! Properties of the value parsers: what the formatter writes, the parser
//! reads back, and no input makes either panic.

use std::time::Duration;

use proptest::prelude::*;
use tuning::{format_duration, parse_cpu_list, parse_duration, parse_size, Rewrite};

proptest! {
    #[test]
    fn durations_round_trip(ms in 0u64..10_000_000_000) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[test]
    fn sizes_read_plain_and_suffixed(n in 0u64..(1 << 33)) {
        prop_assert_eq!(parse_size(&n.to_string()), Ok(n));
        prop_assert_eq!(parse_size(&format!("{n}k")), Ok(n << 10));
        prop_assert_eq!(parse_size(&format!("{n}M")), Ok(n << 20));
    }

    #[test]
    fn cpu_ranges_expand_in_order(lo in 0usize..512, len in 0usize..64) {
        let hi = lo + len;
        prop_assert_eq!(parse_cpu_list(&format!("{lo}-{hi}")), Ok((lo..=hi).collect::<Vec<_>>()));
    }

    #[test]
    fn parsers_never_panic(text in "\\PC{0,24}") {
        let _ = parse_duration(&text);
        let _ = parse_size(&text);
        let _ = parse_cpu_list(&text);
    }

    #[test]
    fn rewrites_start_with_a_slash_and_keep_the_rest(
        prefix in "(/[a-z]{1,3}){0,3}/?",
        rest in "(/[a-z]{0,3}){0,3}(\\?[a-z=]{0,4})?",
        with in "(/[a-z]{1,3}){0,2}/?",
    ) {
        let path = format!("{}{rest}", prefix.trim_end_matches('/'));
        for rw in [Rewrite::StripPrefix, Rewrite::ReplacePrefix(with.clone())] {
            let out = rw.apply(&prefix, &path);
            prop_assert!(out.as_ref().is_some_and(|o| o.starts_with('/')), "{:?}", out);
            let out = out.unwrap_or_default();
            prop_assert!(out.ends_with(rest.trim_start_matches('/')), "{} {}", out, rest);
        }
    }

    #[test]
    fn route_fields_never_panic(
        field in "(path|path_regex|hash_key|rewrite_prefix|forward_path|allow_encoded_slashes|methods|headers|retries|timeouts)",
        value in "[\\[\\]a-z_=\"{},.0-9 :/^$*+?()|-]{0,40}",
    ) {
        let text = format!("[upstreams.a]\nbackends = [\"127.0.0.1:1\"]\n[[routes]]\nupstream = \"a\"\n{field} = {value}\n");
        let _ = tuning::parse_toml("fuzz.toml", &text);
    }

    #[test]
    fn config_text_never_panics(text in "[\\[\\]a-z_=\"{},.0-9 \n#*-]{0,200}") {
        let _ = tuning::parse_toml("fuzz.toml", &text);
    }
}

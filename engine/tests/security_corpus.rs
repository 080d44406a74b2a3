//! Security regression corpus: request smuggling, response splitting, pool
//! poisoning and route bypass attempts, each played against one in-process
//! gateway (one shard) and a scripted raw origin on 127.0.0.1, with exact
//! expectations. After every case two fresh clients must each get their own
//! response. The harness lives in `corpus/`.

mod common;
mod corpus;

use corpus::{After, Case, End, Outcome, Script, POISON};

/// Runs a group and fails with every failing case listed.
fn check_group(group: &str, cases: Vec<Case>) {
    let failures = corpus::run(group, cases);
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------- helpers

/// A POST for `{P}` with extra header lines (each ending in CRLF) and a body.
fn post(headers: &str, body: &str) -> Vec<u8> {
    format!("POST {{P}} HTTP/1.1\r\nHost: a.test\r\n{headers}\r\n{body}").into_bytes()
}

/// A GET for `{P}` with one more header line (ending in CRLF).
fn get_with(line: &str) -> Vec<u8> {
    format!("GET {{P}} HTTP/1.1\r\nHost: a.test\r\n{line}\r\n").into_bytes()
}

/// A request the gateway must refuse with 400 before the origin sees it.
fn bad(name: &str, raw: &[u8]) -> Case {
    Case::new(name, raw).refused(400)
}

/// A chunked POST whose chunk syntax is invalid: 400, and the origin never
/// gets a complete request.
fn bad_chunks(name: &str, chunks: &str) -> Case {
    let raw = post("Transfer-Encoding: chunked\r\n", chunks);
    Case::new(name, &raw)
        .status(400)
        .closes()
        .origin_no_complete()
}

/// A chunked POST that is valid: the origin gets `hello`.
fn good_chunks(name: &str, te: &str, chunks: &str) -> Case {
    let raw = post(&format!("Transfer-Encoding:{te}\r\n"), chunks);
    Case::new(name, &raw).forwarded().origin_body(0, b"hello")
}

/// A 200 head with extra header lines (each ending in CRLF).
fn ok_head(headers: &str) -> String {
    format!("HTTP/1.1 200 OK\r\n{headers}\r\n")
}

/// A complete content-length framed 200.
fn ok_cl(body: &str) -> Vec<u8> {
    format!(
        "{}{body}",
        ok_head(&format!("Content-Length: {}\r\n", body.len()))
    )
    .into_bytes()
}

/// A 200 head announcing a chunked body, followed by `chunks`.
fn ok_chunked(chunks: &str) -> Vec<u8> {
    format!("{}{chunks}", ok_head("Transfer-Encoding: chunked\r\n")).into_bytes()
}

/// An origin answer the gateway must turn into a 502.
fn bad_origin(name: &str, reply: &[u8]) -> Case {
    Case::get(name).origin(reply).status(502)
}

/// An origin answer that carries `hello` with one content-length of 5.
fn origin_hello(name: &str, reply: &str) -> Case {
    Case::get(name)
        .origin(reply.as_bytes())
        .status(200)
        .body(0, b"hello")
        .header(0, "content-length", &["5"])
}

/// Answer `reply`, then `late` this many milliseconds later, same connection.
fn late(reply: &[u8], ms: u64, late: &[u8]) -> Script {
    Script {
        late: Some((ms, late.to_vec())),
        ..Script::reply(reply)
    }
}

/// The first response is a 502, or a response whose body is cut short:
/// either way the client cannot take it for a complete answer.
fn failed_or_cut(o: &Outcome) -> Result<(), String> {
    match o.resps.first() {
        Some(r) if r.status == 502 && r.cut.is_none() => Ok(()),
        Some(r) if r.cut.as_ref().is_some_and(End::is_closed) => Ok(()),
        r => Err(format!(
            "want a 502 or a cut body, got {r:?} then {:?}",
            o.end
        )),
    }
}

/// Every client response is an error (4xx/5xx), if any came.
fn no_success(o: &Outcome) -> Result<(), String> {
    match o.resps.iter().find(|r| r.status < 400) {
        None => Ok(()),
        Some(r) => Err(format!("a {} reached the client", r.status)),
    }
}

// ------------------------------------------------------- 1. request side

fn request_cases() -> Vec<Case> {
    let mut v = framing_cases();
    v.extend(syntax_cases());
    v.extend(chunk_cases());
    v.extend(content_length_cases());
    v.extend(host_and_version_cases());
    v
}

/// Content-Length with Transfer-Encoding, and Transfer-Encoding disguises.
fn framing_cases() -> Vec<Case> {
    let end = "0\r\n\r\n";
    vec![
        bad(
            "cl_then_te",
            &post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", end),
        ),
        bad(
            "te_then_cl",
            &post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", end),
        ),
        bad(
            "te_with_cl_zero",
            &post("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", end),
        ),
        bad(
            "te_tab_with_cl",
            &post("Transfer-Encoding:\tchunked\r\nContent-Length: 5\r\n", end),
        ),
        bad(
            "te_identity_chunked_with_cl",
            &post(
                "Transfer-Encoding: identity, chunked\r\nContent-Length: 5\r\n",
                end,
            ),
        ),
        bad(
            "te_xchunked_with_cl",
            &post(
                "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n",
                "hello",
            ),
        ),
        bad(
            "te_chunked_identity",
            &post("Transfer-Encoding: chunked, identity\r\n", end),
        ),
        bad("te_xchunked", &post("Transfer-Encoding: xchunked\r\n", end)),
        bad(
            "te_chunked_suffix",
            &post("Transfer-Encoding: chunked1\r\n", end),
        ),
        bad(
            "te_quoted",
            &post("Transfer-Encoding: \"chunked\"\r\n", end),
        ),
        bad(
            "te_vertical_tab",
            &post("Transfer-Encoding: \x0bchunked\r\n", end),
        ),
        bad(
            "te_space_before_colon",
            &post("Transfer-Encoding : chunked\r\n", end),
        ),
        bad(
            "te_tab_before_colon",
            &post("Transfer-Encoding\t: chunked\r\n", end),
        ),
        bad(
            "te_chunked_on_two_lines",
            &post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                end,
            ),
        ),
        bad(
            "te_chunked_twice_in_list",
            &post("Transfer-Encoding: chunked, chunked\r\n", end),
        ),
        bad(
            "te_gzip_only",
            &post("Transfer-Encoding: gzip\r\n", "hello"),
        ),
        bad(
            "te_chunked_then_gzip_line",
            &post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
                end,
            ),
        ),
        bad("te_empty", &post("Transfer-Encoding: \r\n", end)),
        bad(
            "te_on_http10",
            b"POST {P} HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        bad(
            "te_underscore_name",
            &post("Transfer_Encoding: chunked\r\n", end),
        ),
        good_chunks("te_tab_ows_alone", "\tchunked", "5\r\nhello\r\n0\r\n\r\n"),
        good_chunks("te_uppercase", " CHUNKED", "5\r\nhello\r\n0\r\n\r\n"),
    ]
}

/// Line endings, folding, control bytes and field names.
fn syntax_cases() -> Vec<Case> {
    vec![
        bad("obs_fold_space", &get_with("X-A: a\r\n b\r\n")),
        bad("obs_fold_tab", &get_with("X-A: a\r\n\tb\r\n")),
        bad(
            "obs_fold_te",
            &post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"),
        ),
        bad(
            "obs_fold_first_line",
            b"GET {P} HTTP/1.1\r\n Host: a.test\r\n\r\n",
        ),
        bad("bare_cr_in_value", &get_with("X-A: a\rb\r\n")),
        bad(
            "bare_cr_line_end",
            b"GET {P} HTTP/1.1\r\nHost: a.test\rX-A: b\r\n\r\n",
        ),
        bad(
            "bare_cr_request_line",
            b"GET {P} HTTP/1.1\rHost: a.test\r\n\r\n",
        ),
        bad("bare_lf_everywhere", b"GET {P} HTTP/1.1\nHost: a.test\n\n"),
        bad(
            "bare_lf_one_header",
            b"GET {P} HTTP/1.1\r\nHost: a.test\nX-A: b\r\n\r\n",
        ),
        bad(
            "bare_lf_end_of_head",
            b"GET {P} HTTP/1.1\r\nHost: a.test\r\n\n",
        ),
        bad("nul_in_value", &get_with("X-A: a\0b\r\n")),
        bad("nul_in_name", &get_with("X-\0A: b\r\n")),
        bad("space_in_name", &post("Content Length: 5\r\n", "hello")),
        bad(
            "underscore_content_length",
            &post("Content_Length: 5\r\n", "hello"),
        ),
        bad("no_colon", &get_with("X-A\r\n")),
        bad("empty_name", &get_with(": v\r\n")),
        bad(
            "double_space_request_line",
            b"GET  {P} HTTP/1.1\r\nHost: a.test\r\n\r\n",
        ),
        bad(
            "tab_in_request_line",
            b"GET\t{P} HTTP/1.1\r\nHost: a.test\r\n\r\n",
        ),
        bad(
            "space_in_target",
            b"GET {P}/a b HTTP/1.1\r\nHost: a.test\r\n\r\n",
        ),
        Case::new(
            "head_too_large",
            &get_with(&format!("X-Big: {}\r\n", "a".repeat(20_000))),
        )
        .refused(431),
    ]
}

/// Chunk-size lines and chunk data framing.
fn chunk_cases() -> Vec<Case> {
    let ok = "5\r\nhello\r\n0\r\n\r\n";
    vec![
        bad_chunks("chunk_negative_size", "-5\r\nhello\r\n0\r\n\r\n"),
        bad_chunks(
            "chunk_size_overflow",
            "10000000000000005\r\nhello\r\n0\r\n\r\n",
        ),
        bad_chunks("chunk_size_0x", "0x5\r\nhello\r\n0\r\n\r\n"),
        bad_chunks("chunk_size_plus", "+5\r\nhello\r\n0\r\n\r\n"),
        bad_chunks("chunk_size_empty", "\r\nhello\r\n0\r\n\r\n"),
        bad_chunks("chunk_size_trailing_space", "5 \r\nhello\r\n0\r\n\r\n"),
        bad_chunks("chunk_size_leading_space", " 5\r\nhello\r\n0\r\n\r\n"),
        bad_chunks("chunk_size_bare_lf", "5\nhello\r\n0\r\n\r\n"),
        bad_chunks("chunk_data_without_crlf", "5\r\nhelloX\r\n0\r\n\r\n"),
        bad_chunks("chunk_data_too_long", "3\r\nhello\r\n0\r\n\r\n"),
        bad_chunks(
            "chunk_ext_unterminated_quote",
            "5;a=\"b\r\nhello\r\n0\r\n\r\n",
        ),
        bad_chunks("chunk_ext_empty", "5;\r\nhello\r\n0\r\n\r\n"),
        good_chunks(
            "chunk_size_leading_zeros",
            " chunked",
            "005\r\nhello\r\n0\r\n\r\n",
        ),
        good_chunks(
            "chunk_ext_token",
            " chunked",
            "5;name=value\r\nhello\r\n0\r\n\r\n",
        ),
        good_chunks(
            "chunk_ext_quoted",
            " chunked",
            "5;a=\"b c\"\r\nhello\r\n0\r\n\r\n",
        ),
        good_chunks(
            "chunked_with_trailer",
            " chunked",
            "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        ),
        good_chunks("chunked_plain", " chunked", ok),
    ]
}

/// Content-Length values.
fn content_length_cases() -> Vec<Case> {
    let same = |name: &str, headers: &str| {
        Case::new(name, &post(headers, "abcd"))
            .forwarded()
            .origin_header(0, "content-length", &["4"])
            .origin_body(0, b"abcd")
    };
    vec![
        bad(
            "cl_u64_max",
            &post("Content-Length: 18446744073709551615\r\n", "hello"),
        ),
        bad(
            "cl_overflow",
            &post("Content-Length: 99999999999999999999\r\n", "hello"),
        ),
        bad(
            "cl_list_differs",
            &post("Content-Length: 5, 6\r\n", "hello"),
        ),
        bad(
            "cl_lines_differ",
            &post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello"),
        ),
        bad("cl_plus", &post("Content-Length: +5\r\n", "hello")),
        bad("cl_negative", &post("Content-Length: -5\r\n", "hello")),
        bad("cl_hex", &post("Content-Length: 0x5\r\n", "hello")),
        bad("cl_empty", &post("Content-Length: \r\n", "hello")),
        bad(
            "cl_trailing_garbage",
            &post("Content-Length: 5a\r\n", "hello"),
        ),
        bad("cl_inner_space", &post("Content-Length: 5 5\r\n", "hello")),
        bad(
            "cl_space_before_colon",
            &post("Content-Length : 5\r\n", "hello"),
        ),
        same("cl_list_same", "Content-Length: 4, 4\r\n"),
        same(
            "cl_lines_same",
            "Content-Length: 4\r\nContent-Length: 4\r\n",
        ),
        Case::new(
            "connection_cannot_drop_cl",
            &post(
                "Connection: content-length\r\nContent-Length: 5\r\n",
                "hello",
            ),
        )
        .forwarded()
        .origin_header(0, "content-length", &["5"])
        .origin_body(0, b"hello"),
    ]
}

/// Host fields, protocol versions and request-target forms.
fn host_and_version_cases() -> Vec<Case> {
    let version_error = |name: &str, raw: &[u8]| {
        Case::new(name, raw)
            .status_in(&[400, 505])
            .closes()
            .origin_nothing()
    };
    vec![
        bad("host_missing", b"GET {P} HTTP/1.1\r\n\r\n"),
        bad(
            "host_twice",
            b"GET {P} HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
        ),
        bad(
            "host_twice_same",
            b"GET {P} HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n",
        ),
        bad(
            "host_list",
            b"GET {P} HTTP/1.1\r\nHost: a.test, b.test\r\n\r\n",
        ),
        bad(
            "absolute_form_without_host",
            b"GET http://a.test{P} HTTP/1.1\r\n\r\n",
        ),
        Case::new(
            "absolute_form_host_wins",
            b"GET http://a.test{P} HTTP/1.1\r\nHost: b.test\r\n\r\n",
        )
        .forwarded()
        .origin_target(0, "{P}")
        .origin_header(0, "host", &["a.test"]),
        version_error("version_1_2", b"GET {P} HTTP/1.2\r\nHost: a.test\r\n\r\n"),
        version_error("version_2_0", b"GET {P} HTTP/2.0\r\nHost: a.test\r\n\r\n"),
        version_error("h2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        bad("version_0_9_style", b"GET {P}\r\n\r\n"),
        bad(
            "version_lowercase",
            b"GET {P} http/1.1\r\nHost: a.test\r\n\r\n",
        ),
        bad(
            "version_two_digit_major",
            b"GET {P} HTTP/11.1\r\nHost: a.test\r\n\r\n",
        ),
    ]
}

#[test]
fn request_side() {
    check_group("request", request_cases());
}

// ------------------------------------------------------ 2. response side

fn response_cases() -> Vec<Case> {
    let mut v = origin_framing_cases();
    v.extend(surplus_cases());
    v.extend(upgrade_and_interim_cases());
    v.extend(bodyless_cases());
    v.extend(truncation_cases());
    v.extend(origin_chunk_cases());
    v.extend(origin_head_cases());
    v
}

/// Content-Length and Transfer-Encoding from the origin.
fn origin_framing_cases() -> Vec<Case> {
    let te_wins = |name: &str, headers: &str| {
        Case::get(name)
            .origin(&[ok_head(headers).as_bytes(), b"5\r\nhello\r\n0\r\n\r\n"].concat())
            .status(200)
            .body(0, b"hello")
            .header(0, "content-length", &[])
    };
    vec![
        bad_origin(
            "cl_lines_differ",
            &[
                ok_head("Content-Length: 5\r\nContent-Length: 6\r\n").as_bytes(),
                b"hello!",
            ]
            .concat(),
        ),
        bad_origin(
            "cl_list_differs",
            &[ok_head("Content-Length: 5, 6\r\n").as_bytes(), b"hello!"].concat(),
        ),
        bad_origin(
            "cl_not_a_number",
            &[ok_head("Content-Length: abc\r\n").as_bytes(), b"hello"].concat(),
        ),
        bad_origin(
            "cl_negative",
            &[ok_head("Content-Length: -1\r\n").as_bytes(), b"hello"].concat(),
        ),
        bad_origin(
            "cl_plus",
            &[ok_head("Content-Length: +5\r\n").as_bytes(), b"hello"].concat(),
        ),
        bad_origin(
            "cl_overflow",
            &[
                ok_head("Content-Length: 99999999999999999999\r\n").as_bytes(),
                b"hello",
            ]
            .concat(),
        ),
        origin_hello(
            "cl_list_same",
            &(ok_head("Content-Length: 5, 5\r\n") + "hello"),
        ),
        origin_hello(
            "cl_lines_same",
            &(ok_head("Content-Length: 5\r\nContent-Length: 5\r\n") + "hello"),
        ),
        te_wins(
            "te_then_cl",
            "Transfer-Encoding: chunked\r\nContent-Length: 100\r\n",
        ),
        te_wins(
            "cl_then_te",
            "Content-Length: 100\r\nTransfer-Encoding: chunked\r\n",
        ),
        te_wins(
            "cl_shorter_than_chunks",
            "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
        ),
    ]
}

/// Bytes the origin sends beyond its response, at once or later.
fn surplus_cases() -> Vec<Case> {
    let hello = ok_cl("hello");
    let chunked = ok_chunked("5\r\nhello\r\n0\r\n\r\n");
    vec![
        Case::get("late_response_on_idle_connection")
            .script(late(&hello, 150, POISON))
            .settle(400)
            .status(200)
            .body(0, b"hello"),
        Case::get("late_response_after_chunked")
            .script(late(&chunked, 150, POISON))
            .settle(400)
            .status(200)
            .body(0, b"hello"),
        Case::get("late_garbage_on_idle_connection")
            .script(late(&hello, 150, b"garbage\r\n\r\n"))
            .settle(400)
            .status(200),
        Case::get("late_response_after_204")
            .script(late(b"HTTP/1.1 204 No Content\r\n\r\n", 150, POISON))
            .settle(400)
            .status(204),
        Case::get("surplus_response_same_write")
            .origin(&[&hello[..], POISON].concat())
            .status(200)
            .body(0, b"hello"),
        Case::get("surplus_garbage_same_write")
            .origin(&[&hello[..], b"garbage"].concat())
            .status(200)
            .body(0, b"hello"),
        Case::get("surplus_after_chunked_end")
            .origin(&[&chunked[..], POISON].concat())
            .status(200)
            .body(0, b"hello"),
        Case::get("connection_close_not_reused")
            .origin_then(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
                After::Poison,
            )
            .status(200)
            .body(0, b"hello"),
        Case::get("http10_response_not_reused")
            .origin_then(
                b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                After::Poison,
            )
            .status(200)
            .body(0, b"hello"),
    ]
}

/// A 101 to `proto`, as an origin would send it.
fn switching(proto: &str) -> Vec<u8> {
    format!("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: {proto}\r\n\r\n")
        .into_bytes()
}

/// A GET for `{P}` asking for an h2c upgrade.
fn h2c_request() -> Vec<u8> {
    get_with(concat!(
        "Connection: Upgrade, HTTP2-Settings\r\n",
        "Upgrade: h2c\r\n",
        "HTTP2-Settings: AAMAAABkAAQAAP__\r\n"
    ))
}

/// 101 and the other 1xx responses.
fn upgrade_and_interim_cases() -> Vec<Case> {
    let ws101 = switching("websocket");
    let interim = |name: &str, first: &str| {
        Case::get(name)
            .origin(&[first.as_bytes(), &ok_cl("final")].concat())
            .status(200)
            .body(0, b"final")
    };
    let c100 = "HTTP/1.1 100 Continue\r\n\r\n";
    let c103 = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n";
    vec![
        Case::get("unrequested_101")
            .origin_then(&ws101, After::Poison)
            .status(502),
        Case::get("unrequested_101_with_data")
            .origin_then(&[&ws101[..], b"hello"].concat(), After::Poison)
            .status(502),
        Case::new(
            "101_without_connection_upgrade",
            &get_with("Upgrade: websocket\r\n"),
        )
        .origin_then(&ws101, After::Poison)
        .status(502),
        Case::new("h2c_served_plain", &h2c_request())
            .origin(&ok_cl("plain"))
            .forwarded()
            .body(0, b"plain")
            .origin_header(0, "upgrade", &[])
            .origin_header(0, "http2-settings", &[]),
        Case::new("h2c_answered_101", &h2c_request())
            .origin_then(&switching("h2c"), After::Poison)
            .status(502),
        interim("interim_100", c100),
        interim("interim_102", "HTTP/1.1 102 Processing\r\n\r\n"),
        interim("interim_103", c103),
        interim("interim_several", &[c100, c103, c103].concat()),
        Case::get("interim_then_pause")
            .script(late(c100.as_bytes(), 100, &ok_cl("final")))
            .status(200)
            .body(0, b"final"),
    ]
}

/// A `status` head with `headers`, then `rest` (bytes that are no body).
fn bodyless(status: &str, headers: &str, rest: &[u8]) -> Vec<u8> {
    [
        format!("HTTP/1.1 {status}\r\n{headers}\r\n").as_bytes(),
        rest,
    ]
    .concat()
}

/// Bodies the origin sends where there must be none.
fn bodyless_cases() -> Vec<Case> {
    let poison_len = format!("Content-Length: {}\r\n", POISON.len());
    let chunked = "Transfer-Encoding: chunked\r\n";
    let hello = b"5\r\nhello\r\n0\r\n\r\n";
    vec![
        Case::head("head_with_body")
            .origin(&bodyless("200 OK", &poison_len, POISON))
            .status(200),
        Case::head("head_with_chunked_body")
            .origin(&bodyless("200 OK", chunked, hello))
            .status(200),
        Case::get("204_with_body")
            .origin(&bodyless(
                "204 No Content",
                "Content-Length: 5\r\n",
                b"hello",
            ))
            .status(204),
        Case::get("204_followed_by_response")
            .origin(&bodyless("204 No Content", "", POISON))
            .status(204),
        Case::get("304_with_body")
            .origin(&bodyless("304 Not Modified", &poison_len, POISON))
            .status(304),
        Case::get("304_with_chunked_body")
            .origin(&bodyless("304 Not Modified", chunked, hello))
            .status(304),
    ]
}

/// The origin closes or resets before or during its response.
fn truncation_cases() -> Vec<Case> {
    let h10 = b"GET {P} HTTP/1.0\r\n\r\n";
    let cl10 = [ok_head("Content-Length: 10\r\n").as_bytes(), b"hello"].concat();
    let half_chunked = ok_chunked("5\r\nhello\r\n");
    vec![
        Case::get("close_before_any_byte")
            .origin_then(b"", After::Close)
            .status(502),
        Case::get("reset_before_any_byte")
            .origin_then(b"", After::Reset)
            .status(502),
        Case::get("close_mid_status_line")
            .origin_then(b"HTTP/1.1 20", After::Close)
            .status(502),
        Case::get("close_mid_head")
            .origin_then(b"HTTP/1.1 200 OK\r\nContent-Le", After::Close)
            .status(502),
        Case::get("close_mid_body_cl")
            .origin_then(&cl10, After::Close)
            .cut(0, 200),
        Case::get("reset_mid_body_cl")
            .origin_then(&cl10, After::Reset)
            .cut(0, 200),
        Case::get("close_mid_body_chunked")
            .origin_then(&half_chunked, After::Close)
            .cut(0, 200),
        Case::get("close_mid_chunk_data")
            .origin_then(&ok_chunked("a\r\nhello"), After::Close)
            .cut(0, 200),
        Case::get("close_delimited_reset")
            .origin_then(&[ok_head("").as_bytes(), b"hello"].concat(), After::Reset)
            .cut(0, 200),
        Case::new("http10_chunked_truncated", h10)
            .origin_then(&half_chunked, After::Close)
            .aborted(0, 200),
        Case::new("http10_chunked_reset", h10)
            .origin_then(&half_chunked, After::Reset)
            .aborted(0, 200),
        Case::new("http10_close_delimited_reset", h10)
            .origin_then(&[ok_head("").as_bytes(), b"hello"].concat(), After::Reset)
            .aborted(0, 200),
        Case::new("http10_cl_truncated", h10)
            .origin_then(&cl10, After::Close)
            .cut(0, 200),
    ]
}

/// Malformed chunks and trailers from the origin.
fn origin_chunk_cases() -> Vec<Case> {
    let trailers = |name: &str, bad: &str| {
        let chunks = format!("5\r\nhello\r\n0\r\n{bad}X-Legit: yes\r\n\r\n");
        Case::new(name, &get_with("TE: trailers\r\n"))
            .origin(&ok_chunked(&chunks))
            .status(200)
            .body(0, b"hello")
            .trailer(0, "x-legit", &["yes"])
            .trailer(0, "content-length", &[])
            .trailer(0, "host", &[])
            .trailer(0, "transfer-encoding", &[])
    };
    vec![
        bad_origin(
            "first_chunk_size_invalid",
            &ok_chunked("zz\r\nhello\r\n0\r\n\r\n"),
        ),
        bad_origin(
            "first_chunk_size_negative",
            &ok_chunked("-5\r\nhello\r\n0\r\n\r\n"),
        ),
        bad_origin(
            "first_chunk_size_overflow",
            &ok_chunked("fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        ),
        bad_origin(
            "first_chunk_without_crlf",
            &ok_chunked("5\r\nhelloXY0\r\n\r\n"),
        ),
        bad_origin(
            "malformed_trailer",
            &ok_chunked("0\r\nthis is not a field\r\n\r\n"),
        ),
        bad_origin("trailer_with_nul", &ok_chunked("0\r\nX-A: a\0b\r\n\r\n")),
        Case::get("later_chunk_invalid")
            .origin(&ok_chunked("5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n"))
            .check(failed_or_cut),
        trailers("trailer_content_length_dropped", "Content-Length: 99\r\n"),
        trailers("trailer_host_dropped", "Host: evil.test\r\n"),
        trailers(
            "trailer_transfer_encoding_dropped",
            "Transfer-Encoding: chunked\r\n",
        ),
        trailers(
            "trailers_forbidden_all_dropped",
            "Content-Length: 99\r\nHost: evil.test\r\nTransfer-Encoding: chunked\r\n",
        ),
    ]
}

/// Malformed or oversized response heads.
fn origin_head_cases() -> Vec<Case> {
    let many: String = (0..500).map(|i| format!("X-N{i}: v\r\n")).collect();
    vec![
        bad_origin(
            "head_too_large",
            &[
                ok_head(&format!(
                    "X-Big: {}\r\nContent-Length: 2\r\n",
                    "a".repeat(40_000)
                ))
                .as_bytes(),
                b"ok",
            ]
            .concat(),
        ),
        bad_origin(
            "too_many_headers",
            &[
                ok_head(&format!("{many}Content-Length: 2\r\n")).as_bytes(),
                b"ok",
            ]
            .concat(),
        ),
        bad_origin(
            "nul_in_header",
            &[
                ok_head("X-A: a\0b\r\nContent-Length: 2\r\n").as_bytes(),
                b"ok",
            ]
            .concat(),
        ),
        bad_origin(
            "status_not_digits",
            b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok",
        ),
        bad_origin(
            "bad_protocol_name",
            b"HTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ),
        Case::get("obs_fold_not_relayed")
            .origin(
                &[
                    ok_head("X-A: a\r\n b\r\nContent-Length: 2\r\n").as_bytes(),
                    b"ok",
                ]
                .concat(),
            )
            .status_in(&[200, 502]),
    ]
}

#[test]
fn response_side() {
    check_group("response", response_cases());
}

// ------------------------------------------------------- 3. route bypass

/// A GET for `target` (not `{P}`): the origin answers `seen <target>`.
/// Whatever the origin sees must stay inside `/public`, normalised.
fn path(name: &str, target: &str) -> Case {
    Case::new(
        name,
        format!("GET {target} HTTP/1.1\r\nHost: a.test\r\n\r\n").as_bytes(),
    )
    .shared()
    .check(confined)
}

/// Every target the origin saw is a normalised path inside `/public`.
fn confined(o: &Outcome) -> Result<(), String> {
    for s in &o.seen {
        let p = s.target.split('?').next().unwrap_or("");
        let inside = p == "/public" || p.starts_with("/public/");
        let lower = p.to_ascii_lowercase();
        let dotted = lower
            .split('/')
            .any(|seg| matches!(seg.replace("%2e", ".").as_str(), "." | ".."));
        if !inside || dotted || lower.contains("%2f") || lower.contains("%5c") {
            return Err(format!("origin saw {:?}", s.target));
        }
    }
    Ok(())
}

/// Leaves `/public` after normalisation: the catch-all 403.
fn denied(name: &str, target: &str) -> Case {
    path(name, target)
        .status(403)
        .body(0, b"denied")
        .origin_nothing()
}

/// Climbs above `/` or hides a separator: 400.
fn refused_path(name: &str, target: &str) -> Case {
    path(name, target).refused(400)
}

/// Stays inside `/public`: the origin sees exactly `seen`.
fn public(name: &str, target: &str, seen: &'static str) -> Case {
    path(name, target).forwarded().origin_target(0, seen)
}

fn route_cases() -> Vec<Case> {
    vec![
        public("plain", "/public/x", "/public/x"),
        public("prefix_itself", "/public", "/public"),
        public("dot_segment_inside", "/public/a/./b", "/public/a/b"),
        public("dotdot_inside", "/public/a/../b", "/public/b"),
        public("dotdot_to_prefix_dir", "/public/x/..", "/public/"),
        public("encoded_dot_inside", "/public/%2e/x", "/public/x"),
        public("encoded_dotdot_inside", "/public/a/%2e%2e/b", "/public/b"),
        public(
            "double_encoding_is_a_name",
            "/public/%252e%252e/private",
            "/public/%252e%252e/private",
        ),
        public(
            "query_not_normalised",
            "/public/x?next=../../private",
            "/public/x?next=../../private",
        ),
        public("triple_dot_is_a_name", "/public/.../x", "/public/.../x"),
        public("back_into_public", "/PUBLIC/../public/x", "/public/x"),
        denied("dotdot", "/public/../private"),
        denied("encoded_dotdot_lower", "/public/%2e%2e/private"),
        denied("encoded_dotdot_upper", "/public/%2E%2E/private"),
        denied("encoded_dotdot_mixed", "/public/%2E%2e/private"),
        denied("half_encoded_dotdot", "/public/.%2e/private"),
        denied("half_encoded_dotdot_other", "/public/%2e./private"),
        denied("two_levels", "/public/x/../../private"),
        denied("encoded_two_levels", "/public/x/%2E%2E/%2E%2E/private"),
        denied("trailing_dotdot", "/public/.."),
        denied("trailing_encoded_dotdot", "/public/%2e%2e"),
        denied("leading_dot", "/./public/../private"),
        denied("dot_then_dotdot", "/public/./../private"),
        denied("uppercase_prefix", "/PUBLIC/x"),
        denied("absolute_form_dotdot", "http://a.test/public/../private"),
        denied(
            "absolute_form_encoded_dotdot",
            "http://a.test/public/%2e%2e/private",
        ),
        path("empty_segment_then_dotdot", "/public//../private").check(empty_segment_dotdot),
        refused_path("above_root", "/public/../../etc/passwd"),
        refused_path("above_root_encoded", "/public/%2e%2e/%2e%2e/etc/passwd"),
        refused_path("above_root_half_encoded", "/public/.%2E/../private"),
        refused_path("encoded_slash", "/public/..%2fprivate"),
        refused_path("encoded_slash_upper", "/public/..%2Fprivate"),
        refused_path("encoded_slash_after_prefix", "/public%2f../private"),
        refused_path("encoded_dotdot_slash", "/public/%2e%2e%2fprivate"),
        refused_path("encoded_backslash", "/public/..%5cprivate"),
        refused_path("encoded_backslash_upper", "/public/..%5Cprivate"),
        refused_path("encoded_backslash_first", "/public/%5c../private"),
        refused_path("dotdot_semicolon", "/public/..;/private"),
        refused_path("dotdot_semicolon_param", "/public/..;x=1/private"),
        refused_path("dotdot_semicolon_twice", "/public/x/..;/..;/private"),
        refused_path("encoded_dotdot_semicolon", "/public/%2e%2e;/private"),
    ]
}

/// `/public//../private`: RFC 3986 dot removal gives `/public/private`,
/// slash merging first gives `/private`; either is safe, nothing else is.
fn empty_segment_dotdot(o: &Outcome) -> Result<(), String> {
    let r = o.resps.first().ok_or("no response")?;
    let seen: Vec<&str> = o.seen.iter().map(|s| s.target.as_str()).collect();
    match (r.status, seen.as_slice()) {
        (403, []) | (200, ["/public/private"]) => Ok(()),
        (status, seen) => Err(format!("got {status} with the origin seeing {seen:?}")),
    }
}

#[test]
fn route_bypass() {
    check_group("route", route_cases());
}

// ------------------------------------------------------ 4. pool poisoning

fn pool_cases() -> Vec<Case> {
    let get_t = b"GET {T} HTTP/1.1\r\nHost: a.test\r\n\r\n";
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n";
    let ten: Vec<u8> = get_t.repeat(10);
    let mut ten_gets = Case::new("pipelined_ten_gets", &ten).responses(10);
    for i in 0..10 {
        ten_gets = ten_gets.own_token(i, i);
    }
    vec![
        Case::new("pipelined_two_gets", &get_t.repeat(2))
            .responses(2)
            .own_token(0, 0)
            .own_token(1, 1),
        ten_gets,
        Case::new(
            "pipelined_post_then_get",
            &[&post("Content-Length: 5\r\n", "hello")[..], get_t].concat(),
        )
        .responses(2)
        .status(200)
        .own_token(1, 0)
        .origin_body(0, b"hello"),
        Case::new(
            "pipelined_chunked_then_get",
            &[
                &post(
                    "Transfer-Encoding: chunked\r\n",
                    "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
                )[..],
                get_t,
            ]
            .concat(),
        )
        .responses(2)
        .status(200)
        .own_token(1, 0)
        .origin_body(0, b"hello"),
        Case::new(
            "get_with_body_then_get",
            &[
                &b"GET {P} HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello"[..],
                get_t,
            ]
            .concat(),
        )
        .responses(2)
        .status(200)
        .own_token(1, 0)
        .origin_body(0, b"hello"),
        Case::new(
            "body_looks_like_a_request",
            &post(&format!("Content-Length: {}\r\n", smuggled.len()), smuggled),
        )
        .forwarded()
        .origin_body(0, smuggled.as_bytes()),
        bad(
            "cl_te_smuggle",
            &post(
                "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
                &format!("0\r\n\r\nG{smuggled}"),
            ),
        ),
        bad(
            "te_cl_smuggle",
            &post(
                "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                &format!("{:x}\r\n{smuggled}\r\n0\r\n\r\n", smuggled.len()),
            ),
        ),
        bad(
            "xchunked_smuggle",
            &post(
                "Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n",
                &format!("0\r\n\r\n{smuggled}"),
            ),
        ),
        bad(
            "te_space_colon_smuggle",
            &post(
                "Transfer-Encoding : chunked\r\nContent-Length: 4\r\n",
                &format!("0\r\n\r\n{smuggled}"),
            ),
        ),
        bad(
            "cl_list_smuggle",
            &post("Content-Length: 5, 50\r\n", &format!("hello{smuggled}")),
        ),
        bad(
            "pipelined_after_refused",
            &[
                &get_with("X-A: a\0b\r\n")[..],
                b"GET {P}?second HTTP/1.1\r\nHost: a.test\r\n\r\n",
            ]
            .concat(),
        ),
        Case::get("surplus_then_same_client")
            .origin(&[&ok_cl("hello")[..], POISON].concat())
            .then(100, get_t)
            .responses(2)
            .body(0, b"hello")
            .own_token(1, 0),
        Case::get("late_poison_then_same_client")
            .script(late(&ok_cl("hello"), 150, POISON))
            .then(400, get_t)
            .responses(2)
            .body(0, b"hello")
            .own_token(1, 0),
        Case::head("head_body_then_get")
            .origin(
                &[
                    ok_head(&format!("Content-Length: {}\r\n", POISON.len())).as_bytes(),
                    POISON,
                ]
                .concat(),
            )
            .then(50, get_t)
            .responses(2)
            .status(200)
            .own_token(1, 0),
        Case::get("204_body_then_get")
            .origin(&[&b"HTTP/1.1 204 No Content\r\n\r\n"[..], POISON].concat())
            .then(50, get_t)
            .responses(2)
            .status(204)
            .own_token(1, 0),
        Case::new(
            "interim_then_pipelined_get",
            &[&b"GET {P} HTTP/1.1\r\nHost: a.test\r\n\r\n"[..], get_t].concat(),
        )
        .origin(&[&b"HTTP/1.1 100 Continue\r\n\r\n"[..], &ok_cl("final")].concat())
        .responses(2)
        .body(0, b"final")
        .own_token(1, 0),
        Case::new(
            "h2c_then_pipelined_get",
            &[
                &get_with("Connection: Upgrade\r\nUpgrade: h2c\r\n")[..],
                get_t,
            ]
            .concat(),
        )
        .origin(&ok_cl("plain"))
        .responses(2)
        .body(0, b"plain")
        .own_token(1, 0),
        Case::new(
            "client_aborts_mid_body",
            &post("Content-Length: 100\r\n", "hello"),
        )
        .shutdown_write()
        .check(no_success)
        .origin_no_complete(),
    ]
}

#[test]
fn pool_poisoning() {
    check_group("pool", pool_cases());
}

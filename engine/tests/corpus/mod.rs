//! The security corpus harness: cases (client bytes, an origin script and
//! exact expectations), a runner that plays them one by one against one
//! gateway, and after every case two fresh clients that must each get their
//! own response (pool poisoning and desync show up there).
// The harness is shared by one test crate only; `pub` marks its interface.
#![allow(unreachable_pub)]

pub mod origin;
pub mod wire;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

pub use origin::{After, RawOrigin, Script, Seen, POISON};
pub use wire::{End, Resp, Wire};

/// How long a connection that must close may take to do so.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long to watch a kept-alive connection for bytes nobody asked for.
const QUIET_WAIT: Duration = Duration::from_millis(150);

/// What one case produced.
pub struct Outcome {
    /// The responses read, in order (the last one may be cut).
    pub resps: Vec<Resp>,
    /// How the client connection ended up after them.
    pub end: End,
    /// What the origin saw (the `/ok/` checks excluded).
    pub seen: Vec<Seen>,
    /// The tokens that replaced `{T}` in the client bytes, in order.
    pub tokens: Vec<String>,
    /// The path that replaced `{P}`.
    pub path: String,
}

/// One expectation on an outcome.
pub type Check = Box<dyn Fn(&Outcome) -> Result<(), String>>;

/// One step of what the client sends.
enum Step {
    Send(Vec<u8>),
    Pause(u64),
    ShutdownWrite,
}

/// A corpus case.
pub struct Case {
    name: String,
    steps: Vec<Step>,
    script: Option<Script>,
    responses: usize,
    head_mask: u64,
    wait: Duration,
    settle_ms: u64,
    shared: bool,
    checks: Vec<Check>,
}

impl Case {
    /// A case whose client sends `raw` in one write. In client bytes, `{P}`
    /// stands for this case's origin path (`/c<n>/case`) and each `{T}` for
    /// a fresh `/c<n>/ok/<token>` path.
    pub fn new(name: &str, raw: &[u8]) -> Case {
        Case {
            name: name.to_string(),
            steps: vec![Step::Send(raw.to_vec())],
            script: None,
            responses: 1,
            head_mask: 0,
            wait: QUIET_WAIT,
            settle_ms: 0,
            shared: false,
            checks: Vec::new(),
        }
    }

    /// A GET for `{P}` with a Host, in one write.
    pub fn get(name: &str) -> Case {
        Case::new(name, b"GET {P} HTTP/1.1\r\nHost: a.test\r\n\r\n")
    }

    /// A HEAD for `{P}` with a Host.
    pub fn head(name: &str) -> Case {
        Case::new(name, b"HEAD {P} HTTP/1.1\r\nHost: a.test\r\n\r\n").head_at(0)
    }

    /// Sends more bytes after a pause.
    pub fn then(mut self, pause_ms: u64, raw: &[u8]) -> Case {
        self.steps.push(Step::Pause(pause_ms));
        self.steps.push(Step::Send(raw.to_vec()));
        self
    }

    /// Half-closes the client's sending side after what it sent.
    pub fn shutdown_write(mut self) -> Case {
        self.steps.push(Step::ShutdownWrite);
        self
    }

    /// The origin answers `{P}` with these bytes and keeps the connection.
    pub fn origin(self, reply: &[u8]) -> Case {
        self.script(Script::reply(reply))
    }

    /// The origin answers with `reply`, then treats the connection so.
    pub fn origin_then(self, reply: &[u8], after: After) -> Case {
        self.script(Script {
            after,
            ..Script::reply(reply)
        })
    }

    /// The origin answers `{P}` as scripted.
    pub fn script(mut self, script: Script) -> Case {
        self.script = Some(script);
        self
    }

    /// Waits this long after the case before the fresh-client check.
    pub fn settle(mut self, ms: u64) -> Case {
        self.settle_ms = ms;
        self
    }

    /// The case talks to the shared listener (`/public`): the fresh clients
    /// go there too (`/ok/<token>`) instead of to the case's own group.
    pub fn shared(mut self) -> Case {
        self.shared = true;
        self
    }

    /// How many final responses to read.
    pub fn responses(mut self, n: usize) -> Case {
        self.responses = n;
        self
    }

    /// Response `i` answers a HEAD (it has no body).
    pub fn head_at(mut self, i: usize) -> Case {
        self.head_mask |= 1 << i;
        self
    }

    /// Adds an expectation.
    pub fn check(mut self, c: impl Fn(&Outcome) -> Result<(), String> + 'static) -> Case {
        self.checks.push(Box::new(c));
        self
    }

    /// The first response has this status and a complete body.
    pub fn status(self, want: u16) -> Case {
        self.status_in(&[want])
    }

    /// The first response has one of these statuses and a complete body.
    pub fn status_in(self, want: &[u16]) -> Case {
        self.status_at_in(0, want)
    }

    fn status_at_in(self, i: usize, want: &[u16]) -> Case {
        let want = want.to_vec();
        self.check(move |o| {
            let r = resp(o, i)?;
            if !want.contains(&r.status) {
                return Err(format!("response {i}: status {}, want {want:?}", r.status));
            }
            match &r.cut {
                Some(cut) => Err(format!("response {i}: body cut short ({cut:?})")),
                None => Ok(()),
            }
        })
    }

    /// The gateway closes the connection after the responses read.
    pub fn closes(mut self) -> Case {
        self.wait = CLOSE_WAIT;
        self.check(|o| match &o.end {
            e if e.is_closed() => Ok(()),
            e => Err(format!("connection not closed: {e:?}")),
        })
    }

    /// Response `i` has status `status`, then its body stops short (the
    /// client can tell it is incomplete).
    pub fn cut(self, i: usize, status: u16) -> Case {
        self.check(move |o| {
            let r = resp(o, i)?;
            match &r.cut {
                Some(c) if r.status == status && c.is_closed() => Ok(()),
                _ => Err(format!(
                    "response {i}: want status {status} then a cut, got {} cut={:?} body={:?}",
                    r.status,
                    r.cut,
                    text(&r.body)
                )),
            }
        })
    }

    /// Response `i` has status `status`, then the connection is reset (an
    /// abortive close, not a clean EOF).
    pub fn aborted(self, i: usize, status: u16) -> Case {
        self.check(move |o| {
            let r = resp(o, i)?;
            match &r.cut {
                Some(End::Reset) if r.status == status => Ok(()),
                _ => Err(format!(
                    "response {i}: want status {status} then a reset, got {} cut={:?} body={:?}",
                    r.status,
                    r.cut,
                    text(&r.body)
                )),
            }
        })
    }

    /// Response `i`'s body is exactly `want`.
    pub fn body(self, i: usize, want: &[u8]) -> Case {
        let want = want.to_vec();
        self.check(move |o| {
            let r = resp(o, i)?;
            same(&format!("response {i} body"), &r.body, &want)
        })
    }

    /// Response `i`'s body is the token of the `k`-th `{T}`.
    pub fn own_token(self, i: usize, k: usize) -> Case {
        self.check(move |o| {
            let r = resp(o, i)?;
            let want = o.tokens.get(k).ok_or("no such token")?;
            match r.status == 200 && r.body == want.as_bytes() {
                true => Ok(()),
                false => Err(format!(
                    "response {i}: want 200 {want:?}, got {} {:?}",
                    r.status,
                    text(&r.body)
                )),
            }
        })
    }

    /// Response `i` carries header `name` with exactly these values.
    pub fn header(self, i: usize, name: &'static str, want: &[&str]) -> Case {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        self.check(move |o| {
            let got = resp(o, i)?.values(name);
            match got == want {
                true => Ok(()),
                false => Err(format!("response {i}: {name} is {got:?}, want {want:?}")),
            }
        })
    }

    /// Response `i` ends with a trailer `name` having exactly these values.
    pub fn trailer(self, i: usize, name: &'static str, want: &[&str]) -> Case {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        self.check(move |o| {
            let r = resp(o, i)?;
            let got = wire_values(&r.trailers, name);
            match got == want {
                true => Ok(()),
                false => Err(format!("trailer {name} is {got:?}, want {want:?}")),
            }
        })
    }

    /// The origin saw no request at all, not even a partial one.
    pub fn origin_nothing(self) -> Case {
        self.check(|o| match o.seen.as_slice() {
            [] => Ok(()),
            seen => Err(format!("origin saw {}", describe(seen))),
        })
    }

    /// The origin saw exactly `n` requests, all complete.
    pub fn origin_count(self, n: usize) -> Case {
        self.check(move |o| {
            let complete = o.seen.iter().all(|s| s.complete);
            match o.seen.len() == n && complete {
                true => Ok(()),
                false => Err(format!(
                    "want {n} requests at the origin, saw {}",
                    describe(&o.seen)
                )),
            }
        })
    }

    /// The origin saw no complete request (a partial one may have started).
    pub fn origin_no_complete(self) -> Case {
        self.check(|o| match o.seen.iter().any(|s| s.complete) {
            false => Ok(()),
            true => Err(format!("origin saw {}", describe(&o.seen))),
        })
    }

    /// Request `i` at the origin had exactly this target (`{P}` in it
    /// stands for the case's path).
    pub fn origin_target(self, i: usize, want: &'static str) -> Case {
        self.check(move |o| {
            let s = seen(o, i)?;
            let want = want.replace("{P}", &o.path);
            match s.target == want {
                true => Ok(()),
                false => Err(format!("origin target {:?}, want {want:?}", s.target)),
            }
        })
    }

    /// Request `i` at the origin had header `name` with exactly these values.
    pub fn origin_header(self, i: usize, name: &'static str, want: &[&str]) -> Case {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        self.check(move |o| {
            let got = seen(o, i)?.values(name);
            match got == want {
                true => Ok(()),
                false => Err(format!("origin saw {name} {got:?}, want {want:?}")),
            }
        })
    }

    /// Request `i` at the origin had exactly this body.
    pub fn origin_body(self, i: usize, want: &[u8]) -> Case {
        let want = want.to_vec();
        self.check(move |o| same("origin body", &seen(o, i)?.body, &want))
    }

    /// A request refused with `status`: the connection closes and the
    /// origin sees nothing.
    pub fn refused(self, status: u16) -> Case {
        self.status(status).closes().origin_nothing()
    }

    /// Forwarded once, answered 200 by the origin.
    pub fn forwarded(self) -> Case {
        self.status(200).origin_count(1)
    }
}

fn resp(o: &Outcome, i: usize) -> Result<&Resp, String> {
    o.resps
        .get(i)
        .ok_or_else(|| format!("no response {i}; connection ended {:?}", o.end))
}

fn seen(o: &Outcome, i: usize) -> Result<&Seen, String> {
    o.seen
        .get(i)
        .filter(|s| s.complete)
        .ok_or_else(|| format!("origin request {i} missing: saw {}", describe(&o.seen)))
}

fn wire_values<'a>(h: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    h.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn same(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    match got == want {
        true => Ok(()),
        false => Err(format!("{what} {:?}, want {:?}", text(got), text(want))),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}

fn describe(seen: &[Seen]) -> String {
    let each: Vec<String> = seen
        .iter()
        .map(|s| {
            let partial = if s.complete { "" } else { " (partial)" };
            format!("{} {}{partial}", s.method, s.target)
        })
        .collect();
    format!("{} request(s) [{}]", seen.len(), each.join(", "))
}

/// A random token for the `/ok/` checks.
pub fn token() -> String {
    let a = RandomState::new().hash_one(std::time::SystemTime::now());
    let b = RandomState::new().hash_one(a);
    format!("{a:016x}{b:016x}")
}

/// Replaces every `from` in `raw` by successive values of `to`.
fn replace(raw: &[u8], from: &[u8], mut to: impl FnMut() -> String) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(from) {
            out.extend_from_slice(to().as_bytes());
            i += from.len();
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// The gateway config: `/public` and `/ok` go to the origin's shared
/// listener, `/c<n>` to case `n`'s own upstream group, and everything else
/// is answered 403 by a catch-all route.
pub fn gateway_config(origin: &RawOrigin) -> String {
    let mut text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\nadmin = \"off\"\n\n\
         [timeouts]\nclient_header = \"3s\"\nclient_body = \"3s\"\n\
         upstream_header = \"2s\"\nupstream_body = \"2s\"\n\n\
         {}{}\
         [[routes]]\nname = \"public\"\npath_prefix = \"/public\"\nupstream = \"main\"\n\n\
         [[routes]]\nname = \"ok\"\npath_prefix = \"/ok\"\nupstream = \"main\"\n\n",
        group("main", origin.main),
        (0..origin.cases.len())
            .map(|n| group(&format!("c{n}"), origin.cases[n]))
            .collect::<String>()
    );
    for n in 0..origin.cases.len() {
        text += &format!("[[routes]]\npath_prefix = \"/c{n}\"\nupstream = \"c{n}\"\n\n");
    }
    text + "[[routes]]\nname = \"deny\"\nrespond = { status = 403, body = \"denied\" }\n"
}

/// An upstream group of one backend that 5xx answers never eject.
fn group(name: &str, addr: SocketAddr) -> String {
    format!("[upstreams.{name}]\nbackends = [\"{addr}\"]\n[upstreams.{name}.outlier]\non_5xx = false\n\n")
}

/// Plays `cases` one by one against one gateway and returns one line per
/// failing case.
pub fn run(group: &str, cases: Vec<Case>) -> Vec<String> {
    let origin = match RawOrigin::start(cases.iter().map(|c| c.script.clone()).collect()) {
        Ok(origin) => origin,
        Err(e) => panic!("the scripted origin cannot listen: {e}"),
    };
    let mut t = crate::common::config(&gateway_config(&origin));
    t.cpus = None;
    let gw = crate::common::start(t);
    let addr = gw.local_addrs()[0];
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let errors = run_case(addr, &origin, n, case);
        if !errors.is_empty() {
            failures.push(format!("{group}/{}: {}", case.name, errors.join("; ")));
        }
    }
    println!("{group}: {} cases, {} failing", cases.len(), failures.len());
    failures
}

/// Plays one case and returns what went wrong.
fn run_case(addr: SocketAddr, origin: &RawOrigin, n: usize, case: &Case) -> Vec<String> {
    let _ = origin.take();
    let (resps, end, tokens) = play(addr, n, case);
    thread::sleep(Duration::from_millis(case.settle_ms));
    let prefix = if case.shared {
        String::new()
    } else {
        format!("/c{n}")
    };
    let mut errors = fresh_clients(addr, &prefix);
    let seen = origin.take();
    if resps.iter().any(|r| contains(&r.body, b"POISON")) {
        errors.push("the client got POISON".into());
    }
    if let End::Extra(x) = &end {
        errors.push(format!("unexpected bytes after the responses: {x:?}"));
    }
    let outcome = Outcome {
        resps,
        end,
        seen,
        tokens,
        path: format!("/c{n}/case"),
    };
    errors.extend(case.checks.iter().filter_map(|c| c(&outcome).err()));
    errors
}

/// Sends the case's bytes and reads what comes back.
fn play(addr: SocketAddr, n: usize, case: &Case) -> (Vec<Resp>, End, Vec<String>) {
    let mut tokens = Vec::new();
    let mut w = match Wire::connect(addr) {
        Ok(w) => w,
        Err(e) => return (Vec::new(), End::Bad(format!("connect: {e}")), tokens),
    };
    for step in &case.steps {
        match step {
            Step::Send(raw) => {
                let raw = replace(raw, b"{P}", || format!("/c{n}/case"));
                let raw = replace(&raw, b"{T}", || {
                    tokens.push(token());
                    format!("/c{n}/ok/{}", tokens[tokens.len() - 1])
                });
                w.send(&raw);
            }
            Step::Pause(ms) => thread::sleep(Duration::from_millis(*ms)),
            Step::ShutdownWrite => w.shutdown_write(),
        }
    }
    let mut resps = Vec::new();
    for i in 0..case.responses {
        match w.response(case.head_mask & (1 << i) != 0) {
            Ok(r) if r.cut.is_some() => {
                let end = r.cut.clone().unwrap_or(End::Open);
                resps.push(r);
                return (resps, end, tokens);
            }
            Ok(r) => resps.push(r),
            Err(end) => return (resps, end, tokens),
        }
    }
    let end = w.probe(case.wait);
    (resps, end, tokens)
}

/// Two fresh clients, both in flight at once and sent to the case's
/// upstream group (`prefix` of their path): each must get its own token.
fn fresh_clients(addr: SocketAddr, prefix: &str) -> Vec<String> {
    let mut clients = Vec::new();
    for _ in 0..2 {
        match Wire::connect(addr) {
            Ok(w) => clients.push((w, token())),
            Err(e) => return vec![format!("fresh client cannot connect: {e}")],
        }
    }
    for (w, t) in &mut clients {
        w.send(format!("GET {prefix}/ok/{t} HTTP/1.1\r\nHost: a.test\r\n\r\n").as_bytes());
    }
    let mut errors = Vec::new();
    for (k, (w, t)) in clients.iter_mut().enumerate() {
        match w.response(false) {
            Ok(r) if r.status == 200 && r.body == t.as_bytes() && r.cut.is_none() => {}
            Ok(r) => errors.push(format!(
                "fresh client {k} got {} {:?} (cut {:?})",
                r.status,
                text(&r.body),
                r.cut
            )),
            Err(e) => errors.push(format!("fresh client {k} got no response: {e:?}")),
        }
    }
    errors
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

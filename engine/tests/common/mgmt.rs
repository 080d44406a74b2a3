//! A client of the management API for tests: JSON over real sockets.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{request, Response};

/// The management API at `addr`, called with `token` (if any).
#[derive(Clone)]
pub struct Mgmt {
    pub addr: SocketAddr,
    pub token: Option<String>,
}

impl Mgmt {
    pub fn new(addr: SocketAddr, token: Option<&str>) -> Mgmt {
        Mgmt {
            addr,
            token: token.map(str::to_owned),
        }
    }

    pub fn with_token(&self, token: &str) -> Mgmt {
        Mgmt::new(self.addr, Some(token))
    }

    /// Sends `method path` with an optional JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        let mut raw = format!(
            "{method} /api/v1{path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            self.addr
        );
        if let Some(t) = &self.token {
            raw.push_str(&format!("authorization: Bearer {t}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || method == "POST" || method == "PUT" {
            raw.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        raw.push_str("\r\n");
        raw.push_str(body);
        request(self.addr, raw.as_bytes())
    }

    /// A call that must answer `want`; its JSON body.
    pub fn expect(&self, want: u16, method: &str, path: &str, body: Option<&str>) -> Value {
        let r = self.call(method, path, body);
        assert_eq!(r.status, want, "{method} {path}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    }

    pub fn post(&self, path: &str, body: &str) -> Value {
        self.expect(201, "POST", path, Some(body))
    }

    pub fn get(&self, path: &str) -> Value {
        self.expect(200, "GET", path, None)
    }
}

/// The `id` of a created object.
pub fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Calls `f` until it returns `want` or `within` passes; the time taken.
pub fn until(within: Duration, want: u16, mut f: impl FnMut() -> u16) -> Duration {
    let start = Instant::now();
    let mut last;
    loop {
        last = f();
        if last == want {
            return start.elapsed();
        }
        if start.elapsed() > within {
            panic!("still {last} after {within:?}, wanted {want}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates team `shop`, its service `orders` (auto approval, `auth`) and
/// an app named `app`; their ids.
pub fn shop(api: &Mgmt, auth: &str, app: &str) -> (i64, i64, i64) {
    let team = id(&api.post("/teams", r#"{"name":"shop"}"#));
    let spec = format!(r#"{{"team":{team},"name":"orders","approval":"auto","auth":{auth}}}"#);
    let svc = id(&api.post("/services", &spec));
    let app = id(&api.post("/apps", &format!(r#"{{"team":{team},"name":"{app}"}}"#)));
    (team, svc, app)
}

//! The per-route guards that run before a request is forwarded: client IP
//! allow and deny lists (CIDR), and CORS (preflights answered at the
//! gateway, the headers added to responses).

use std::net::IpAddr;
use std::time::Duration;

use toml::Spanned;

use crate::checker::Checker;
use crate::file::CorsFile;
use crate::route_fields::At;

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The network address (host bits zero).
    pub addr: IpAddr,
    /// Leading bits that must match.
    pub prefix: u8,
}

impl IpNet {
    /// Parses `a.b.c.d[/n]` or `v6[/n]`.
    pub fn parse(text: &str) -> Result<IpNet, String> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (text, None),
        };
        let bad = || format!("invalid address or CIDR block {text:?}");
        let addr: IpAddr = ip.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(bad)?,
            None => max,
        };
        let net = IpNet { addr, prefix };
        match net.masked(addr) == bits(addr) {
            true => Ok(net),
            false => Err(format!("{text:?} has host bits set")),
        }
    }

    /// Whether `ip` is in this block (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && self.masked(ip) == bits(self.addr)
    }

    /// `ip`'s network of `prefix` bits (all of them without one), as its
    /// masked bits and whether it is IPv4: what a per-network limit
    /// counts by.
    pub fn network_of(ip: IpAddr, prefix: Option<u8>) -> (bool, u128) {
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.map_or(width, |p| p.min(width));
        let net = IpNet { addr: ip, prefix };
        (ip.is_ipv4(), net.masked(ip))
    }

    fn masked(&self, ip: IpAddr) -> u128 {
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let keep = u32::from(self.prefix);
        let mask = match keep {
            0 => 0,
            k => (!0u128 << (width - k)) & (!0u128 >> (128 - width)),
        };
        bits(ip) & mask
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// CORS for a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Allowed origins (`scheme://host[:port]`, lowercase); empty: any.
    pub origins: Vec<String>,
    /// Methods a preflight allows.
    pub methods: Vec<String>,
    /// Request headers a preflight allows (lowercase); empty: those asked for.
    pub headers: Vec<String>,
    /// Response headers the browser may read.
    pub expose_headers: Vec<String>,
    /// Whether credentials (cookies, Authorization) may be sent.
    pub credentials: bool,
    /// How long a browser may cache a preflight.
    pub max_age: Duration,
}

/// `allow_ips = [...]` or `deny_ips = [...]`.
pub(crate) fn ip_list(
    c: &mut Checker<'_>,
    at: &At<'_>,
    name: &str,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Vec<IpNet> {
    let Some(raw) = raw else { return Vec::new() };
    let mut out = Vec::new();
    for (i, item) in raw.get_ref().iter().enumerate() {
        match IpNet::parse(item.get_ref()) {
            Ok(net) => out.push(net),
            Err(m) => c.fail_at(item.span(), format!("{}.{name}[{i}]", at.field), m),
        }
    }
    out
}

/// `cors = { origins = [...], ... }`.
pub(crate) fn cors(c: &mut Checker<'_>, at: &At<'_>) -> Option<Cors> {
    let raw = at.route.cors.as_ref()?;
    let f: &CorsFile = raw.get_ref();
    let field = format!("{}.cors", at.field);
    let list = |v: &Option<Spanned<Vec<Spanned<String>>>>| -> Vec<String> {
        v.as_ref()
            .map(|l| {
                l.get_ref()
                    .iter()
                    .map(|s| s.get_ref().trim().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut origins: Vec<String> = list(&f.origins)
        .iter()
        .map(|o| o.to_ascii_lowercase())
        .collect();
    let any = origins.iter().any(|o| o == "*");
    if any {
        origins.clear();
    }
    let credentials = f.credentials.as_ref().is_some_and(|b| *b.get_ref());
    if (any || origins.is_empty()) && credentials {
        c.fail_at(
            raw.span(),
            format!("{field}.credentials"),
            "credentials cannot go with any origin: list the origins",
        );
    }
    for o in &origins {
        if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
            c.fail_at(
                raw.span(),
                format!("{field}.origins"),
                format!("{o:?} is not an origin (scheme://host[:port])"),
            );
        }
    }
    let methods = match list(&f.methods) {
        m if m.is_empty() => ["GET", "HEAD", "POST"].map(str::to_owned).to_vec(),
        m => m,
    };
    let max_age = c.field(&format!("{field}.max_age"), f.max_age.as_ref(), |t| {
        crate::units::parse_duration(t)
    });
    Some(Cors {
        origins,
        methods,
        headers: list(&f.headers)
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        expose_headers: list(&f.expose_headers),
        credentials,
        max_age: max_age.unwrap_or(Duration::from_secs(600)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_match_their_addresses() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.9.9".parse().unwrap()));
        let one = IpNet::parse("127.0.0.1").unwrap();
        assert!(
            one.contains("127.0.0.1".parse().unwrap())
                && !one.contains("127.0.0.2".parse().unwrap())
        );
        let v6 = IpNet::parse("2001:db8::/32").unwrap();
        assert!(
            v6.contains("2001:db8:1::5".parse().unwrap())
                && !v6.contains("2001:db9::1".parse().unwrap())
        );
        assert!(IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.1/8")
            .unwrap_err()
            .contains("host bits"));
        assert!(IpNet::parse("10.0.0.0/33").is_err() && IpNet::parse("nope").is_err());
        let a = IpNet::network_of("10.1.2.3".parse().unwrap(), Some(24));
        assert_eq!(
            a,
            IpNet::network_of("10.1.2.200".parse().unwrap(), Some(24))
        );
        assert_ne!(a, IpNet::network_of("10.1.3.1".parse().unwrap(), Some(24)));
        assert_eq!(IpNet::network_of("::1".parse().unwrap(), None).1, 1);
    }
}

//! Numbers and addresses as text without `fmt`: the access log line and
//! X-Forwarded-For are written for every request, and `core::fmt` cost
//! about 1,000 instructions per address and 100 per number there (the
//! access log line went from 8.8k to 4.2k instructions with these,
//! callgrind, 2026-12-02). Each writer appends to a byte buffer and
//! writes what `Display` writes.

use std::net::{IpAddr, SocketAddr};

/// Where text goes: the head being encoded, or the log line.
pub(crate) trait Sink {
    fn put(&mut self, b: &[u8]);
}

impl Sink for bytes::BytesMut {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

impl Sink for String {
    /// Every writer here writes ASCII; anything else would be dropped,
    /// never written as invalid UTF-8.
    fn put(&mut self, b: &[u8]) {
        self.push_str(std::str::from_utf8(b).unwrap_or_default());
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

/// `n` in decimal.
pub(crate) fn u64(out: &mut impl Sink, n: u64) {
    let mut digits = [0u8; 20];
    out.put(parser::decimal(n, &mut digits));
}

/// An address as `Display` writes it; IPv4, the common case, by hand.
pub(crate) fn ip(out: &mut impl Sink, ip: IpAddr) {
    let IpAddr::V4(v4) = ip else {
        let mut text = [0u8; 45];
        let len = {
            let mut w = Cursor(&mut text, 0);
            let _ = std::fmt::Write::write_fmt(&mut w, format_args!("{ip}"));
            w.1
        };
        return out.put(&text[..len]);
    };
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.put(b".");
        }
        u64(out, u64::from(octet));
    }
}

/// `ip:port`, or `[ip]:port` for IPv6, as `Display` writes a socket address.
pub(crate) fn socket_addr(out: &mut impl Sink, a: SocketAddr) {
    match a {
        SocketAddr::V4(_) => ip(out, a.ip()),
        SocketAddr::V6(v6) if v6.scope_id() != 0 || v6.flowinfo() != 0 => {
            let mut text = Vec::new();
            let _ = std::io::Write::write_fmt(&mut text, format_args!("{a}"));
            return out.put(&text);
        }
        SocketAddr::V6(_) => {
            out.put(b"[");
            ip(out, a.ip());
            out.put(b"]");
        }
    }
    out.put(b":");
    u64(out, u64::from(a.port()));
}

/// A fixed buffer `fmt` writes into (an IPv6 address fits in 45 bytes).
struct Cursor<'a>(&'a mut [u8; 45], usize);

impl std::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.1 + s.len();
        let room = self.0.get_mut(self.1..end).ok_or(std::fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.1 = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 65_535, 1_000_000, u64::MAX] {
            assert_eq!(text(|o| u64(o, n)), n.to_string());
        }
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let ips = [
            "0.0.0.0",
            "127.0.0.1",
            "10.9.99.100",
            "255.255.255.255",
            "::1",
            "2001:db8::ff",
            "::ffff:1.2.3.4",
        ];
        for t in ips {
            let a: IpAddr = t.parse().unwrap();
            assert_eq!(text(|o| ip(o, a)), a.to_string());
        }
        for n in (0..=u32::MAX).step_by(65_537) {
            let a = IpAddr::V4(n.into());
            assert_eq!(text(|o| ip(o, a)), a.to_string());
        }
        let socks = [
            "127.0.0.1:8080",
            "1.2.3.4:0",
            "[::1]:443",
            "[2001:db8::1%3]:80",
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
        ];
        for t in socks {
            let a: SocketAddr = t.parse().unwrap();
            assert_eq!(text(|o| socket_addr(o, a)), a.to_string());
        }
    }
}

//! Numbers and addresses as text without `fmt`: the access log line and
//! X-Forwarded-For are written for every request, and `core::fmt` cost
//! about 1,000 instructions per address and 100 per number there (with
//! these, the access log's cost went from 8.8k to 7.1k instructions per
//! request, callgrind, 2026-12-02). Each writer appends to a byte buffer
//! and writes what `Display` writes; IPv6, rare here, goes through `fmt`.

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

/// `n` in decimal.
pub(crate) fn u64(out: &mut impl Sink, n: u64) {
    let mut digits = [0u8; 20];
    out.put(parser::decimal(n, &mut digits));
}

/// An address as `Display` writes it; IPv4, the common case, by hand.
pub(crate) fn ip(out: &mut impl Sink, ip: IpAddr) {
    let IpAddr::V4(v4) = ip else {
        return display(out, ip);
    };
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.put(b".");
        }
        u64(out, u64::from(octet));
    }
}

/// `ip:port` as `Display` writes a socket address (IPv6 through `fmt`).
pub(crate) fn socket_addr(out: &mut impl Sink, a: SocketAddr) {
    let SocketAddr::V4(v4) = a else {
        return display(out, a);
    };
    ip(out, IpAddr::V4(*v4.ip()));
    out.put(b":");
    u64(out, u64::from(a.port()));
}

/// `v` through `fmt`, into a fixed buffer first: the longest socket
/// address, `[` 45-byte IPv6 `%` 10-digit scope `]:` 5-digit port, is 64.
fn display(out: &mut impl Sink, v: impl std::fmt::Display) {
    let mut text = [0u8; 64];
    let mut w = Cursor(&mut text, 0);
    let _ = std::fmt::Write::write_fmt(&mut w, format_args!("{v}"));
    let len = w.1;
    out.put(&text[..len]);
}

/// A fixed buffer `fmt` writes into.
struct Cursor<'a>(&'a mut [u8; 64], usize);

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

    fn text(f: impl FnOnce(&mut String)) -> String {
        let mut out = String::new();
        f(&mut out);
        out
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

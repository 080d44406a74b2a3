//! The client side of HTTP/1.1: one connection's state machine (read a
//! head, route it, answer or hand it to [`crate::proxy`], keep alive or
//! close), the request's identity, and the answers coregate writes itself.

pub(crate) mod conn;
mod handle;
mod request;
mod respond;
pub(crate) use respond::send_counted;
mod tls;

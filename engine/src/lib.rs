//! coregate's engine: shard-per-core HTTP/1.1 reverse proxy.
#![allow(missing_docs)]

pub mod io;
mod shard;

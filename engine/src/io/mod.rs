//! The per-shard completion-based socket layer (CONTRACT STUB: the io work fills it in).
//!
//! Every io_uring call in coregate lives under this module, and nothing here
//! touches the glommio executor directly: parking and yielding go through
//! `crate::shard`.

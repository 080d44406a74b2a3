//! Backend selection and health tracking for coregate.
//!
//! Pure and deterministic: no async, no clock (time is an argument) and no
//! global random number generator (randomness comes from a seed). The
//! algorithms land with the routing and balancing work; this crate holds only
//! its contract for now.

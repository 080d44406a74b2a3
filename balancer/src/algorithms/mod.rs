//! The balancing algorithms, one per file, each a [`Select`](crate::Select).

pub mod least_conn;
pub mod maglev;
pub mod p2c;
pub mod random;
pub mod round_robin;
pub mod weighted;

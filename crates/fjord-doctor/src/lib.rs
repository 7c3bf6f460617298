//! Checks an operator runs before trusting a node or a cluster with Fjord: etcd's disk check
//! ([`disk`], the `fio` workload etcd recommends, done natively) and the API server's request
//! latency and watch delivery lag ([`api`]). Reports print as text; the numbers stay available.
#![warn(missing_docs)]

pub mod api;
pub mod disk;

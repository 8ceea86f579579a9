//! Black-box tests: the real `yagona` binary, real HTTP, the `openidconnect` crate as the relying
//! party, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod backchannel;
mod browser;
mod browser_eds;
mod cabinet;
mod cli;
mod cluster;
mod concurrency;
mod dpop;
mod eds;
mod flow;
mod identity;
mod legal;
mod legal_live;
mod negative;
mod operations;
mod pairwise;
mod registration;
mod resource;
mod revocation;
mod rp;
mod sessions;
mod signed;
mod step_up;
mod tokens;

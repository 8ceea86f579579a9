//! Black-box tests: the real `yagona` binary, real HTTP, the `openidconnect` crate as the relying
//! party, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod browser;
mod browser_eds;
mod browser_phone;
mod cabinet;
mod cli;
mod cluster;
mod concurrency;
mod eds;
mod flow;
mod identity;
mod legal;
mod legal_live;
mod negative;
mod operations;
mod recovery;
mod registration;
mod revocation;
mod rp;
mod sessions;
mod step_up;
mod tokens;

//! Black-box tests: the real `yagona` binary, real HTTP, the `openidconnect` crate as the relying
//! party, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod algorithms;
mod audit;
mod backchannel;
mod browser;
mod browser_eds;
mod browser_phone;
mod cabinet;
mod claims;
mod cli;
mod client_auth;
mod cluster;
mod concurrency;
mod cors;
mod dpop;
mod dpop_jkt;
mod dynamic_registration;
mod eds;
mod eds_confirmations;
mod flow;
mod frontchannel;
mod fuzz;
mod hardening;
mod identity;
mod legacy;
mod legacy_browser;
mod legacy_legal;
mod legal;
mod legal_live;
mod negative;
mod operations;
mod outbound;
mod outbound_tls;
mod pairwise;
mod par_jar;
mod recovery;
mod registration;
mod resource;
mod revocation;
mod rp;
mod sessions;
mod signed;
mod step_up;
mod tokens;

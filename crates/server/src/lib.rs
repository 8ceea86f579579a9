//! The `yagona` program: configuration, command line, HTTP endpoints and pages, wired over the
//! domain crates (`yagona-account`, `yagona-oidc`) and storage (`yagona-store`).

mod audit_log;
mod backchannel;
pub mod cli;
mod client_cache;
mod client_keys;
pub mod config;
mod discovery;
mod eimzo;
mod housekeeping;
mod http;
pub mod i18n;
mod logging;
mod mail;
mod metrics;
mod outbound;
mod outbound_trust;
mod sector;
mod serve;
mod state;
mod trust;

//! `yagona throttle`: the login throttle's current locks, and clearing them.

use clap::Subcommand;

use crate::config::Settings;
use crate::serve::open_store;
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum ThrottleCommand {
    /// List the accounts and client addresses with failed logins in the current window, one per
    /// line: kind (account/address), login or address, failures, the latest (RFC 3339), and
    /// "locked" when over the limit.
    List,
    /// Clear the failures of one login, one address, or all (`yagona account unlock` also clears
    /// a login).
    Clear {
        #[arg(long, conflicts_with_all = ["address", "all"])]
        login: Option<String>,
        #[arg(long, conflicts_with = "all")]
        address: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

pub(super) fn throttle_command(settings: &Settings, command: ThrottleCommand) -> Result<(), String> {
    let store = open_store(settings)?;
    let text = |e: yagona_store::StoreError| e.to_string();
    match command {
        ThrottleCommand::List => {
            let limits = &settings.login;
            for (key, failures, last) in store.login_failure_counts(now() - limits.window_seconds).map_err(text)? {
                let (kind, name) = key.split_once(':').unwrap_or(("other", key.as_str()));
                let limit =
                    if kind == "address" { limits.max_failures_per_address } else { limits.max_failures_per_account };
                let locked = if failures >= i64::from(limit) { "\tlocked" } else { "" };
                out!("{kind}\t{name}\t{failures}\t{}{locked}", crate::trust::rfc3339(last));
            }
            Ok(())
        }
        ThrottleCommand::Clear { login, address, all } => {
            let key = match (login, address, all) {
                (Some(login), None, false) => Some(format!("account:{}", login.trim().to_lowercase())),
                (None, Some(address), false) => {
                    let address: std::net::IpAddr =
                        address.trim().parse().map_err(|_| format!("--address: {address:?} is not an IP address"))?;
                    Some(format!("address:{address}"))
                }
                (None, None, true) => None,
                _ => return Err("say which: --login LOGIN, --address IP or --all".into()),
            };
            let n = store.clear_login_failures_of(key.as_deref()).map_err(text)?;
            out!("{n} failure(s) cleared.");
            Ok(())
        }
    }
}

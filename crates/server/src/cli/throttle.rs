//! `yagona throttle`: the login throttle's current locks, and clearing them.

use clap::Subcommand;

use crate::config::Settings;
use crate::serve::open_store;
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum ThrottleCommand {
    /// List the throttle counters of the current windows, one per line: kind (account and
    /// address: password logins; client and client-address: client authentication;
    /// registration: the wizard's look-ups per address), login, client or address, failures, the
    /// latest (RFC 3339), and "locked" when at the limit.
    List,
    /// Clear the failures of one login, of one address (its login, client-authentication and
    /// registration counters), or all (`yagona account unlock` also clears a login).
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
            let (login, client, registration) = (&settings.login, &settings.client_auth, &settings.registration);
            let window = login.window_seconds.max(client.window_seconds).max(registration.checks_window_seconds);
            for (key, failures, last) in store.login_failure_counts(now() - window).map_err(text)? {
                let (kind, name) = key.split_once(':').unwrap_or(("other", key.as_str()));
                let limit = match kind {
                    "address" => login.max_failures_per_address,
                    "client" => client.max_failures_per_client,
                    "client-address" => client.max_failures_per_address,
                    "registration" => registration.max_checks_per_address,
                    _ => login.max_failures_per_account,
                };
                let locked = if failures >= i64::from(limit) { "\tlocked" } else { "" };
                out!("{kind}\t{name}\t{failures}\t{}{locked}", crate::trust::rfc3339(last));
            }
            Ok(())
        }
        ThrottleCommand::Clear { login, address, all } => {
            let keys = match (login, address, all) {
                (Some(login), None, false) => vec![Some(format!("account:{}", login.trim().to_lowercase()))],
                (None, Some(address), false) => {
                    let address: std::net::IpAddr =
                        address.trim().parse().map_err(|_| format!("--address: {address:?} is not an IP address"))?;
                    ["address", "client-address", "registration"]
                        .iter()
                        .map(|k| Some(format!("{k}:{address}")))
                        .collect()
                }
                (None, None, true) => vec![None],
                _ => return Err("say which: --login LOGIN, --address IP or --all".into()),
            };
            let mut n = 0;
            for key in keys {
                n += store.clear_login_failures_of(key.as_deref()).map_err(text)?;
            }
            out!("{n} failure(s) cleared.");
            Ok(())
        }
    }
}

//! `yagona audit`: the audit trail.

use clap::Subcommand;
use yagona_account::audit::AuditRepository as _;
use yagona_account::AccountId;

use crate::config::Settings;
use crate::serve::open_store;

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// List the most recent audit events, newest first, one per line: time (RFC 3339), kind,
    /// actor, subject, detail (JSON). "-" stands for no actor (the system) or no subject.
    List {
        /// Only events about this account (its id, as `account show` prints it).
        #[arg(long)]
        account: Option<String>,
        /// How many events at most.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

pub(super) fn audit_command(settings: &Settings, command: AuditCommand) -> Result<(), String> {
    let store = open_store(settings)?;
    match command {
        AuditCommand::List { account, limit } => {
            if limit < 1 {
                return Err("--limit must be at least 1".into());
            }
            let subject = account.map(AccountId::from_stored);
            let events = store.audit_events(subject.as_ref(), limit).map_err(|e| e.to_string())?;
            for e in events {
                let at = chrono::DateTime::from_timestamp(e.at, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
                let name = |a: &Option<AccountId>| a.as_ref().map_or("-".to_owned(), |a| a.as_str().to_owned());
                println!("{at}\t{}\t{}\t{}\t{}", e.kind.as_str(), name(&e.actor), name(&e.subject), e.detail);
            }
            Ok(())
        }
    }
}

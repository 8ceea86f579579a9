//! `yagona audit`: the audit trail.

use clap::Subcommand;
use yagona_account::audit::AuditRepository as _;
use yagona_account::{AccountId, AccountRepository as _, Login};

use crate::config::Settings;
use crate::serve::open_store;

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// List the most recent audit events, newest first, one per line: time (RFC 3339), kind,
    /// actor, subject, detail (JSON). "-" stands for no actor (the system or an operator) or no
    /// subject.
    List {
        /// Only events about this account: its login, or its id as `account show` prints it.
        #[arg(long)]
        account: Option<String>,
        /// Only events at or after this time: RFC 3339 (2026-12-01T00:00:00Z), a date
        /// (2026-12-01, UTC) or unix seconds.
        #[arg(long)]
        since: Option<String>,
        /// One JSON object per line ({at, kind, actor, subject, detail}) instead of columns.
        #[arg(long)]
        json: bool,
        /// How many events at most.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

/// `--since`: RFC 3339, a date, or unix seconds.
fn parse_since(value: &str) -> Result<i64, String> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Ok(seconds);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp());
        }
    }
    Err(format!("--since: {value:?} is not RFC 3339, YYYY-MM-DD or unix seconds"))
}

pub(super) fn audit_command(settings: &Settings, command: AuditCommand) -> Result<(), String> {
    let store = open_store(settings)?;
    match command {
        AuditCommand::List { account, since, json, limit } => {
            if limit < 1 {
                return Err("--limit must be at least 1".into());
            }
            let since = since.as_deref().map(parse_since).transpose()?.unwrap_or(0);
            let subject = match account {
                Some(name) => {
                    let by_login = match Login::try_from(name.as_str()) {
                        Ok(login) => store.find_account_by_login(&login).map_err(|e| e.to_string())?,
                        Err(_) => None,
                    };
                    Some(by_login.map(|a| a.id).unwrap_or_else(|| AccountId::from_stored(name)))
                }
                None => None,
            };
            let events = store.audit_events(subject.as_ref(), since, limit).map_err(|e| e.to_string())?;
            for e in events {
                let at = crate::trust::rfc3339(e.at);
                let id = |a: &Option<AccountId>| a.as_ref().map(|a| a.as_str().to_owned());
                if json {
                    let line = serde_json::json!({
                        "at": at, "kind": e.kind.as_str(), "actor": id(&e.actor), "subject": id(&e.subject),
                        "detail": e.detail,
                    });
                    out!("{line}");
                } else {
                    let dash = |a: &Option<AccountId>| id(a).unwrap_or_else(|| "-".to_owned());
                    out!("{at}\t{}\t{}\t{}\t{}", e.kind.as_str(), dash(&e.actor), dash(&e.subject), e.detail);
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn since_takes_three_forms() {
        assert_eq!(super::parse_since("1796083200"), Ok(1_796_083_200));
        assert_eq!(super::parse_since("2026-12-01"), Ok(1_796_083_200));
        assert_eq!(super::parse_since("2026-12-01T00:00:00Z"), Ok(1_796_083_200));
        assert!(super::parse_since("yesterday").is_err());
    }
}

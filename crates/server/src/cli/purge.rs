//! `yagona purge`: one purge of what has expired, as the server's housekeeping runs it every ten
//! minutes; prints what it deleted and how long it took.

use std::time::Duration;

use clap::Args;
use yagona_store::{PurgeBatches, PurgeReport, MAX_PURGE_BATCH};

use crate::config::Settings;
use crate::housekeeping::{purge, PurgeMethod};
use crate::serve::open_store;
use crate::state::now;

/// The defaults are the store's (`PurgeBatches::for_backend`), shown after the options.
#[derive(Args)]
#[command(after_help = PurgeBatches::defaults_described())]
pub(super) struct PurgeArgs {
    /// Rows deleted per batch, each batch its own transaction (default: the backend's, below).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=MAX_PURGE_BATCH))]
    batch: Option<i64>,
    /// The least pause after each full batch, when writers get SQLite's database and requests
    /// the cores (default: below; 0: none).
    #[arg(long, value_name = "MS")]
    pause_ms: Option<u64>,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// Bench only: one statement per table in one transaction (the purge before batches).
    #[arg(long, hide = true)]
    at_once: bool,
    /// Bench only: purge as if the clock read this (unix seconds).
    #[arg(long, hide = true, value_name = "UNIX")]
    as_of: Option<i64>,
}

pub(super) fn purge_command(settings: &Settings, args: PurgeArgs) -> Result<(), String> {
    let store = open_store(settings)?;
    let method = if args.at_once {
        PurgeMethod::AtOnce
    } else {
        let defaults = PurgeBatches::for_backend(store.backend());
        PurgeMethod::Batches(PurgeBatches {
            batch: args.batch.unwrap_or(defaults.batch),
            pause: args.pause_ms.map_or(defaults.pause, Duration::from_millis),
        })
    };
    // Ctrl-C ends the process; a batch in flight is its own transaction.
    let never = std::sync::atomic::AtomicBool::new(false);
    let done = purge(&store, settings, args.as_of.unwrap_or_else(now), method, &never)?;
    let report = &done.expired;
    if args.json {
        let tables: serde_json::Map<String, serde_json::Value> =
            report.tables.iter().map(|(table, n)| ((*table).to_owned(), (*n).into())).collect();
        out!(
            "{}",
            serde_json::json!({
                "method": if args.at_once { "at_once" } else { "batches" },
                "rows": report.rows(), "batches": report.batches, "seconds": report.seconds,
                "tables": tables, "memberships_ended": done.memberships_ended,
                "audit_events": done.audit_events.as_ref().map(PurgeReport::rows),
                "audit_seconds": done.audit_events.as_ref().map(|a| a.seconds),
            })
        );
        return Ok(());
    }
    for (table, n) in report.tables.iter().filter(|(_, n)| *n > 0) {
        out!("{table:<32} {n:>12}");
    }
    out!(
        "Purged {} expired rows in {:.1} s ({} batches); {} memberships ended; {}.",
        report.rows(),
        report.seconds,
        report.batches,
        done.memberships_ended,
        done.audit_events.as_ref().map_or_else(
            || "no audit events past retention".to_owned(),
            |a| format!("{} audit events past retention ({:.1} s)", a.rows(), a.seconds)
        )
    );
    Ok(())
}

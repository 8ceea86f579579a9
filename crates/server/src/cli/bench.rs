//! `yagona bench seed` (only with the `bench-seed` feature): fills a database with made-up
//! people for the scale benchmark (docs/performance.md, "Seeding a large database").

use clap::Subcommand;
use yagona_store::seed::SeedPlan;
use yagona_store::{DatabaseUrl, Store};

use crate::config::Settings;
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum BenchCommand {
    /// Seed N people with sessions, grants, tokens, consents, login history, legal entities
    /// into a fresh database (migrated first).
    Seed {
        /// How many people.
        #[arg(long)]
        accounts: u64,
        /// The database (default: the configured one).
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Relying parties the grants and consents are spread over.
        #[arg(long, default_value_t = 100)]
        clients: u64,
        /// Every seeded person's password (hashed once).
        #[arg(long, default_value = "seed-password-1")]
        password: String,
        /// The seeded relying parties' common secret (hashed once; `client_secret_basic`).
        #[arg(long, default_value = "seed-client-secret-1")]
        client_secret: String,
        /// What each person's live access token derives from: base64url(SHA-256(`SEED:i`)) for
        /// person i, behind its issue-time prefix (the load generator's `--token-seed`).
        #[arg(long, default_value = "yagona-bench")]
        token_seed: String,
        /// The seeding clock (unix seconds; default: now). The seeded rows' times count from it,
        /// and so do the live tokens' issue times, part of each token, spread over the people
        /// (the load generator's `--seeded-at` and `--people`).
        #[arg(long, value_name = "UNIX_SECONDS")]
        seeded_at: Option<i64>,
    },
}

pub(super) fn bench_command(settings: &Settings, command: BenchCommand) -> Result<(), String> {
    let BenchCommand::Seed { accounts, database, clients, password, client_secret, token_seed, seeded_at } = command;
    let url = match database {
        Some(url) => DatabaseUrl::parse(&url).map_err(|e| e.to_string())?,
        None => settings.database.clone(),
    };
    let store = Store::open(&url, 1).map_err(|e| format!("database: {e}"))?;
    store.migrate().map_err(|e| format!("database: {e}"))?;
    // One argon2 run for all: seeding must not spend N of them.
    let hasher = yagona_account::PasswordHasher::new(settings.password).map_err(|e| e.to_string())?;
    let password_hash = hasher.hash(&password).map_err(|e| e.to_string())?.as_phc().to_owned();
    let client_secret_hash =
        yagona_oidc::ClientSecretVerifier::default().hash(&client_secret).map_err(|e| e.description.to_string())?;
    let plan = SeedPlan {
        accounts,
        clients,
        password_hash,
        now: seeded_at.unwrap_or_else(now),
        client_secret_hash: Some(client_secret_hash),
        issuer: settings.issuer.clone(),
        token_seed,
    };
    let report = store
        .seed(&plan, |r| eprintln!("{:>12} rows  {:>8.1} s  {:>10.0} rows/s", r.rows, r.seconds, r.rows_per_second()))
        .map_err(|e| format!("seeding: {e}"))?;
    out!(
        "Seeded {accounts} people: {} rows in {:.1} s ({:.0} rows/s, {:.0} people/s), seeded at {}.",
        report.rows,
        report.seconds,
        report.rows_per_second(),
        accounts as f64 / report.seconds.max(1e-9),
        plan.now
    );
    Ok(())
}

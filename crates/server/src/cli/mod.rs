//! The command line (architecture.md, "Contracts"): `serve`, `migrate`, `client`, `account`,
//! `keys`. Every command reads the same configuration as the server.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use yagona_account::{AccountRepository as _, BirthDate, Login, NewAccount, Pinfl};
use yagona_oidc::{ClientId, OidcRepository as _};

use crate::config::{Config, Settings};
use crate::serve::{open_store, prepare, run};
use crate::state::now;
use crate::{logging, state};

/// `println!` for the CLI's output: a reader that goes away early (`yagona client list | head -1`)
/// ends the command quietly instead of a broken-pipe panic ([`write_line`]).
macro_rules! out {
    () => { $crate::cli::write_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::cli::write_line(format_args!($($arg)*)) };
}

mod account;
mod audit;
#[cfg(feature = "bench-seed")]
mod bench;
mod client;
mod keys;
mod legal;
mod pki;
mod purge;
mod throttle;

use account::{account_add, account_admin, AccountCommand};
use audit::{audit_command, AuditCommand};
use client::{client_command, new_client, ClientAdd, ClientCommand};
use keys::{keys_command, signing_bench, KeysCommand};
use legal::{legal_command, LegalCommand};
use pki::{pki_command, pki_status, PkiCommand};
use purge::{purge_command, PurgeArgs};
use throttle::{throttle_command, ThrottleCommand};

/// Yagona: an OpenID Connect identity provider for e-government single sign-on.
#[derive(Parser)]
#[command(name = "yagona", version, about)]
pub struct Cli {
    /// Configuration file (TOML); see config/default.toml.
    #[arg(long, global = true, env = "YAGONA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (migrates the database and creates signing keys first).
    Serve {
        /// Development mode: generate missing secrets into the data folder, seed a demo client
        /// and account, and print how to use them.
        #[arg(long)]
        dev: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Delete what has expired now (the server does it every ten minutes) and print the counts.
    Purge(PurgeArgs),
    /// Manage relying parties (clients).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit trail: takeovers, confirmations, head replacements, role changes.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The login throttle: list locked accounts and addresses, clear them.
    #[command(subcommand)]
    Throttle(ThrottleCommand),
    /// Legal entities linked by their heads.
    #[command(subcommand)]
    Legal(LegalCommand),
    /// EDS tools: a development CA, key files, CRLs and signatures, to try EDS without a real CA.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Benchmark tools: fill a database with made-up people (built with `--features bench-seed`).
    #[cfg(feature = "bench-seed")]
    #[command(subcommand, hide = true)]
    Bench(bench::BenchCommand),
}

pub fn main() -> ExitCode {
    // The process's one TLS provider (aws-lc-rs), so that no TLS client, whatever its own
    // configuration, finds none and panics (ureq is built without a provider of its own). An
    // error only says one is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    match run_cli(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            logging::fatal(&message);
            ExitCode::FAILURE
        }
    }
}

fn settings(config: Option<&std::path::Path>) -> Result<Settings, String> {
    let settings = Config::load(config)?.validate()?;
    logging::init(&settings.log);
    Ok(settings)
}

fn run_cli(cli: Cli) -> Result<(), String> {
    // The PKI tools (but `pki status`) and the signing benchmark need no configuration or database.
    if let Command::Pki(command) = cli.command {
        return match command {
            PkiCommand::Status => pki_status(&settings(cli.config.as_deref())?),
            command => pki_command(command),
        };
    }
    if let Command::Keys(KeysCommand::Bench { seconds }) = cli.command {
        return signing_bench(seconds);
    }
    let settings = settings(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { dev } => {
            let state = prepare(settings, dev)?;
            if dev {
                seed_demo(&state)?;
            }
            actix_web::rt::System::new().block_on(run(state))
        }
        Command::Migrate => {
            open_store(&settings)?;
            out!("Database is up to date.");
            Ok(())
        }
        Command::Purge(args) => purge_command(&settings, args),
        Command::Client(command) => client_command(&settings, command),
        Command::Account(AccountCommand::Add(args)) => account_add(&settings, args),
        Command::Account(command) => account_admin(&settings, command),
        Command::Keys(command) => keys_command(&settings, command),
        Command::Legal(command) => legal_command(&settings, command),
        Command::Audit(command) => audit_command(&settings, command),
        Command::Throttle(command) => throttle_command(&settings, command),
        Command::Pki(_) => Err("handled above".into()),
        #[cfg(feature = "bench-seed")]
        Command::Bench(command) => bench::bench_command(&settings, command),
    }
}

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading the password: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(password)
}

/// The demo client and account of `serve --dev`, created once and printed at every start.
fn seed_demo(state: &state::AppState) -> Result<(), String> {
    const CLIENT_ID: &str = "demo";
    const CLIENT_SECRET: &str = "demo-secret-change-me";
    const LOGIN: &str = "demo";
    const PASSWORD: &str = "Registon-2026!";
    // 3 120590 026 001 + check digit: a man born 12 May 1990.
    const PINFL: &str = "31205900260011";
    let store = &state.store;
    let id = ClientId::try_from(CLIENT_ID).map_err(|e| e.description.into_owned())?;
    if store.find_client(&id).map_err(|e| e.description.into_owned())?.is_none() {
        let (client, _) = new_client(
            ClientAdd {
                id: CLIENT_ID.into(),
                redirect_uris: vec!["http://127.0.0.1:9090/callback".into(), "http://localhost:9090/callback".into()],
                post_logout_redirect_uris: vec!["http://127.0.0.1:9090/".into()],
                public: false,
                secret: Some(CLIENT_SECRET.into()),
                name: Some("Demo service".into()),
                grant_types: vec!["authorization_code".into(), "refresh_token".into(), "client_credentials".into()],
                first_party: false,
                id_token_alg: "RS256".into(),
                access_token_format: "jwt".into(),
                scopes: vec![],
                auth_method: None,
                jwks_uri: None,
                jwks_file: None,
                require_par: false,
                require_signed_request_object: false,
                legacy: false,
                dpop_bound_access_tokens: false,
                backchannel_logout_uri: None,
                backchannel_logout_session_required: false,
                frontchannel_logout_uri: None,
                frontchannel_logout_session_required: false,
                subject_type: None,
                sector_identifier_uri: None,
                userinfo_alg: None,
                introspection_alg: None,
                resources: vec![],
            },
            None,
            &state.settings.outbound,
        )?;
        store.insert_client(&client).map_err(|e| e.description.into_owned())?;
    }
    let login = Login::try_from(LOGIN).map_err(|e| e.to_string())?;
    if store.find_account_by_login(&login).map_err(|e| e.to_string())?.is_none() {
        let pinfl = Pinfl::try_from(PINFL).map_err(|e| e.to_string())?;
        let account = NewAccount::new(
            login,
            pinfl,
            state.passwords.hash(PASSWORD).map_err(|e| e.to_string())?,
            "Demoev",
            "Demo",
            Some("Demoevich"),
            BirthDate::try_from("1990-05-12").map_err(|e| e.to_string())?,
            now(),
        )
        .map_err(|e| e.to_string())?
        .with_contacts(Some("demo@example.uz".into()), Some("+998901234567".into()));
        store.insert_account(&account).map_err(|e| e.to_string())?;
    }
    let issuer = &state.settings.issuer;
    out!(
        "\nYagona development mode: demo data is ready.\n\
         \n  Discovery:      {issuer}/.well-known/openid-configuration\
         \n  Client:         client_id={CLIENT_ID} client_secret={CLIENT_SECRET}\
         \n                  redirect_uri=http://127.0.0.1:9090/callback\
         \n  Account:        login={LOGIN} password={PASSWORD}\
         \n  Try a login:    {issuer}/authorize?client_id={CLIENT_ID}&response_type=code&scope=openid%20profile\
         &redirect_uri=http%3A%2F%2F127.0.0.1%3A9090%2Fcallback&state=xyz\
         \n  Machine token:  curl -u {CLIENT_ID}:{CLIENT_SECRET} -d grant_type=client_credentials {issuer}/token\n"
    );
    Ok(())
}

/// Writes one line to standard output. When the reader has closed the pipe the command has no one
/// to tell anything more, so it exits at once with success (what was done is done; `head` got
/// the lines it wanted); any other write error is reported and exits with failure.
pub fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| stdout.write_all(b"\n")).and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: writing to standard output: {e}");
            std::process::exit(1);
        }
    }
}

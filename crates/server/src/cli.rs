//! The command line (architecture.md, "Contracts"): `serve`, `migrate`, `client`, `account`,
//! `keys`. Every command reads the same configuration as the server.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use yagona_account::{AccountRepository as _, BirthDate, Login, NewAccount, PassportNumber, Pinfl};
use yagona_oidc::keys::{SigningAlg, StoredKey};
use yagona_oidc::secrets::random_token;
use yagona_oidc::{Client, ClientId, GrantType, OidcRepository as _, RedirectUri};

use crate::config::{Config, Settings};
use crate::serve::{data_dir, open_store, prepare, run};
use crate::state::{now, resolve_kek};
use crate::{logging, state};

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
    /// Manage relying parties (clients).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Legal entities linked by their heads.
    #[command(subcommand)]
    Legal(LegalCommand),
    /// EDS tools: a development CA, key files, CRLs and signatures, to try EDS without a real CA.
    #[command(subcommand)]
    Pki(PkiCommand),
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client. Prints a generated secret once (confidential clients).
    Add(ClientAdd),
    /// List the registered clients.
    List,
    /// Remove a client and everything issued to it.
    Remove {
        /// The client id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Args)]
struct ClientAdd {
    /// Client id, as the relying party will send it.
    #[arg(long)]
    id: String,
    /// A redirect URI (exact match); repeat for several.
    #[arg(long = "redirect-uri", required = true)]
    redirect_uris: Vec<String>,
    /// Where the client may send people after logout; repeat for several.
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// A public client (browser or native app): no secret, PKCE required.
    #[arg(long, conflicts_with = "secret")]
    public: bool,
    /// The client secret; generated when omitted.
    #[arg(long)]
    secret: Option<String>,
    /// The name people see on the consent page.
    #[arg(long)]
    name: Option<String>,
    /// Allowed grant types (authorization_code, refresh_token, client_credentials); repeat for
    /// several. Default: authorization_code and refresh_token.
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    /// The operator's own service: skip the consent page.
    #[arg(long)]
    first_party: bool,
    /// The algorithm that signs this client's ID tokens: RS256 (default) or ES256.
    #[arg(long, default_value = "RS256")]
    id_token_alg: String,
    /// Access tokens: `jwt` (default; RFC 9068, RS256, verifiable offline with the JWKS) or
    /// `opaque` (random handles that resource servers introspect; no signature per token).
    #[arg(long, default_value = "jwt")]
    access_token_format: String,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account (reads the password from standard input).
    Add(AccountAdd),
    /// List accounts: id, login, status, name.
    List,
    /// Show one account (by login).
    Show {
        /// The account's login.
        login: String,
    },
    /// Disable an account: it can no longer log in, and its sessions end.
    Disable {
        /// The account's login.
        login: String,
    },
    /// Enable a disabled account. It becomes unconfirmed: an EDS confirms it again.
    Enable {
        /// The account's login.
        login: String,
    },
    /// Lift the lock after too many failed logins.
    Unlock {
        /// The account's login.
        login: String,
    },
}

#[derive(Args)]
struct AccountAdd {
    #[arg(long)]
    login: String,
    /// Read the password from the first line of standard input.
    #[arg(long, required = true)]
    password_stdin: bool,
    #[arg(long)]
    pinfl: String,
    #[arg(long)]
    surname: String,
    #[arg(long)]
    first_name: String,
    #[arg(long)]
    middle_name: Option<String>,
    /// YYYY-MM-DD; must agree with the PINFL.
    #[arg(long)]
    birth_date: String,
    #[arg(long)]
    passport: Option<String>,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    phone: Option<String>,
}

#[derive(Subcommand)]
enum LegalCommand {
    /// List legal entities: TIN, short name, full name.
    List,
    /// Show one legal entity and the record of its membership changes.
    Show {
        /// The entity's TIN.
        tin: String,
    },
    /// List the live members of a legal entity and their roles.
    Members {
        /// The entity's TIN.
        tin: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List signing keys and whether they are published.
    List,
    /// Measure how many RS256 and ES256 JWT signatures one core makes per second with Yagona's
    /// signing code (the bound `make bench` compares client_credentials with).
    Bench {
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Replace the active signing key(s); the old ones stay published until their tokens expire.
    Rotate {
        /// Only this algorithm (RS256 or ES256); default both.
        #[arg(long)]
        alg: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_cli(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Subcommand)]
enum PkiCommand {
    /// A development certification authority, to try EDS without a real one.
    #[command(subcommand)]
    DevCa(DevCaCommand),
    /// Issue an individual's or a legal entity's certificate with the national OIDs, as a
    /// password-protected .p12 key file (the password is read from standard input).
    Issue(PkiIssue),
    /// Revoke a certificate issued by the development CA and write the CA's CRL (DIR/crl.pem).
    Revoke {
        /// The development CA's folder.
        #[arg(long)]
        ca: PathBuf,
        /// The certificate to revoke (PEM, as `pki issue` writes it beside the .p12).
        #[arg(long)]
        cert: PathBuf,
    },
    /// Sign TEXT with a .p12 key file (password on standard input) and print the attached CMS in
    /// base64, as E-IMZO's create_pkcs7 does.
    Sign {
        #[arg(long)]
        p12: PathBuf,
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The text to sign (a challenge).
        #[arg(long, allow_hyphen_values = true)]
        data: String,
    },
}

#[derive(Subcommand)]
enum DevCaCommand {
    /// Create the CA: DIR/ca.pem (the certificate, to configure as eds.trust_anchors) and
    /// DIR/ca.key (its private key).
    Init {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "Yagona Development CA")]
        name: String,
    },
}

#[derive(Args)]
struct PkiIssue {
    /// The development CA's folder.
    #[arg(long)]
    ca: PathBuf,
    /// The holder's PINFL (OID 1.2.860.3.16.1.2).
    #[arg(long)]
    pinfl: String,
    /// The holder's full name: SURNAME NAME PATRONYMIC.
    #[arg(long)]
    name: String,
    /// For a legal entity's certificate: the company's TIN (OID 1.2.860.3.16.1.1).
    #[arg(long, requires = "org")]
    tin: Option<String>,
    /// The company's name (O).
    #[arg(long)]
    org: Option<String>,
    /// The holder's title in the company (T), e.g. Director.
    #[arg(long)]
    title: Option<String>,
    /// The holder's personal TIN (UID).
    #[arg(long)]
    personal_tin: Option<String>,
    /// Key algorithm: rsa (RSA-2048) or ecdsa (P-256).
    #[arg(long, default_value = "rsa")]
    alg: String,
    /// Days of validity from now (negative: an already expired certificate, for tests).
    #[arg(long, default_value_t = 730, allow_hyphen_values = true)]
    days: i64,
    /// Days before now the validity starts (negative: not yet valid).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    days_before: i64,
    /// Where to write the .p12 key file; the certificate is written beside it as .crt (PEM).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, required = true)]
    password_stdin: bool,
}

fn pki_command(command: PkiCommand) -> Result<(), String> {
    use yagona_pki::dev_ca::{self, DevCa, KeyAlg, Subject};
    let text = |e: yagona_pki::PkiError| e.to_string();
    let load_ca = |dir: &std::path::Path| -> Result<DevCa, String> {
        let cert = std::fs::read_to_string(dir.join("ca.pem")).map_err(|e| format!("{}/ca.pem: {e}", dir.display()))?;
        let key = std::fs::read_to_string(dir.join("ca.key")).map_err(|e| format!("{}/ca.key: {e}", dir.display()))?;
        DevCa::load(&cert, &key).map_err(text)
    };
    match command {
        PkiCommand::DevCa(DevCaCommand::Init { out, name }) => {
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            if out.join("ca.pem").exists() {
                return Err(format!("{} already holds a CA", out.display()));
            }
            let ca = DevCa::init(&name, now()).map_err(text)?;
            std::fs::write(out.join("ca.pem"), &ca.cert_pem).map_err(|e| e.to_string())?;
            state::write_private_file(&out.join("ca.key"), &ca.key_pkcs8_pem)?;
            // An empty CRL from the start, so `eds.crls` can name it before anything is revoked.
            let crl = dev_ca::revoke(&ca, &[], now(), now() + 7 * 86_400).map_err(text)?;
            std::fs::write(out.join("crl.der"), crl).map_err(|e| e.to_string())?;
            println!("CA certificate: {}", out.join("ca.pem").display());
            println!("Trust it with: YAGONA_EDS__TRUST_ANCHORS='[\"{}\"]'", out.join("ca.pem").display());
            Ok(())
        }
        PkiCommand::Issue(args) => {
            let ca = load_ca(&args.ca)?;
            let password = read_password()?;
            let alg = match args.alg.as_str() {
                "rsa" => KeyAlg::Rsa,
                "ecdsa" => KeyAlg::Ecdsa,
                other => return Err(format!("--alg must be rsa or ecdsa, not {other}")),
            };
            let now = now();
            let subject = Subject {
                pinfl: args.pinfl,
                name: args.name,
                tin: args.personal_tin,
                legal_tin: args.tin,
                org: args.org,
                title: args.title,
                alg,
                not_before: now - args.days_before * 86_400,
                not_after: now + args.days * 86_400,
                key_usage_signing: true,
            };
            let issued = dev_ca::issue(&ca, &subject).map_err(text)?;
            let p12 = dev_ca::to_pkcs12(&issued, &ca, &password).map_err(text)?;
            std::fs::write(&args.out, p12).map_err(|e| format!("{}: {e}", args.out.display()))?;
            let cert_path = args.out.with_extension("crt");
            std::fs::write(&cert_path, dev_ca::certificate_pem(&issued.cert_der).map_err(text)?)
                .map_err(|e| format!("{}: {e}", cert_path.display()))?;
            println!("serial: {}", issued.serial_hex);
            println!("key file: {}", args.out.display());
            println!("certificate: {}", cert_path.display());
            Ok(())
        }
        PkiCommand::Revoke { ca: dir, cert } => {
            let ca = load_ca(&dir)?;
            let pem = std::fs::read_to_string(&cert).map_err(|e| format!("{}: {e}", cert.display()))?;
            let serial = dev_ca::certificate_serial(&pem).map_err(text)?;
            // The CA's revocation list is kept as lines "serial unix-time" beside it.
            let list_path = dir.join("revoked.txt");
            let mut list = std::fs::read_to_string(&list_path).unwrap_or_default();
            if !list.lines().any(|l| l.split_whitespace().next() == Some(serial.as_str())) {
                list.push_str(&format!("{serial} {}\n", now()));
            }
            std::fs::write(&list_path, &list).map_err(|e| format!("{}: {e}", list_path.display()))?;
            let revoked: Vec<(String, i64)> = list
                .lines()
                .filter_map(|l| {
                    let mut parts = l.split_whitespace();
                    Some((parts.next()?.to_owned(), parts.next()?.parse().ok()?))
                })
                .collect();
            let crl = dev_ca::revoke(&ca, &revoked, now(), now() + 7 * 86_400).map_err(text)?;
            std::fs::write(dir.join("crl.der"), crl).map_err(|e| e.to_string())?;
            println!("revoked: {serial}");
            println!("CRL: {}", dir.join("crl.der").display());
            Ok(())
        }
        PkiCommand::Sign { p12, password_stdin: _, data } => {
            let password = read_password()?;
            let bytes = std::fs::read(&p12).map_err(|e| format!("{}: {e}", p12.display()))?;
            let issued = dev_ca::from_pkcs12(&bytes, &password).map_err(text)?;
            let cms = dev_ca::sign_attached(&issued, data.as_bytes(), now()).map_err(text)?;
            println!("{}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, cms));
            Ok(())
        }
    }
}

fn settings(cli: &Cli) -> Result<Settings, String> {
    let settings = Config::load(cli.config.as_deref())?.validate()?;
    logging::init(&settings.log);
    Ok(settings)
}

fn run_cli(cli: Cli) -> Result<(), String> {
    // The PKI tools and the signing benchmark need no configuration or database.
    if let Command::Pki(command) = cli.command {
        return pki_command(command);
    }
    if let Command::Keys(KeysCommand::Bench { seconds }) = cli.command {
        return signing_bench(seconds);
    }
    let settings = settings(&cli)?;
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
            println!("Database is up to date.");
            Ok(())
        }
        Command::Client(command) => client_command(&settings, command),
        Command::Account(AccountCommand::Add(args)) => account_add(&settings, args),
        Command::Account(command) => account_admin(&settings, command),
        Command::Keys(command) => keys_command(&settings, command),
        Command::Legal(command) => legal_command(&settings, command),
        Command::Pki(_) => Err("handled above".into()),
    }
}

fn client_command(settings: &Settings, command: ClientCommand) -> Result<(), String> {
    let store = open_store(settings)?;
    match command {
        ClientCommand::Add(args) => {
            let (client, secret) = new_client(args)?;
            store.insert_client(&client).map_err(|e| e.description.into_owned())?;
            println!("client_id: {}", client.id);
            if let Some(secret) = secret {
                println!("client_secret: {secret}");
                eprintln!("The secret is shown only this once: store it now.");
            } else {
                println!("client_type: public (PKCE required)");
            }
            Ok(())
        }
        ClientCommand::List => {
            let clients = store.list_clients().map_err(|e| e.description.into_owned())?;
            for c in clients {
                let grants: Vec<_> = c.grant_types.iter().map(|g| g.as_str()).collect();
                let uris: Vec<_> = c.redirect_uris.iter().map(|u| u.as_str()).collect();
                println!(
                    "{}\t{}\t{}{}\t{}\t{}\t{}",
                    c.id,
                    c.name,
                    if c.is_public() { "public" } else { "confidential" },
                    if c.first_party { ",first-party" } else { "" },
                    grants.join(","),
                    format_args!("access_token={}", c.access_token_format.as_str()),
                    uris.join(" ")
                );
            }
            Ok(())
        }
        ClientCommand::Remove { id } => {
            let id = ClientId::try_from(id.as_str()).map_err(|e| e.description.into_owned())?;
            if store.delete_client(&id).map_err(|e| e.description.into_owned())? {
                println!("Client {id} removed.");
                Ok(())
            } else {
                Err(format!("no client with id {id}"))
            }
        }
    }
}

fn new_client(args: ClientAdd) -> Result<(Client, Option<String>), String> {
    let text = |e: yagona_oidc::OAuthError| e.description.into_owned();
    let id = ClientId::try_from(args.id.as_str()).map_err(text)?;
    let redirect_uris = args
        .redirect_uris
        .iter()
        .map(|u| RedirectUri::try_from(u.as_str()).map_err(|e| format!("--redirect-uri {u}: {}", e.description)))
        .collect::<Result<Vec<_>, _>>()?;
    let post_logout_redirect_uris = args
        .post_logout_redirect_uris
        .iter()
        .map(|u| {
            RedirectUri::try_from(u.as_str()).map_err(|e| format!("--post-logout-redirect-uri {u}: {}", e.description))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut grant_types = args
        .grant_types
        .iter()
        .map(|g| GrantType::try_from(g.as_str()).map_err(text))
        .collect::<Result<Vec<_>, _>>()?;
    if grant_types.is_empty() {
        grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    }
    if args.public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err("public clients cannot use client_credentials".into());
    }
    let secret = if args.public { None } else { Some(args.secret.unwrap_or_else(random_token)) };
    let secret_hash =
        secret.as_deref().map(|s| yagona_oidc::ClientSecretVerifier::default().hash(s)).transpose().map_err(text)?;
    let client = Client {
        name: args.name.unwrap_or_else(|| id.to_string()),
        id,
        secret_hash,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        first_party: args.first_party,
        id_token_signing_alg: SigningAlg::try_from(args.id_token_alg.as_str()).map_err(text)?,
        created_at: now(),
        access_token_format: yagona_oidc::AccessTokenFormat::try_from(args.access_token_format.as_str())
            .map_err(|e| format!("--access-token-format: {}", e.description))?,
    };
    Ok((client, secret))
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

fn account_add(settings: &Settings, args: AccountAdd) -> Result<(), String> {
    let text = |e: yagona_account::AccountError| e.to_string();
    let login = Login::try_from(args.login.as_str()).map_err(|e| format!("--login: {e}"))?;
    let pinfl = Pinfl::try_from(args.pinfl.as_str()).map_err(|e| format!("--pinfl: {e}"))?;
    let birth_date = BirthDate::try_from(args.birth_date.as_str()).map_err(|e| format!("--birth-date: {e}"))?;
    let passport =
        args.passport.as_deref().map(PassportNumber::try_from).transpose().map_err(|e| format!("--passport: {e}"))?;
    let password = read_password()?;
    let policy = yagona_account::PasswordPolicy { min_length: settings.password_min_length };
    policy.check(&password, &login).map_err(|e| format!("password: {e}"))?;
    let hasher = yagona_account::PasswordHasher::new(settings.password).map_err(text)?;
    let account = NewAccount::new(
        login,
        pinfl,
        hasher.hash(&password).map_err(text)?,
        &args.surname,
        &args.first_name,
        args.middle_name.as_deref(),
        birth_date,
        now(),
    )
    .map_err(text)?
    .with_contacts(args.email, args.phone)
    .with_passport(passport);
    let store = open_store(settings)?;
    store.insert_account(&account).map_err(text)?;
    println!("account_id: {}", account.account().id);
    Ok(())
}

fn account_admin(settings: &Settings, command: AccountCommand) -> Result<(), String> {
    use yagona_account::AccountStatus;
    let store = open_store(settings)?;
    let text = |e: yagona_account::AccountError| e.to_string();
    let find = |login: &str| -> Result<yagona_account::Account, String> {
        let login = Login::try_from(login).map_err(|e| format!("login: {e}"))?;
        store.find_account_by_login(&login).map_err(text)?.ok_or_else(|| format!("no account with login {login}"))
    };
    match command {
        AccountCommand::Add(_) => Err("handled elsewhere".into()),
        AccountCommand::List => {
            for a in store.list_accounts().map_err(text)? {
                println!("{}\t{}\t{}\t{}", a.id, a.login, a.status.as_str(), a.full_name());
            }
            Ok(())
        }
        AccountCommand::Show { login } => {
            let a = find(&login)?;
            println!("id:          {}", a.id);
            println!("login:       {}", a.login);
            println!("status:      {}", a.status.as_str());
            println!("name:        {}", a.full_name());
            println!("birth_date:  {}", a.birth_date);
            println!("pinfl:       {}", a.pinfl);
            println!("passport:    {}", a.passport_number.as_ref().map(|p| p.as_str()).unwrap_or("-"));
            println!("phone:       {}", a.phone.as_deref().unwrap_or("-"));
            println!("email:       {}", a.email.as_deref().unwrap_or("-"));
            println!("created_at:  {}", crate::http::show_time(a.created_at));
            let sessions = store.list_sessions(&a.id, now()).map_err(|e| e.description.into_owned())?;
            println!("sessions:    {}", sessions.len());
            let window_start = now() - settings.login.window_seconds;
            let failures = store
                .recent_login_failures(&format!("account:{}", a.login), window_start)
                .map_err(|e| e.description.into_owned())?;
            let locked = failures >= settings.login.max_failures_per_account;
            println!("failed_logins: {failures}{}", if locked { " (locked)" } else { "" });
            Ok(())
        }
        AccountCommand::Disable { login } => {
            let a = find(&login)?;
            store.set_account_status(&a.id, AccountStatus::Disabled).map_err(text)?;
            let ended = store.end_sessions_of(&a.id, None, now()).map_err(|e| e.description.into_owned())?;
            println!("Account {} disabled; {ended} session(s) ended.", a.login);
            Ok(())
        }
        AccountCommand::Enable { login } => {
            let a = find(&login)?;
            if a.status != AccountStatus::Disabled {
                return Err(format!("account {} is not disabled", a.login));
            }
            store.set_account_status(&a.id, AccountStatus::Unconfirmed).map_err(text)?;
            println!("Account {} enabled (unconfirmed).", a.login);
            Ok(())
        }
        AccountCommand::Unlock { login } => {
            let a = find(&login)?;
            store.clear_login_failures(&format!("account:{}", a.login)).map_err(|e| e.description.into_owned())?;
            println!("Account {} unlocked.", a.login);
            Ok(())
        }
    }
}

fn legal_command(settings: &Settings, command: LegalCommand) -> Result<(), String> {
    use yagona_account::legal::{LegalRepository as _, Tin};
    let store = open_store(settings)?;
    let text = |e: yagona_account::AccountError| e.to_string();
    let tin = |t: &str| Tin::try_from(t).map_err(|e| format!("TIN: {e}"));
    match command {
        LegalCommand::List => {
            for e in store.list_legal_entities().map_err(text)? {
                println!("{}\t{}\t{}", e.tin, e.short_name, e.name);
            }
            Ok(())
        }
        LegalCommand::Show { tin: t } => {
            let t = tin(&t)?;
            let e =
                store.find_legal_entity(&t).map_err(text)?.ok_or_else(|| format!("no legal entity with TIN {t}"))?;
            println!("tin:         {}", e.tin);
            println!("name:        {}", e.name);
            println!("short_name:  {}", e.short_name);
            println!("linked_at:   {}", crate::http::show_time(e.linked_at));
            for ev in store.membership_events(&t).map_err(text)? {
                let by = ev.by.as_ref().map(|b| b.to_string()).unwrap_or_else(|| "-".into());
                println!(
                    "event:       {}\t{}\t{}\t{}\tby {}",
                    crate::http::show_time(ev.at),
                    ev.action,
                    ev.account_id,
                    ev.role,
                    by
                );
            }
            Ok(())
        }
        LegalCommand::Members { tin: t } => {
            let t = tin(&t)?;
            for m in store.members(&t, now()).map_err(text)? {
                let login =
                    store.find_account(&m.account_id).map_err(text)?.map(|a| a.login.to_string()).unwrap_or_default();
                let until = m.expires_at.map(crate::http::show_time).unwrap_or_else(|| "-".into());
                println!("{}\t{}\t{}\t{}", m.account_id, login, m.role, until);
            }
            Ok(())
        }
    }
}

fn signing_bench(seconds: f64) -> Result<(), String> {
    use yagona_oidc::keys::{KeyEncryptionKey, KeyRing};
    let kek = KeyEncryptionKey::generate();
    let keys = SigningAlg::ALL
        .iter()
        .map(|alg| StoredKey::generate(*alg, &kek, now()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.description.into_owned())?;
    let ring = KeyRing::load(&keys, &kek, now(), 600).map_err(|e| e.description.into_owned())?;
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080", "sub": "bench", "aud": "bench", "client_id": "bench",
        "exp": now() + 600, "iat": now(), "jti": "0123456789abcdef0123456789", "scope": "",
    });
    let mut result = serde_json::Map::new();
    for alg in SigningAlg::ALL {
        let window = std::time::Duration::from_secs_f64(seconds);
        let started = std::time::Instant::now();
        let mut n: u64 = 0;
        while started.elapsed() < window {
            ring.sign(alg, "at+jwt", &claims).map_err(|e| e.description.into_owned())?;
            n += 1;
        }
        result.insert(
            format!("{}_per_s", alg.as_str().to_lowercase()),
            (n as f64 / started.elapsed().as_secs_f64()).into(),
        );
    }
    println!("{}", serde_json::Value::Object(result));
    Ok(())
}

fn keys_command(settings: &Settings, command: KeysCommand) -> Result<(), String> {
    let store = open_store(settings)?;
    match command {
        KeysCommand::List => {
            let keep = settings.lifetimes.longest_signed_token();
            let keys = store.list_signing_keys().map_err(|e| e.description.into_owned())?;
            for k in keys {
                println!(
                    "{}\t{}\t{}\t{}",
                    k.kid,
                    k.alg.as_str(),
                    k.state.as_str(),
                    if k.is_published(now(), keep) { "published" } else { "unpublished" }
                );
            }
            Ok(())
        }
        KeysCommand::Bench { seconds } => signing_bench(seconds),
        KeysCommand::Rotate { alg } => {
            let algs = match alg {
                Some(a) => {
                    vec![SigningAlg::try_from(a.as_str()).map_err(|e| e.description.into_owned())?]
                }
                None => SigningAlg::ALL.to_vec(),
            };
            let kek = resolve_kek(settings, false, &data_dir(settings))?;
            for alg in algs {
                let key = StoredKey::generate(alg, &kek, now()).map_err(|e| e.description.into_owned())?;
                store.activate_signing_key(&key, now(), false).map_err(|e| e.description.into_owned())?;
                println!(
                    "{} {} active; the previous key stays published until its tokens expire",
                    alg.as_str(),
                    key.kid
                );
            }
            println!("Running servers pick up the new keys within 30 seconds.");
            Ok(())
        }
    }
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
        let (client, _) = new_client(ClientAdd {
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
        })?;
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
    println!(
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

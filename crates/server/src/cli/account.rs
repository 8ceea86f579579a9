//! `yagona account`: accounts.

use clap::{Args, Subcommand};
use yagona_account::{AccountRepository as _, BirthDate, Login, NewAccount, PassportNumber, Pinfl};
use yagona_oidc::OidcRepository as _;

use crate::config::Settings;
use crate::serve::open_store;
use crate::state::now;

use super::read_password;

#[derive(Subcommand)]
pub(super) enum AccountCommand {
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
pub(super) struct AccountAdd {
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

pub(super) fn account_add(settings: &Settings, args: AccountAdd) -> Result<(), String> {
    let text = |e: yagona_account::AccountError| e.to_string();
    let login = Login::try_from(args.login.as_str()).map_err(|e| format!("--login: {e}"))?;
    let pinfl = Pinfl::try_from(args.pinfl.as_str()).map_err(|e| format!("--pinfl: {e}"))?;
    let birth_date = BirthDate::try_from(args.birth_date.as_str()).map_err(|e| format!("--birth-date: {e}"))?;
    let passport =
        args.passport.as_deref().map(PassportNumber::try_from).transpose().map_err(|e| format!("--passport: {e}"))?;
    let password = read_password()?;
    let policy = settings.password_policy();
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
    out!("account_id: {}", account.account().id);
    Ok(())
}

pub(super) fn account_admin(settings: &Settings, command: AccountCommand) -> Result<(), String> {
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
                out!("{}\t{}\t{}\t{}", a.id, a.login, a.status.as_str(), a.full_name());
            }
            Ok(())
        }
        AccountCommand::Show { login } => {
            let a = find(&login)?;
            out!("id:          {}", a.id);
            out!("login:       {}", a.login);
            out!("status:      {}", a.status.as_str());
            out!("name:        {}", a.full_name());
            out!("birth_date:  {}", a.birth_date);
            out!("pinfl:       {}", a.pinfl);
            out!("passport:    {}", a.passport_number.as_ref().map(|p| p.as_str()).unwrap_or("-"));
            out!("phone:       {}", a.phone.as_deref().unwrap_or("-"));
            out!("email:       {}", a.email.as_deref().unwrap_or("-"));
            out!("created_at:  {}", crate::http::show_time(a.created_at));
            let sessions = store.list_sessions(&a.id, now()).map_err(|e| e.description.into_owned())?;
            out!("sessions:    {}", sessions.len());
            let window_start = now() - settings.login.window_seconds;
            let failures = store
                .recent_login_failures(&format!("account:{}", a.login), window_start)
                .map_err(|e| e.description.into_owned())?;
            let locked = failures >= settings.login.max_failures_per_account;
            out!("failed_logins: {failures}{}", if locked { " (locked)" } else { "" });
            Ok(())
        }
        AccountCommand::Disable { login } => {
            let a = find(&login)?;
            store.set_account_status(&a.id, AccountStatus::Disabled).map_err(text)?;
            let ended = store.end_sessions_of(&a.id, None, now()).map_err(|e| e.description.into_owned())?;
            out!("Account {} disabled; {ended} session(s) ended.", a.login);
            Ok(())
        }
        AccountCommand::Enable { login } => {
            let a = find(&login)?;
            if a.status != AccountStatus::Disabled {
                return Err(format!("account {} is not disabled", a.login));
            }
            store.set_account_status(&a.id, AccountStatus::Unconfirmed).map_err(text)?;
            out!("Account {} enabled (unconfirmed).", a.login);
            Ok(())
        }
        AccountCommand::Unlock { login } => {
            let a = find(&login)?;
            store.clear_login_failures(&format!("account:{}", a.login)).map_err(|e| e.description.into_owned())?;
            out!("Account {} unlocked.", a.login);
            Ok(())
        }
    }
}

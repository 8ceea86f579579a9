//! `yagona legal`: legal entities and their members.

use clap::Subcommand;
use yagona_account::AccountRepository as _;

use crate::config::Settings;
use crate::serve::open_store;
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum LegalCommand {
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

pub(super) fn legal_command(settings: &Settings, command: LegalCommand) -> Result<(), String> {
    use yagona_account::legal::{LegalRepository as _, Tin};
    let store = open_store(settings)?;
    let text = |e: yagona_account::AccountError| e.to_string();
    let tin = |t: &str| Tin::try_from(t).map_err(|e| format!("TIN: {e}"));
    match command {
        LegalCommand::List => {
            for e in store.list_legal_entities().map_err(text)? {
                out!("{}\t{}\t{}", e.tin, e.short_name, e.name);
            }
            Ok(())
        }
        LegalCommand::Show { tin: t } => {
            let t = tin(&t)?;
            let e =
                store.find_legal_entity(&t).map_err(text)?.ok_or_else(|| format!("no legal entity with TIN {t}"))?;
            out!("tin:         {}", e.tin);
            out!("name:        {}", e.name);
            out!("short_name:  {}", e.short_name);
            out!("linked_at:   {}", crate::http::show_time(e.linked_at));
            for ev in store.membership_events(&t).map_err(text)? {
                let by = ev.by.as_ref().map(|b| b.to_string()).unwrap_or_else(|| "-".into());
                out!(
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
                out!("{}\t{}\t{}\t{}", m.account_id, login, m.role, until);
            }
            Ok(())
        }
    }
}

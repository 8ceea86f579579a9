//! `yagona client`: relying parties.

use clap::{Args, Subcommand};
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_oidc::client::registered_scopes;
use yagona_oidc::keys::SigningAlg;
use yagona_oidc::secrets::random_token;
use yagona_oidc::{Client, ClientId, GrantType, OidcRepository as _, RedirectUri};

use crate::config::Settings;
use crate::serve::open_store;
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum ClientCommand {
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
    /// Replace the scopes a client may be granted on its own behalf (client_credentials).
    SetScopes {
        /// The client id.
        #[arg(long)]
        id: String,
        /// A scope (or several, space-separated); repeat for more. None: no scope at all.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

#[derive(Args)]
pub(super) struct ClientAdd {
    /// Client id, as the relying party will send it.
    #[arg(long)]
    pub(super) id: String,
    /// A redirect URI (exact match); repeat for several.
    #[arg(long = "redirect-uri", required = true)]
    pub(super) redirect_uris: Vec<String>,
    /// Where the client may send people after logout; repeat for several.
    #[arg(long = "post-logout-redirect-uri")]
    pub(super) post_logout_redirect_uris: Vec<String>,
    /// A public client (browser or native app): no secret, PKCE required.
    #[arg(long, conflicts_with = "secret")]
    pub(super) public: bool,
    /// The client secret; generated when omitted.
    #[arg(long)]
    pub(super) secret: Option<String>,
    /// The name people see on the consent page.
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Allowed grant types (authorization_code, refresh_token, client_credentials); repeat for
    /// several. Default: authorization_code and refresh_token.
    #[arg(long = "grant-type")]
    pub(super) grant_types: Vec<String>,
    /// The operator's own service: skip the consent page.
    #[arg(long)]
    pub(super) first_party: bool,
    /// The algorithm that signs this client's ID tokens: RS256 (default) or ES256.
    #[arg(long, default_value = "RS256")]
    pub(super) id_token_alg: String,
    /// Access tokens: `jwt` (default; RFC 9068, RS256, verifiable offline with the JWKS) or
    /// `opaque` (random handles that resource servers introspect; no signature per token).
    #[arg(long, default_value = "jwt")]
    pub(super) access_token_format: String,
    /// A scope the client may be granted on its own behalf (client_credentials), or several,
    /// space-separated; repeat for more. A client_credentials request gets exactly these when it
    /// names none, and `invalid_scope` for any other.
    #[arg(long = "scope")]
    pub(super) scopes: Vec<String>,
}

pub(super) fn client_command(settings: &Settings, command: ClientCommand) -> Result<(), String> {
    let store = open_store(settings)?;
    match command {
        ClientCommand::Add(args) => {
            let (client, secret) = new_client(args)?;
            store.insert_client(&client).map_err(|e| e.description.into_owned())?;
            let detail = serde_json::json!({ "client": client.id.as_str(), "name": client.name });
            crate::audit_log::record(&store, AuditEvent::new(AuditKind::ClientAdded, now(), detail));
            out!("client_id: {}", client.id);
            if let Some(secret) = secret {
                out!("client_secret: {secret}");
                eprintln!("The secret is shown only this once: store it now.");
            } else {
                out!("client_type: public (PKCE required)");
            }
            Ok(())
        }
        ClientCommand::List => {
            let clients = store.list_clients().map_err(|e| e.description.into_owned())?;
            for c in clients {
                let grants: Vec<_> = c.grant_types.iter().map(|g| g.as_str()).collect();
                let uris: Vec<_> = c.redirect_uris.iter().map(|u| u.as_str()).collect();
                out!(
                    "{}\t{}\t{}{}\t{}\t{}\t{}\t{}",
                    c.id,
                    c.name,
                    if c.is_public() { "public" } else { "confidential" },
                    if c.first_party { ",first-party" } else { "" },
                    grants.join(","),
                    format_args!("access_token={}", c.access_token_format.as_str()),
                    format_args!("scopes={}", c.scopes),
                    uris.join(" ")
                );
            }
            Ok(())
        }
        ClientCommand::SetScopes { id, scopes } => {
            let id = ClientId::try_from(id.as_str()).map_err(|e| e.description.into_owned())?;
            let scopes = registered_scopes(&scopes).map_err(|e| format!("--scope: {}", e.description))?;
            if store.set_client_scopes(&id, &scopes).map_err(|e| e.description.into_owned())? {
                out!("Client {id} scopes: {scopes}");
                Ok(())
            } else {
                Err(format!("no client with id {id}"))
            }
        }
        ClientCommand::Remove { id } => {
            let id = ClientId::try_from(id.as_str()).map_err(|e| e.description.into_owned())?;
            if store.delete_client(&id).map_err(|e| e.description.into_owned())? {
                let detail = serde_json::json!({ "client": id.as_str() });
                crate::audit_log::record(&store, AuditEvent::new(AuditKind::ClientRemoved, now(), detail));
                out!("Client {id} removed.");
                Ok(())
            } else {
                Err(format!("no client with id {id}"))
            }
        }
    }
}

pub(super) fn new_client(args: ClientAdd) -> Result<(Client, Option<String>), String> {
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
        scopes: registered_scopes(&args.scopes).map_err(|e| format!("--scope: {}", e.description))?,
    };
    Ok((client, secret))
}

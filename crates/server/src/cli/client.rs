//! `yagona client`: relying parties.

use clap::{Args, Subcommand};
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_oidc::client::registered_scopes;
use yagona_oidc::client::TokenMetadata;
use yagona_oidc::client_metadata::{register, ClientMetadata};
use yagona_oidc::keys::{KeyEncryptionKey, SigningAlg};
use yagona_oidc::secrets::{hash_token, random_secret, random_token};
use yagona_oidc::subject::SubjectType;
use yagona_oidc::{Client, ClientId, GrantType, OidcRepository as _};

use crate::config::Settings;
use crate::serve::{data_dir, open_store};
use crate::state::{now, resolve_kek};

#[derive(Subcommand)]
pub(super) enum ClientCommand {
    /// Register a client. Prints a generated secret once (confidential clients).
    Add(Box<ClientAdd>),
    /// List the registered clients.
    List,
    /// Remove a client and everything issued to it.
    Remove {
        /// The client id.
        #[arg(long)]
        id: String,
    },
    /// Make an initial access token for dynamic client registration (RFC 7591 3, at
    /// /connect/register). Prints the token alone; it is stored hashed.
    RegistrationToken {
        /// Seconds the token is good for.
        #[arg(long, default_value_t = 86_400)]
        ttl: i64,
        /// How many clients it may register.
        #[arg(long, default_value_t = 1)]
        uses: i64,
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
    /// The algorithm that signs this client's ID tokens: RS256 (default), ES256, PS256 or EdDSA.
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
    /// May use the legacy OneID API (`/sso/oauth/Authorization.do`, docs/legacy-oneid.md), for a
    /// service that cannot move to OpenID Connect yet. Needs a secret (the API has no PKCE).
    #[arg(long, conflicts_with = "public")]
    pub(super) legacy: bool,
    /// How the client authenticates at the token, introspection, revocation and PAR endpoints:
    /// client_secret_basic (default; the secret in the Basic header or the body),
    /// client_secret_post, client_secret_jwt, private_key_jwt, or none (same as --public).
    #[arg(long)]
    pub(super) auth_method: Option<String>,
    /// Where the client publishes its public keys (JWK Set), for private_key_jwt and signed
    /// request objects.
    #[arg(long, conflicts_with = "jwks_file")]
    pub(super) jwks_uri: Option<String>,
    /// A file holding the client's public keys (JWK Set), registered inline.
    #[arg(long)]
    pub(super) jwks_file: Option<std::path::PathBuf>,
    /// Authorization requests only through the PAR endpoint (RFC 9126).
    #[arg(long)]
    pub(super) require_par: bool,
    /// Authorization requests only as signed request objects (RFC 9101).
    #[arg(long)]
    pub(super) require_signed_request_object: bool,
    /// DPoP (RFC 9449): every token request must carry a DPoP proof, so every access token
    /// (and a public client's refresh tokens) is bound to the client's key.
    #[arg(long)]
    pub(super) dpop_bound_access_tokens: bool,
    /// Back-channel logout: where the client receives a logout token when a session it was
    /// part of ends (https; http only on loopback).
    #[arg(long)]
    pub(super) backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens (always sent).
    #[arg(long, requires = "backchannel_logout_uri")]
    pub(super) backchannel_logout_session_required: bool,
    /// Front-channel logout: the page loaded in a hidden iframe of the logged-out page when a
    /// session it was part of ends in the browser (https; http only on loopback).
    #[arg(long)]
    pub(super) frontchannel_logout_uri: Option<String>,
    /// Add `iss` and `sid` to the front-channel logout URL.
    #[arg(long, requires = "frontchannel_logout_uri")]
    pub(super) frontchannel_logout_session_required: bool,
    /// `public` (`sub` is the account id) or `pairwise` (a different, stable `sub` per sector);
    /// default: the server's `subjects.default_type`.
    #[arg(long)]
    pub(super) subject_type: Option<String>,
    /// A URL serving a JSON array that lists every redirect URI of the client (fetched and checked
    /// now); its host is the client's sector for pairwise subjects. Needed for a pairwise client
    /// whose redirect URIs name several hosts.
    #[arg(long)]
    pub(super) sector_identifier_uri: Option<String>,
    /// Sign userinfo responses (`application/jwt`) with RS256, ES256, PS256 or EdDSA; default:
    /// plain JSON.
    #[arg(long)]
    pub(super) userinfo_alg: Option<String>,
    /// Answer this client's introspection requests as signed JWTs (RFC 9701,
    /// `application/token-introspection+jwt`) with RS256, ES256, PS256 or EdDSA; default: JSON
    /// unless the request asks for a JWT.
    #[arg(long)]
    pub(super) introspection_alg: Option<String>,
    /// A resource (API, absolute URI) the client may ask access tokens for (RFC 8707
    /// `resource`; the token's `aud`); repeat for several.
    #[arg(long = "resource")]
    pub(super) resources: Vec<String>,
}

pub(super) fn client_command(settings: &Settings, command: ClientCommand) -> Result<(), String> {
    let store = open_store(settings)?;
    match command {
        ClientCommand::Add(args) => {
            // The key-encryption key is read only for a client whose secret it seals.
            let kek = match args.auth_method.as_deref() {
                Some("client_secret_jwt") => Some(resolve_kek(settings, false, &data_dir(settings))?),
                _ => None,
            };
            let (client, secret) = new_client(*args, kek.as_ref(), &settings.outbound)?;
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
        ClientCommand::RegistrationToken { ttl, uses } => {
            if ttl < 1 || uses < 1 {
                return Err("--ttl and --uses must be at least 1".into());
            }
            let token = random_token();
            let now = now();
            store
                .insert_registration_token(&hash_token(&token), now, now + ttl, Some(uses))
                .map_err(|e| e.description.into_owned())?;
            println!("{token}");
            Ok(())
        }
        ClientCommand::List => {
            let clients = store.list_clients().map_err(|e| e.description.into_owned())?;
            for c in clients {
                let grants: Vec<_> = c.grant_types.iter().map(|g| g.as_str()).collect();
                let uris: Vec<_> = c.redirect_uris.iter().map(|u| u.as_str()).collect();
                out!(
                    "{}\t{}\t{}{}{}\t{}\t{}\t{}\t{}",
                    c.id,
                    c.name,
                    format_args!(
                        "{} ({})",
                        if c.is_public() { "public" } else { "confidential" },
                        c.auth_method.as_str()
                    ),
                    if c.first_party { ",first-party" } else { "" },
                    if c.legacy { ",legacy" } else { "" },
                    grants.join(","),
                    format_args!("access_token={}", c.access_token_format.as_str()),
                    format_args!(
                        "scopes={}{}",
                        c.scopes,
                        if c.token_metadata.dpop_bound_access_tokens { "\tdpop_bound" } else { "" }
                    ),
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

/// The client `client add` registers: its arguments as client metadata, validated by the same
/// function as dynamic registration's; the secret to show once, if it has one.
pub(super) fn new_client(
    args: ClientAdd,
    kek: Option<&KeyEncryptionKey>,
    outbound: &crate::outbound::OutboundPolicy,
) -> Result<(Client, Option<String>), String> {
    let text = |e: yagona_oidc::OAuthError| e.description.into_owned();
    let id = ClientId::try_from(args.id.as_str()).map_err(text)?;
    let jwks = match &args.jwks_file {
        Some(path) => {
            let content = std::fs::read_to_string(path).map_err(|e| format!("--jwks-file {}: {e}", path.display()))?;
            Some(serde_json::from_str(&content).map_err(|e| format!("--jwks-file {}: not JSON: {e}", path.display()))?)
        }
        None => None,
    };
    let grant_types = if args.grant_types.is_empty() {
        vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
    } else {
        args.grant_types
    };
    let auth_method = match (args.public, args.auth_method) {
        (true, Some(m)) if m != "none" => return Err("--public is --auth-method none".into()),
        (true, _) => Some("none".to_owned()),
        (false, m) => m,
    };
    // A private-use scheme (RFC 8252 7.1) makes the client a native app, as it always was here.
    let native = args.redirect_uris.iter().any(|u| !u.starts_with("https:") && !u.starts_with("http:"));
    let mut metadata = ClientMetadata {
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        token_endpoint_auth_method: auth_method,
        grant_types: Some(grant_types),
        client_name: args.name,
        scope: None,
        jwks,
        jwks_uri: args.jwks_uri,
        id_token_signed_response_alg: Some(args.id_token_alg),
        require_pushed_authorization_requests: Some(args.require_par),
        require_signed_request_object: Some(args.require_signed_request_object),
        access_token_format: Some(args.access_token_format),
        token: TokenMetadata {
            dpop_bound_access_tokens: args.dpop_bound_access_tokens,
            backchannel_logout_uri: args.backchannel_logout_uri,
            backchannel_logout_session_required: args.backchannel_logout_session_required,
            frontchannel_logout_uri: args.frontchannel_logout_uri,
            frontchannel_logout_session_required: args.frontchannel_logout_session_required,
            subject_type: args
                .subject_type
                .as_deref()
                .map(SubjectType::try_from)
                .transpose()
                .map_err(|e| format!("--subject-type: {}", e.description))?,
            sector_identifier_uri: args.sector_identifier_uri,
            userinfo_signed_response_alg: signing_alg("--userinfo-alg", args.userinfo_alg.as_deref())?,
            introspection_signed_response_alg: signing_alg("--introspection-alg", args.introspection_alg.as_deref())?,
            allowed_resources: args.resources,
        },
        ..ClientMetadata::default()
    };
    if native {
        metadata.descriptive.application_type = Some("native".into());
    }
    let mut client = register(&metadata, id, now()).map_err(|e| option_named(&e.description))?;
    // `--scope` refuses a person's scope (registration drops it instead).
    client.scopes = registered_scopes(&args.scopes).map_err(|e| format!("--scope: {}", e.description))?;
    client.first_party = args.first_party;
    // The legacy API's token answer always carries a refresh token.
    if args.legacy && !client.grant_types.contains(&GrantType::RefreshToken) {
        return Err("a --legacy client needs the refresh_token grant (the legacy token answer carries one)".into());
    }
    client.legacy = args.legacy;
    crate::sector::check_sector_identifier(outbound, &client).map_err(|e| option_named(&e.description))?;
    let secret = client.needs_secret().then(|| args.secret.unwrap_or_else(random_secret));
    if let Some(secret) = &secret {
        client.provision_secret(secret, &yagona_oidc::ClientSecretVerifier::default(), kek).map_err(text)?;
    }
    Ok((client, secret))
}

/// An optional signing algorithm given as `option`.
fn signing_alg(option: &str, value: Option<&str>) -> Result<Option<SigningAlg>, String> {
    value.map(SigningAlg::try_from).transpose().map_err(|e| format!("{option}: {}", e.description))
}

/// A registration error in the command line's words: metadata field names become options.
fn option_named(description: &str) -> String {
    // Longer names first, each through a marker, so `jwks` never rewrites inside `jwks_uri`.
    const NAMES: [(&str, &str); 18] = [
        ("frontchannel_logout_session_required", "--frontchannel-logout-session-required"),
        ("backchannel_logout_session_required", "--backchannel-logout-session-required"),
        ("introspection_signed_response_alg", "--introspection-alg"),
        ("require_signed_request_object", "--require-signed-request-object"),
        ("userinfo_signed_response_alg", "--userinfo-alg"),
        ("backchannel_logout_uri", "--backchannel-logout-uri"),
        ("frontchannel_logout_uri", "--frontchannel-logout-uri"),
        ("sector_identifier_uri", "--sector-identifier-uri"),
        ("allowed_resources", "--resource"),
        ("subject_type", "--subject-type"),
        ("post_logout_redirect_uris", "--post-logout-redirect-uri"),
        ("redirect_uris", "--redirect-uri"),
        ("token_endpoint_auth_method", "--auth-method"),
        ("grant_types", "--grant-type"),
        ("id_token_signed_response_alg", "--id-token-alg"),
        ("access_token_format", "--access-token-format"),
        ("jwks_uri", "--jwks-uri"),
        ("jwks", "--jwks-file"),
    ];
    let marked = NAMES
        .iter()
        .enumerate()
        .fold(description.to_owned(), |text, (i, (field, _))| text.replace(field, &format!("\u{0}{i}\u{0}")));
    NAMES.iter().enumerate().fold(marked, |text, (i, (_, option))| text.replace(&format!("\u{0}{i}\u{0}"), option))
}

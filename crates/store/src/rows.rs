//! Rows as stored, and their conversion to and from domain values. Conversions from rows are
//! fallible: a row that no longer parses is reported as corrupt, never unwrapped.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use diesel::prelude::*;
use yagona_account::eds::BoundCertificate;
use yagona_account::registration::Registration;
use yagona_account::{Account, AccountId, AccountStatus, BirthDate, Login, PassportNumber, PasswordHash, Pinfl};
use yagona_oidc::keys::{KeyState, SigningAlg, StoredKey};
use yagona_oidc::{
    AccessTokenFormat, AuthContext, AuthMethod, AuthorizationCode, Client, ClientId, ClientKeys, CodeChallenge,
    Consent, Grant, GrantType, Interaction, LoginEvent, RedirectUri, RefreshToken, Scopes, SealedSecret, Session,
};

use crate::schema::*;
use crate::StoreError;

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain strings and vectors of them cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

// `treat_none_as_default_value = false`: `None` is written as NULL (no nullable column has
// another default), which lets PostgreSQL's `COPY` take these rows (the bench seeder,
// `seed.rs`) and SQLite batch them into one multi-row INSERT.
#[derive(Queryable, Insertable)]
#[diesel(table_name = accounts, treat_none_as_default_value = false)]
pub struct AccountRow {
    pub id: String,
    pub login: String,
    pub pinfl: String,
    pub password_hash: String,
    pub surname: String,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub birth_date: String,
    pub passport_number: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: String,
    pub created_at: i64,
}

impl From<&Account> for AccountRow {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.as_str().to_owned(),
            login: a.login.as_str().to_owned(),
            pinfl: a.pinfl.as_str().to_owned(),
            password_hash: a.password_hash.as_phc().to_owned(),
            surname: a.surname.clone(),
            first_name: a.first_name.clone(),
            middle_name: a.middle_name.clone(),
            birth_date: a.birth_date.to_string(),
            passport_number: a.passport_number.as_ref().map(|p| p.as_str().to_owned()),
            email: a.email.clone(),
            phone: a.phone.clone(),
            status: a.status.as_str().to_owned(),
            created_at: a.created_at,
        }
    }
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self, StoreError> {
        let what = "account";
        Ok(Account {
            id: AccountId::from_stored(r.id),
            login: Login::try_from(r.login).map_err(|e| corrupt(what, e))?,
            pinfl: Pinfl::try_from(r.pinfl).map_err(|e| corrupt(what, e))?,
            password_hash: PasswordHash::from_phc(r.password_hash),
            surname: r.surname,
            first_name: r.first_name,
            middle_name: r.middle_name,
            birth_date: BirthDate::try_from(r.birth_date.as_str()).map_err(|e| corrupt(what, e))?,
            passport_number: r
                .passport_number
                .map(PassportNumber::try_from)
                .transpose()
                .map_err(|e| corrupt(what, e))?,
            email: r.email,
            phone: r.phone,
            status: AccountStatus::try_from(r.status.as_str()).map_err(|e| corrupt(what, e))?,
            created_at: r.created_at,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = clients, treat_none_as_default_value = false)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub first_party: bool,
    pub id_token_signing_alg: String,
    pub created_at: i64,
    pub access_token_format: String,
    pub scopes: String,
    pub legacy: bool,
    pub token_endpoint_auth_method: String,
    pub sealed_secret: Option<String>,
    pub registration_access_token_hash: Option<String>,
    pub metadata: String,
}

/// `clients.metadata`: what of a client no query filters by. Fields added later are optional
/// (`serde(default)`), so older rows read as before.
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
struct StoredMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    require_pushed_authorization_requests: bool,
    require_signed_request_object: bool,
    #[serde(flatten)]
    descriptive: yagona_oidc::DescriptiveMetadata,
    #[serde(flatten)]
    token: yagona_oidc::client::TokenMetadata,
}

impl From<&Client> for ClientRow {
    fn from(c: &Client) -> Self {
        Self {
            id: c.id.as_str().to_owned(),
            name: c.name.clone(),
            secret_hash: c.secret_hash.clone(),
            redirect_uris: json(&c.redirect_uris),
            post_logout_redirect_uris: json(&c.post_logout_redirect_uris),
            grant_types: json(&c.grant_types),
            first_party: c.first_party,
            id_token_signing_alg: c.id_token_signing_alg.as_str().to_owned(),
            created_at: c.created_at,
            access_token_format: c.access_token_format.as_str().to_owned(),
            scopes: c.scopes.to_string(),
            legacy: c.legacy,
            token_endpoint_auth_method: c.auth_method.as_str().to_owned(),
            sealed_secret: c.sealed_secret.as_ref().map(|s| format!("{}:{}", s.kek_id, STANDARD.encode(&s.sealed))),
            registration_access_token_hash: c.registration_access_token_hash.clone(),
            metadata: json(&StoredMetadata {
                jwks: match &c.keys {
                    ClientKeys::Jwks(jwks) => Some(jwks.clone()),
                    _ => None,
                },
                jwks_uri: match &c.keys {
                    ClientKeys::JwksUri(uri) => Some(uri.clone()),
                    _ => None,
                },
                require_pushed_authorization_requests: c.require_pushed_authorization_requests,
                require_signed_request_object: c.require_signed_request_object,
                descriptive: c.descriptive.clone(),
                token: c.token_metadata.clone(),
            }),
        }
    }
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, StoreError> {
        let what = "client";
        let metadata: StoredMetadata = from_json(what, &r.metadata)?;
        Ok(Client {
            id: ClientId::try_from(r.id).map_err(|e| corrupt(what, e))?,
            name: r.name,
            secret_hash: r.secret_hash,
            redirect_uris: from_json::<Vec<RedirectUri>>(what, &r.redirect_uris)?,
            post_logout_redirect_uris: from_json::<Vec<RedirectUri>>(what, &r.post_logout_redirect_uris)?,
            grant_types: from_json::<Vec<GrantType>>(what, &r.grant_types)?,
            first_party: r.first_party,
            id_token_signing_alg: SigningAlg::try_from(r.id_token_signing_alg.as_str())
                .map_err(|e| corrupt(what, e))?,
            created_at: r.created_at,
            access_token_format: AccessTokenFormat::try_from(r.access_token_format.as_str())
                .map_err(|e| corrupt(what, e))?,
            scopes: Scopes::try_from(r.scopes).map_err(|e| corrupt(what, e))?,
            legacy: r.legacy,
            auth_method: AuthMethod::try_from(r.token_endpoint_auth_method.as_str()).map_err(|e| corrupt(what, e))?,
            keys: match (metadata.jwks, metadata.jwks_uri) {
                (Some(jwks), _) => ClientKeys::Jwks(jwks),
                (None, Some(uri)) => ClientKeys::JwksUri(uri),
                (None, None) => ClientKeys::None,
            },
            sealed_secret: r
                .sealed_secret
                .map(|text| {
                    let (kek_id, sealed) = text.split_once(':').ok_or_else(|| corrupt(what, "sealed secret"))?;
                    let sealed = STANDARD.decode(sealed).map_err(|e| corrupt(what, e))?;
                    Ok::<_, StoreError>(SealedSecret { kek_id: kek_id.to_owned(), sealed })
                })
                .transpose()?,
            require_pushed_authorization_requests: metadata.require_pushed_authorization_requests,
            require_signed_request_object: metadata.require_signed_request_object,
            registration_access_token_hash: r.registration_access_token_hash,
            descriptive: metadata.descriptive,
            token_metadata: metadata.token,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub sealed_private_key: Vec<u8>,
    pub kek_id: String,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub activates_at: i64,
}

impl From<&StoredKey> for KeyRow {
    fn from(k: &StoredKey) -> Self {
        Self {
            kid: k.kid.clone(),
            alg: k.alg.as_str().to_owned(),
            state: k.state.as_str().to_owned(),
            sealed_private_key: k.sealed_private_key.clone(),
            kek_id: k.kek_id.clone(),
            public_jwk: k.public_jwk.clone(),
            created_at: k.created_at,
            retired_at: k.retired_at,
            activates_at: k.activates_at,
        }
    }
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        Ok(StoredKey {
            alg: SigningAlg::try_from(r.alg.as_str()).map_err(|e| corrupt("key", e))?,
            state: KeyState::try_from(r.state.as_str()).map_err(|e| corrupt("key", e))?,
            kid: r.kid,
            sealed_private_key: r.sealed_private_key,
            kek_id: r.kek_id,
            public_jwk: r.public_jwk,
            created_at: r.created_at,
            activates_at: r.activates_at,
            retired_at: r.retired_at,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
pub struct SessionRow {
    pub id_hash: String,
    pub sid: String,
    pub account_id: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub address: String,
    pub acting_as: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<String>,
}

impl From<&Session> for SessionRow {
    fn from(s: &Session) -> Self {
        Self {
            id_hash: s.id_hash.clone(),
            sid: s.sid.clone(),
            account_id: s.account_id.as_str().to_owned(),
            auth_time: s.auth.auth_time,
            acr: s.auth.acr.clone(),
            amr: json(&s.auth.amr),
            address: s.address.clone(),
            acting_as: s.acting_as.as_ref().map(json),
            created_at: s.created_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent.clone(),
        }
    }
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            id_hash: r.id_hash,
            sid: r.sid,
            account_id: AccountId::from_stored(r.account_id),
            auth: AuthContext { auth_time: r.auth_time, acr: r.acr, amr: from_json("session", &r.amr)? },
            address: r.address,
            acting_as: r.acting_as.map(|a| from_json("session", &a)).transpose()?,
            created_at: r.created_at,
            expires_at: r.expires_at,
            user_agent: r.user_agent,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = interactions)]
pub struct InteractionRow {
    pub id_hash: String,
    pub browser_hash: String,
    pub request: String,
    pub login_done: bool,
    pub consent_done: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<&Interaction> for InteractionRow {
    fn from(i: &Interaction) -> Self {
        Self {
            id_hash: i.id_hash.clone(),
            browser_hash: i.browser_hash.clone(),
            request: json(&i.request),
            login_done: i.login_done,
            consent_done: i.consent_done,
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

impl TryFrom<InteractionRow> for Interaction {
    type Error = StoreError;
    fn try_from(r: InteractionRow) -> Result<Self, StoreError> {
        Ok(Interaction {
            id_hash: r.id_hash,
            browser_hash: r.browser_hash,
            request: from_json("interaction", &r.request)?,
            login_done: r.login_done,
            consent_done: r.consent_done,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = consents, treat_none_as_default_value = false)]
pub struct ConsentRow {
    pub account_id: String,
    pub client_id: String,
    pub scopes: String,
    pub granted_at: i64,
}

impl From<&Consent> for ConsentRow {
    fn from(c: &Consent) -> Self {
        Self {
            account_id: c.account_id.as_str().to_owned(),
            client_id: c.client_id.as_str().to_owned(),
            scopes: c.scopes.to_string(),
            granted_at: c.granted_at,
        }
    }
}

impl TryFrom<ConsentRow> for Consent {
    type Error = StoreError;
    fn try_from(r: ConsentRow) -> Result<Self, StoreError> {
        Ok(Consent {
            account_id: AccountId::from_stored(r.account_id),
            client_id: ClientId::try_from(r.client_id).map_err(|e| corrupt("consent", e))?,
            scopes: Scopes::try_from(r.scopes).map_err(|e| corrupt("consent", e))?,
            granted_at: r.granted_at,
        })
    }
}

#[derive(Queryable, QueryableByName, Insertable)]
#[diesel(table_name = grants, treat_none_as_default_value = false)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub account_id: String,
    pub sid: String,
    pub scopes: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub acting_as: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The membership the grant acts under (TIN and role; the account is the grant's), only for
    /// scope `legal`: every use of the grant checks it is live (architecture.md, "Live
    /// memberships").
    pub acting_tin: Option<String>,
    pub acting_role: Option<String>,
    /// The resources named at /authorize (RFC 8707), a JSON array.
    pub resources: String,
}

impl GrantRow {
    pub fn new(g: &Grant, expires_at: i64) -> Self {
        Self {
            id: g.id.clone(),
            client_id: g.client_id.as_str().to_owned(),
            account_id: g.account_id.as_str().to_owned(),
            sid: g.sid.clone(),
            scopes: g.scopes.to_string(),
            auth_time: g.auth.auth_time,
            acr: g.auth.acr.clone(),
            amr: json(&g.auth.amr),
            acting_as: g.acting_as.as_ref().map(json),
            created_at: g.created_at,
            expires_at,
            revoked_at: g.revoked_at,
            acting_tin: g.acting_membership().map(|(tin, _)| tin.to_owned()),
            acting_role: g.acting_membership().map(|(_, role)| role.to_owned()),
            resources: json(&g.resources),
        }
    }
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<Self, StoreError> {
        Ok(Grant {
            id: r.id,
            client_id: ClientId::try_from(r.client_id).map_err(|e| corrupt("grant", e))?,
            account_id: AccountId::from_stored(r.account_id),
            sid: r.sid,
            scopes: Scopes::try_from(r.scopes).map_err(|e| corrupt("grant", e))?,
            auth: AuthContext { auth_time: r.auth_time, acr: r.acr, amr: from_json("grant", &r.amr)? },
            acting_as: r.acting_as.map(|a| from_json("grant", &a)).transpose()?,
            resources: from_json("grant", &r.resources)?,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct CodeRow {
    pub hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub dpop_jkt: Option<String>,
}

impl From<&AuthorizationCode> for CodeRow {
    fn from(c: &AuthorizationCode) -> Self {
        Self {
            hash: c.hash.clone(),
            grant_id: c.grant_id.clone(),
            client_id: c.client_id.as_str().to_owned(),
            redirect_uri: c.redirect_uri.as_str().to_owned(),
            code_challenge: c.code_challenge.clone().map(String::from),
            nonce: c.nonce.clone(),
            expires_at: c.expires_at,
            consumed_at: None,
            dpop_jkt: c.dpop_jkt.clone(),
        }
    }
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = StoreError;
    fn try_from(r: CodeRow) -> Result<Self, StoreError> {
        let what = "authorization code";
        Ok(AuthorizationCode {
            hash: r.hash,
            grant_id: r.grant_id,
            client_id: ClientId::try_from(r.client_id).map_err(|e| corrupt(what, e))?,
            redirect_uri: RedirectUri::try_from(r.redirect_uri).map_err(|e| corrupt(what, e))?,
            code_challenge: r.code_challenge.map(CodeChallenge::try_from).transpose().map_err(|e| corrupt(what, e))?,
            nonce: r.nonce,
            expires_at: r.expires_at,
            dpop_jkt: r.dpop_jkt,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = refresh_tokens, treat_none_as_default_value = false)]
pub struct RefreshRow {
    pub hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl From<&RefreshToken> for RefreshRow {
    fn from(t: &RefreshToken) -> Self {
        Self {
            hash: t.hash.clone(),
            grant_id: t.grant_id.clone(),
            client_id: t.client_id.as_str().to_owned(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            used_at: None,
        }
    }
}

impl TryFrom<RefreshRow> for RefreshToken {
    type Error = StoreError;
    fn try_from(r: RefreshRow) -> Result<Self, StoreError> {
        Ok(RefreshToken {
            hash: r.hash,
            grant_id: r.grant_id,
            client_id: ClientId::try_from(r.client_id).map_err(|e| corrupt("refresh token", e))?,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = registrations)]
pub struct RegistrationRow {
    pub id_hash: String,
    pub browser_hash: String,
    pub draft: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<&Registration> for RegistrationRow {
    fn from(r: &Registration) -> Self {
        Self {
            id_hash: r.id_hash.clone(),
            browser_hash: r.browser_hash.clone(),
            draft: json(&r.draft),
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

impl TryFrom<RegistrationRow> for Registration {
    type Error = StoreError;
    fn try_from(r: RegistrationRow) -> Result<Self, StoreError> {
        Ok(Registration {
            id_hash: r.id_hash,
            browser_hash: r.browser_hash,
            draft: from_json("registration", &r.draft)?,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = login_events, treat_none_as_default_value = false)]
pub struct LoginEventRow {
    pub id: String,
    pub account_id: String,
    pub at: i64,
    pub method: String,
    pub client_id: Option<String>,
    pub address: String,
}

impl TryFrom<LoginEventRow> for LoginEvent {
    type Error = StoreError;
    fn try_from(r: LoginEventRow) -> Result<Self, StoreError> {
        Ok(LoginEvent {
            account_id: AccountId::from_stored(r.account_id),
            at: r.at,
            method: r.method,
            client_id: r.client_id.map(ClientId::try_from).transpose().map_err(|e| corrupt("login event", e))?,
            address: r.address,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = certificates, treat_none_as_default_value = false)]
pub struct CertificateRow {
    pub serial: String,
    pub issuer: String,
    pub account_id: String,
    pub pinfl: String,
    pub common_name: String,
    pub valid_to: i64,
    pub bound_at: i64,
}

impl From<&BoundCertificate> for CertificateRow {
    fn from(c: &BoundCertificate) -> Self {
        Self {
            serial: c.serial.clone(),
            issuer: c.issuer.clone(),
            account_id: c.account_id.as_str().to_owned(),
            pinfl: c.pinfl.as_str().to_owned(),
            common_name: c.common_name.clone(),
            valid_to: c.valid_to,
            bound_at: c.bound_at,
        }
    }
}

impl TryFrom<CertificateRow> for BoundCertificate {
    type Error = StoreError;
    fn try_from(r: CertificateRow) -> Result<Self, StoreError> {
        Ok(BoundCertificate {
            serial: r.serial,
            issuer: r.issuer,
            account_id: AccountId::from_stored(r.account_id),
            pinfl: Pinfl::try_from(r.pinfl).map_err(|e| corrupt("certificate", e))?,
            common_name: r.common_name,
            valid_to: r.valid_to,
            bound_at: r.bound_at,
        })
    }
}

//! The records an authorization leaves behind: the browser session, the grant (what a person
//! allowed a client), its code and refresh tokens, and consent.

use serde::{Deserialize, Serialize};
use yagona_account::{Account, AccountId, AccountStatus};

use crate::assurance::{Loa, ACR_HIGH, ACR_LOW, ACR_SUBSTANTIAL};
use crate::{ClientId, CodeChallenge, RedirectUri, Scopes};

/// How a person authenticated: `acr`, `amr` (RFC 8176) and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthContext {
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
}

impl AuthContext {
    /// A password login: `low` for an unconfirmed account, `substantial` for an EDS-confirmed one.
    pub fn password(account: &Account, now: i64) -> Self {
        let acr = if account.status == AccountStatus::Confirmed { ACR_SUBSTANTIAL } else { ACR_LOW };
        Self { auth_time: now, acr: acr.to_owned(), amr: vec!["pwd".to_owned()] }
    }

    /// A login by signing with an EDS key file (`swk`, RFC 8176): the highest assurance.
    pub fn eds(now: i64) -> Self {
        Self { auth_time: now, acr: ACR_HIGH.to_owned(), amr: vec!["swk".to_owned()] }
    }

    /// The level this login reached (a stored value Yagona does not know counts as `low`).
    pub fn loa(&self) -> Loa {
        Loa::from_acr(&self.acr).unwrap_or(Loa::Low)
    }

    /// Whether this login reached the level a request demands (`None`: any).
    pub fn meets(&self, required: Option<Loa>) -> bool {
        required.is_none_or(|level| self.loa() >= level)
    }
}

/// Whom a person acts for in a session (user guide step 8), chosen after login and fixed for the
/// session: changing it needs a new login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActingAs {
    Individual,
    LegalEntity { tin: String, name: String, short_name: String, role: String },
}

impl ActingAs {
    /// The form value of the "act as" page: `individual` or `legal:<TIN>:<role>`.
    pub fn form_value(&self) -> String {
        match self {
            Self::Individual => "individual".into(),
            Self::LegalEntity { tin, role, .. } => format!("legal:{tin}:{role}"),
        }
    }
}

/// A browser session. The cookie holds a random secret; the row is keyed by its hash. `sid` is
/// the public session id put in ID tokens (OIDC Front-Channel/Back-Channel Logout).
#[derive(Debug, Clone)]
pub struct Session {
    pub id_hash: String,
    pub sid: String,
    pub account_id: AccountId,
    pub auth: AuthContext,
    /// The client address the person logged in from.
    pub address: String,
    /// Whom the person acts for, once chosen.
    pub acting_as: Option<ActingAs>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The browser's `User-Agent` at login (at most 256 characters), for the person's session list.
    pub user_agent: Option<String>,
}

/// A successful login, for the person's history in the cabinet.
#[derive(Debug, Clone)]
pub struct LoginEvent {
    pub account_id: AccountId,
    pub at: i64,
    /// `password`, later `eds`.
    pub method: String,
    pub client_id: Option<ClientId>,
    pub address: String,
}

/// A remembered consent: the scopes a person allowed a client.
#[derive(Debug, Clone)]
pub struct Consent {
    pub account_id: AccountId,
    pub client_id: ClientId,
    pub scopes: Scopes,
    pub granted_at: i64,
}

/// What a person (or, for `client_credentials`, a client on its own behalf) allowed a client.
/// Every code, refresh token and access token belongs to one grant; revoking the grant revokes
/// them all (code reuse, refresh-token reuse, logout).
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub client_id: ClientId,
    pub account_id: AccountId,
    pub sid: String,
    pub scopes: Scopes,
    pub auth: AuthContext,
    /// Whom the person acted for when granting (from the session).
    pub acting_as: Option<ActingAs>,
    /// The resources named at /authorize (RFC 8707): the only ones a token request of this grant
    /// may name.
    pub resources: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl Grant {
    /// The membership (TIN, role) the grant acts under, if any: only a grant with scope `legal`
    /// releases legal claims, so only such a grant depends on the membership staying live.
    pub fn acting_membership(&self) -> Option<(&str, &str)> {
        match &self.acting_as {
            Some(ActingAs::LegalEntity { tin, role, .. }) if self.scopes.contains("legal") => Some((tin, role)),
            _ => None,
        }
    }

    /// Offline access (OIDC Core 11) outlives the browser session it was granted in; every other
    /// grant ends with it (logout, expiry, ended from the cabinet).
    pub fn outlives_session(&self) -> bool {
        self.scopes.contains("offline_access")
    }
}

/// An authorization code as stored (hash only).
#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    pub hash: String,
    pub grant_id: String,
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub code_challenge: Option<CodeChallenge>,
    pub nonce: Option<String>,
    pub expires_at: i64,
    /// The DPoP key thumbprint the code is bound to (RFC 9449 10), if the request named one.
    pub dpop_jkt: Option<String>,
}

/// A refresh token as stored (hash only). Rotation marks it used; using a used one is reuse.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub hash: String,
    pub grant_id: String,
    pub client_id: ClientId,
    pub created_at: i64,
    pub expires_at: i64,
}

//! The tokens Yagona issues: ID tokens (OIDC Core 2), JWT access tokens (RFC 9068) and the token
//! response (RFC 6749 5.1).
//!
//! Access tokens are JWTs signed like ID tokens (`typ: at+jwt`), so resource servers can verify
//! them offline with the JWKS, or, for clients registered so, opaque handles whose claims are
//! stored (hashed token as the key) and read back at userinfo and introspection. Each carries
//! `jti` and, when a person granted it, `gid`: the grant id. Revocation works on both: `revoke`
//! lists the `jti`, and revoking the grant (logout, code or refresh-token reuse) refuses every
//! token carrying its `gid` at userinfo and introspection.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use yagona_account::Account;

use crate::claims::user_claims;
use crate::grant::Grant;
use crate::keys::{KeyRing, SigningAlg, VerifyOptions};
use crate::secrets::{left_half_hash, random_id};
use crate::{AccessTokenFormat, Client, ClientId, Lifetimes, OAuthError, Scopes};

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
pub const ID_TOKEN_TYP: &str = "JWT";
/// RFC 9701 5: the `typ` of a signed introspection response, and its media type.
pub const INTROSPECTION_TYP: &str = "token-introspection+jwt";
pub const INTROSPECTION_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// The claims of a JWT access token (RFC 9068 2.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    /// The resource it is for (RFC 8707), or else the client it was issued to; only the latter
    /// opens Yagona's userinfo.
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub amr: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    /// The grant the token belongs to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gid: Option<String>,
    /// The key the token is bound to (DPoP, RFC 9449 6.1): only a request with a proof of that
    /// key may use it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cnf: Option<Confirmation>,
    /// Scope `legal`: `user_type`, `legal_entity`, `roles`.
    #[serde(flatten, default)]
    pub acting: Map<String, Value>,
}

/// What an opaque access token of a person's grant adds to its grant, the part stored with the
/// token beside its `jti`, expiry and grant id. The rest of its claims (`sub`, `client_id`,
/// `auth_time`, `acr`, `amr`, `sid`, the acting claims) are the grant's, which does not change
/// after it is made (only its expiry and revocation do), so they are read from the grant rather
/// than stored again with every token: the row is a third of the size, which is what decides
/// whether ten million people's tokens stay in memory (docs/performance.md, "Cost as data grows").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantTokenPart {
    pub iat: i64,
    pub scope: String,
    /// The resource the token is for (RFC 8707); `None`: the client itself.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cnf: Option<Confirmation>,
}

/// An unexpired opaque access token as the store finds it.
#[derive(Debug, Clone)]
pub enum StoredAccessToken {
    /// A person's token: its grant (revoked or not), what the token adds to it, and the grant's
    /// account when the token is live, read in the same statement: the grant not revoked, the
    /// membership it acts under live, the token not revoked (`None` otherwise: the account
    /// itself may still be disabled, which its status says).
    OfGrant { jti: String, exp: i64, part: GrantTokenPart, grant: Grant, live_account: Option<Box<Account>> },
    /// A client's own token (`client_credentials`), or one stored before tokens kept only
    /// their part: the whole claims.
    Claims(AccessTokenClaims),
}

/// A token's confirmation claim (RFC 7800, RFC 9449 6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The JWK SHA-256 thumbprint (RFC 7638) of the DPoP key.
    pub jkt: String,
}

impl AccessTokenClaims {
    /// The DPoP key thumbprint the token is bound to, if any.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.jkt.as_str())
    }

    /// How an opaque token with these claims is stored: a person's token as its grant id and
    /// [`GrantTokenPart`]; `None` for a client's own token, stored whole.
    pub fn grant_part(&self) -> Option<(&str, GrantTokenPart)> {
        let gid = self.gid.as_deref()?;
        Some((
            gid,
            GrantTokenPart {
                iat: self.iat,
                scope: self.scope.clone(),
                aud: (self.aud != self.client_id).then(|| self.aud.clone()),
                cnf: self.cnf.clone(),
            },
        ))
    }

    /// `token_type` of the token (RFC 9449 5: `DPoP` for a bound one).
    pub fn token_type(&self) -> &'static str {
        if self.cnf.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }
}

/// The claims Yagona reads back from an ID token it issued (`id_token_hint`).
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: Audience,
    #[serde(default)]
    pub sid: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, client: &str) -> bool {
        match self {
            Self::One(a) => a == client,
            Self::Many(all) => all.iter().any(|a| a == client),
        }
    }
    /// The client the token was issued to, when there is exactly one.
    pub fn single(&self) -> Option<&str> {
        match self {
            Self::One(a) => Some(a),
            Self::Many(all) if all.len() == 1 => Some(&all[0]),
            Self::Many(_) => None,
        }
    }
}

/// What an access token is bound to beyond its grant: a DPoP key (RFC 9449) and the resource it
/// is for (RFC 8707; `None`: the client itself).
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessTokenBinding<'a> {
    pub dpop_jkt: Option<&'a str>,
    pub audience: Option<&'a str>,
}

/// Issues tokens for one issuer with its keys and lifetimes.
pub struct TokenIssuer<'a> {
    pub issuer: &'a str,
    pub lifetimes: &'a Lifetimes,
    pub keys: &'a KeyRing,
    /// Public or pairwise `sub` per client (OIDC Core 8).
    pub subjects: &'a crate::subject::Subjects,
}

/// An access token with the claims it carries: a signed JWT, or an opaque handle whose claims
/// the caller stores (under the token's hash) before handing the token out.
pub struct AccessToken {
    pub token: String,
    pub claims: AccessTokenClaims,
    pub format: AccessTokenFormat,
}

impl TokenIssuer<'_> {
    /// An access token for a person's grant, bound to the DPoP key `dpop_jkt` if any.
    pub fn access_token_for_grant(
        &self,
        client: &Client,
        grant: &Grant,
        scopes: &Scopes,
        binding: AccessTokenBinding<'_>,
        now: i64,
    ) -> Result<AccessToken, OAuthError> {
        let part = GrantTokenPart {
            iat: now,
            scope: scopes.to_string(),
            aud: binding.audience.map(str::to_owned),
            cnf: binding.dpop_jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
        };
        let claims =
            self.grant_access_claims(client, grant, scopes, random_id(), now + self.lifetimes.access_token, part);
        self.make_access_token(claims, client.access_token_format)
    }

    /// The claims of a grant's opaque access token read back from its stored form (see
    /// [`GrantTokenPart`]): the very claims [`Self::access_token_for_grant`] made, since a grant
    /// does not change after it is made but for its expiry and revocation.
    pub fn stored_grant_access_claims(
        &self,
        client: &Client,
        grant: &Grant,
        jti: String,
        exp: i64,
        part: GrantTokenPart,
    ) -> Result<AccessTokenClaims, OAuthError> {
        let scopes = Scopes::try_from(part.scope.as_str())
            .map_err(|e| OAuthError::server_error(format!("stored access token scope: {}", e.description)))?;
        Ok(self.grant_access_claims(client, grant, &scopes, jti, exp, part))
    }

    /// One place that says what a grant's access token claims: at issuance and when an opaque
    /// token's stored form is read back.
    fn grant_access_claims(
        &self,
        client: &Client,
        grant: &Grant,
        scopes: &Scopes,
        jti: String,
        exp: i64,
        part: GrantTokenPart,
    ) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: self.issuer.to_owned(),
            sub: self.subjects.subject(client, grant.account_id.as_str()),
            aud: part.aud.unwrap_or_else(|| grant.client_id.as_str().to_owned()),
            client_id: grant.client_id.as_str().to_owned(),
            exp,
            iat: part.iat,
            jti,
            scope: part.scope,
            auth_time: Some(grant.auth.auth_time),
            acr: Some(grant.auth.acr.clone()),
            amr: Some(grant.auth.amr.clone()),
            sid: Some(grant.sid.clone()),
            gid: Some(grant.id.clone()),
            cnf: part.cnf,
            acting: crate::claims::acting_claims(grant.acting_as.as_ref(), scopes),
        }
    }

    /// An access token for a client acting on its own behalf (`client_credentials`), bound to
    /// the DPoP key `dpop_jkt` if any.
    pub fn access_token_for_client(
        &self,
        client: &ClientId,
        scopes: &Scopes,
        format: AccessTokenFormat,
        binding: AccessTokenBinding<'_>,
        now: i64,
    ) -> Result<AccessToken, OAuthError> {
        let dpop_jkt = binding.dpop_jkt;
        let claims = AccessTokenClaims {
            iss: self.issuer.to_owned(),
            sub: client.as_str().to_owned(),
            aud: binding.audience.unwrap_or(client.as_str()).to_owned(),
            client_id: client.as_str().to_owned(),
            exp: now + self.lifetimes.access_token,
            iat: now,
            jti: random_id(),
            scope: scopes.to_string(),
            auth_time: None,
            acr: None,
            amr: None,
            sid: None,
            gid: None,
            cnf: dpop_jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
            acting: Map::new(),
        };
        self.make_access_token(claims, format)
    }

    fn make_access_token(
        &self,
        claims: AccessTokenClaims,
        format: AccessTokenFormat,
    ) -> Result<AccessToken, OAuthError> {
        let token = match format {
            AccessTokenFormat::Jwt => self.keys.sign(SigningAlg::Rs256, ACCESS_TOKEN_TYP, &claims)?,
            AccessTokenFormat::Opaque => crate::secrets::random_token(),
        };
        Ok(AccessToken { token, claims, format })
    }

    /// An ID token for `account` under `grant`, bound to `access_token` by `at_hash`, with the
    /// claims `scopes` release: the grant's, or fewer when a refresh narrowed them.
    #[allow(clippy::too_many_arguments)]
    pub fn id_token(
        &self,
        client: &Client,
        account: &Account,
        grant: &Grant,
        scopes: &Scopes,
        nonce: Option<&str>,
        access_token: &str,
        now: i64,
    ) -> Result<String, OAuthError> {
        let mut claims: Map<String, Value> = Map::new();
        claims.insert("iss".into(), self.issuer.into());
        claims.insert("sub".into(), self.subjects.subject(client, account.id.as_str()).into());
        claims.insert("aud".into(), client.id.as_str().into());
        claims.insert("azp".into(), client.id.as_str().into());
        claims.insert("exp".into(), (now + self.lifetimes.id_token).into());
        claims.insert("iat".into(), now.into());
        claims.insert("auth_time".into(), grant.auth.auth_time.into());
        claims.insert("acr".into(), grant.auth.acr.clone().into());
        claims.insert("amr".into(), grant.auth.amr.clone().into());
        claims.insert("sid".into(), grant.sid.clone().into());
        claims.insert("at_hash".into(), left_half_hash(access_token, client.id_token_signing_alg).into());
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), nonce.into());
        }
        claims.extend(user_claims(account, scopes));
        claims.extend(crate::claims::acting_claims(grant.acting_as.as_ref(), scopes));
        self.keys.sign(client.id_token_signing_alg, ID_TOKEN_TYP, &claims)
    }

    /// A signed userinfo response (OIDC Core 5.3.2): the claims with `iss` and `aud` added,
    /// signed with `alg`.
    pub fn signed_userinfo(
        &self,
        client: &Client,
        mut claims: Map<String, Value>,
        alg: SigningAlg,
    ) -> Result<String, OAuthError> {
        claims.insert("iss".into(), self.issuer.into());
        claims.insert("aud".into(), client.id.as_str().into());
        self.keys.sign(alg, ID_TOKEN_TYP, &claims)
    }

    /// A signed introspection response (RFC 9701 5): the RFC 7662 `response` as the
    /// `token_introspection` claim, for the calling client (`aud`), signed with `alg`. It has no
    /// `sub` or `exp` of its own, so it cannot pass for an access token (RFC 9701 8.1).
    pub fn signed_introspection(
        &self,
        client: &Client,
        response: Value,
        alg: SigningAlg,
        now: i64,
    ) -> Result<String, OAuthError> {
        let claims = serde_json::json!({
            "iss": self.issuer, "aud": client.id.as_str(), "iat": now, "token_introspection": response,
        });
        self.keys.sign(alg, INTROSPECTION_TYP, &claims)
    }

    /// Verifies an access token Yagona issued: signature, issuer, expiry and `typ`. Revocation is
    /// the caller's to check (it needs the database).
    pub fn verify_access_token(&self, token: &str) -> Result<AccessTokenClaims, OAuthError> {
        self.keys.verify(token, VerifyOptions { issuer: self.issuer, check_expiry: true, typ: Some(ACCESS_TOKEN_TYP) })
    }

    /// Verifies an `id_token_hint`: Yagona's signature and issuer, and an ID token's `typ` (an
    /// access token, which carries `sub` and `sid` too, is not a hint); it may have expired.
    pub fn verify_id_token_hint(&self, token: &str) -> Result<IdTokenHint, OAuthError> {
        self.keys
            .verify(token, VerifyOptions { issuer: self.issuer, check_expiry: false, typ: Some(ID_TOKEN_TYP) })
            .map_err(|_| OAuthError::invalid_request("id_token_hint is not an ID token issued here"))
    }
}

use std::borrow::Cow;
use std::fmt;

/// The error codes of RFC 6749 (4.1.2.1, 5.2), RFC 6750 (3.1), RFC 7009, OpenID Connect
/// Core (3.1.2.6) and OpenID Connect Core Unmet Authentication Requirements 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    InvalidToken,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
    /// The login cannot reach the level of assurance the request demands.
    UnmetAuthenticationRequirements,
    /// RFC 7591 3.2.2: a redirect URI in the client metadata is not acceptable.
    InvalidRedirectUri,
    /// RFC 7591 3.2.2: some other client metadata is not acceptable.
    InvalidClientMetadata,
    /// RFC 9101 6.1 / OIDC Core 6.3: the request object is invalid.
    InvalidRequestObject,
    /// RFC 9126 / OIDC Core 6.3: the request_uri is invalid (unknown, spent, expired, another client's).
    InvalidRequestUri,
    /// A DPoP proof is missing, malformed or does not match the request (RFC 9449 5, 7.1).
    InvalidDpopProof,
    /// The DPoP proof must carry the server's current nonce (RFC 9449 8).
    UseDpopNonce,
    /// RFC 8707 2: a `resource` the client may not name.
    InvalidTarget,
    /// Client authentication refused without a check: too many recent failures for the client
    /// or from the address. Sent as `invalid_client` (the client must not learn whether a
    /// secret would have been right), with HTTP 429 and `Retry-After`.
    InvalidClientThrottled,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidClientThrottled => "invalid_client",
        }
    }
}

/// A protocol error: a code from the RFCs and a description for the developer of the relying
/// party. For [`ErrorCode::ServerError`] the description is internal detail for the log and is
/// never sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self { code, description: description.into() }
    }
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }
    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidToken, description)
    }
    pub fn server_error(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::ServerError, detail)
    }
}

/// An account operation's failure where the protocol has no better word for it: a database
/// outage is `temporarily_unavailable` (503), anything else a server error whose detail is logged.
impl From<yagona_account::AccountError> for OAuthError {
    fn from(e: yagona_account::AccountError) -> Self {
        match e {
            yagona_account::AccountError::Unavailable => {
                Self::new(ErrorCode::TemporarilyUnavailable, "the service is temporarily unavailable; retry shortly")
            }
            other => Self::server_error(other.to_string()),
        }
    }
}

use thiserror::Error;

/// Storage failures. The domain crates see them as their own error kinds (a unique violation
/// becomes `LoginTaken`, anything else a server error whose detail goes to the log).
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database connection: {0}")]
    Connection(String),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration: {0}")]
    Migration(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database URL: {0}")]
    Url(String),
    /// A domain conflict found inside a transaction (rolls it back).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A domain rule refused the change inside a transaction (rolls it back); the domain sees
    /// the rule's own error.
    #[error("refused: {0}")]
    Refused(yagona_account::AccountError),
}

impl StoreError {
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Self::Query(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
        )
    }

    /// Whether the database could not be reached (no connection within the acquire timeout, or
    /// the connection was lost): a temporary condition, answered 503, not a server error.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Connection(_)
                | Self::Query(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ClosedConnection,
                    _
                ))
        )
    }

    /// The message of a database error (names the violated constraint).
    pub(crate) fn database_message(&self) -> String {
        match self {
            Self::Query(diesel::result::Error::DatabaseError(_, info)) => {
                format!("{} {}", info.message(), info.constraint_name().unwrap_or(""))
            }
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for yagona_oidc::OAuthError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(detail = %e, "database unavailable");
            return yagona_oidc::OAuthError::new(
                yagona_oidc::ErrorCode::TemporarilyUnavailable,
                "the service is temporarily unavailable; retry shortly",
            );
        }
        yagona_oidc::OAuthError::server_error(e.to_string())
    }
}

impl From<StoreError> for yagona_account::AccountError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Refused(e) = e {
            return e;
        }
        if e.is_unavailable() {
            tracing::warn!(detail = %e, "database unavailable");
            return yagona_account::AccountError::Unavailable;
        }
        yagona_account::AccountError::Storage(e.to_string())
    }
}

//! [`OidcRepository`] over the authorization server's tables.

use diesel::prelude::*;
use yagona_account::{Account, AccountId};
use yagona_oidc::keys::{KeyState, SigningAlg, StoredKey};
use yagona_oidc::secrets::random_id;
use yagona_oidc::tokens::AccessTokenClaims;
use yagona_oidc::{
    AuthorizationCode, Client, ClientId, CodeConsumption, Consent, Grant, Interaction, LoginEvent, OAuthError,
    OidcRepository, RefreshRotation, RefreshToken, Session,
};

use crate::connection::per_backend;
use crate::legal::{acting_membership_live, acting_membership_live_sql};
use crate::prepared::{Param, PreparedSql};
use crate::rows::*;
use crate::schema::*;
use crate::{DbConnection, Store, StoreError};

fn load_grant(conn: &mut DbConnection, id: &str) -> Result<Option<Grant>, StoreError> {
    per_backend!(conn, |c| grants::table.find(id).get_result::<GrantRow>(c).optional())?
        .map(Grant::try_from)
        .transpose()
}

/// Marks a grant revoked and deletes its refresh tokens, except the used ones kept for reuse
/// detection (they are refused anyway, their grant being revoked).
pub(crate) fn revoke_grant_in(conn: &mut DbConnection, id: &str, now: i64) -> Result<(), StoreError> {
    diesel::update(grants::table.find(id).filter(grants::revoked_at.is_null()))
        .set(grants::revoked_at.eq(Some(now)))
        .execute(conn)?;
    diesel::delete(
        refresh_tokens::table.filter(refresh_tokens::grant_id.eq(id)).filter(refresh_tokens::used_at.is_null()),
    )
    .execute(conn)?;
    Ok(())
}

/// Deletes a session and revokes the grants made in it, except offline access, which is meant to
/// outlive the browser session (OIDC Core 11).
pub(crate) fn end_session_in(
    conn: &mut DbConnection,
    id_hash: &str,
    now: i64,
) -> Result<Option<SessionRow>, StoreError> {
    // Write first (see rotate_refresh_token).
    let row = diesel::delete(sessions::table.find(id_hash))
        .returning(sessions::all_columns)
        .get_result::<SessionRow>(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let ids: Vec<String> = grants::table
        .filter(grants::sid.eq(&row.sid))
        .filter(grants::revoked_at.is_null())
        .filter(grants::scopes.not_like("%offline_access%"))
        .select(grants::id)
        .load(conn)?;
    for id in &ids {
        revoke_grant_in(conn, id, now)?;
    }
    Ok(Some(row))
}

/// Why a refresh token could not be spent: used before (reuse: the caller revokes the family),
/// or unknown, expired or another client's.
fn unspent_refresh_token(
    conn: &mut DbConnection,
    old_hash: &str,
    client: &ClientId,
) -> Result<RefreshRotation, StoreError> {
    let previous = refresh_tokens::table
        .find(old_hash)
        .filter(refresh_tokens::client_id.eq(client.as_str()))
        .select((refresh_tokens::grant_id, refresh_tokens::used_at))
        .get_result::<(String, Option<i64>)>(conn)
        .optional()?;
    Ok(match previous {
        Some((grant_id, Some(_))) => RefreshRotation::Reused { grant_id },
        _ => RefreshRotation::Invalid,
    })
}

/// The outcome of the PostgreSQL rotation: the extended grant, or (`is_live` false, the grant
/// columns placeholders) a token spent whose grant was revoked meanwhile.
#[derive(diesel::QueryableByName)]
struct PgRotation {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_live: bool,
    #[diesel(embed)]
    grant: GrantRow,
}

/// The rotation on PostgreSQL in one statement: spend the old token, extend the live grant,
/// insert the new token and return the grant, in data-modifying CTEs, atomic as one statement
/// is. The same steps in a transaction took five round trips, three of them statements diesel
/// does not keep prepared (it never caches `UPDATE`s), so PostgreSQL parsed and planned each at
/// every refresh. Of concurrent rotations of one token, the `UPDATE` of one waits for the other's
/// row lock and then no longer matches `used_at IS NULL`.
fn rotate_refresh_token_pg(
    conn: &mut DbConnection,
    old_hash: &str,
    client: &ClientId,
    new_hash: &str,
    new_expires_at: i64,
    now: i64,
) -> Result<RefreshRotation, StoreError> {
    let rows: Vec<PgRotation> = PreparedSql::new(
        concat!(
            "WITH spent AS ( \
             UPDATE refresh_tokens SET used_at = $1 \
             WHERE hash = $2 AND client_id = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING grant_id \
         ), live AS ( \
             UPDATE grants SET expires_at = $4 \
             WHERE id = (SELECT grant_id FROM spent) AND revoked_at IS NULL AND \
             ",
            acting_membership_live_sql!("grants"),
            " \
             RETURNING * \
         ), fresh AS ( \
             INSERT INTO refresh_tokens (hash, grant_id, client_id, created_at, expires_at, used_at) \
             SELECT $5, id, $3, $1, $4, NULL FROM live \
         ) \
         SELECT true AS is_live, live.* FROM live \
         UNION ALL \
         SELECT false, spent.grant_id, '', '', '', '', 0, '', '', NULL, 0, 0, NULL, NULL, NULL FROM spent \
         WHERE NOT EXISTS (SELECT 1 FROM live)"
        ),
        &[
            Param::BigInt(now),
            Param::Text(old_hash),
            Param::Text(client.as_str()),
            Param::BigInt(new_expires_at),
            Param::Text(new_hash),
        ],
    )
    .load(conn)?;
    Ok(match rows.into_iter().next() {
        Some(PgRotation { is_live: true, grant }) => RefreshRotation::Rotated(Box::new(Grant::try_from(grant)?)),
        // Spent, but its grant was revoked meanwhile: refused, as in the SQLite path.
        Some(PgRotation { is_live: false, .. }) => RefreshRotation::Invalid,
        None => unspent_refresh_token(conn, old_hash, client)?,
    })
}

/// A code spent on PostgreSQL, with its grant (the code's columns renamed where the grant has
/// the same name).
#[derive(diesel::QueryableByName)]
struct PgSpentCode {
    #[diesel(sql_type = diesel::sql_types::Text)]
    code_hash: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    code_client_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    redirect_uri: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    code_challenge: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    nonce: Option<String>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    code_expires_at: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    consumed_at: Option<i64>,
    #[diesel(embed)]
    grant: GrantRow,
}

/// Spends a code and reads its grant in one statement on PostgreSQL (two round trips before).
/// The `UPDATE` requires the grant live; the join reads the same snapshot, so it finds the grant.
fn spend_code_pg(conn: &mut DbConnection, hash: &str, now: i64) -> Result<Option<(CodeRow, GrantRow)>, StoreError> {
    let rows: Vec<PgSpentCode> = PreparedSql::new(
        concat!(
            "WITH spent AS ( \
             UPDATE authorization_codes SET consumed_at = $1 \
             WHERE hash = $2 AND consumed_at IS NULL AND expires_at > $1 \
             AND EXISTS (SELECT 1 FROM grants g WHERE g.id = authorization_codes.grant_id AND g.revoked_at IS NULL \
             AND ",
            acting_membership_live_sql!("g"),
            ") \
             RETURNING * \
         ) \
         SELECT spent.hash AS code_hash, spent.client_id AS code_client_id, spent.redirect_uri, \
                spent.code_challenge, spent.nonce, spent.expires_at AS code_expires_at, spent.consumed_at, \
                grants.* \
         FROM spent JOIN grants ON grants.id = spent.grant_id"
        ),
        &[Param::BigInt(now), Param::Text(hash)],
    )
    .load(conn)?;
    Ok(rows.into_iter().next().map(|r| {
        let code = CodeRow {
            hash: r.code_hash,
            grant_id: r.grant.id.clone(),
            client_id: r.code_client_id,
            redirect_uri: r.redirect_uri,
            code_challenge: r.code_challenge,
            nonce: r.nonce,
            expires_at: r.code_expires_at,
            consumed_at: r.consumed_at,
        };
        (code, r.grant)
    }))
}

/// The parameters `$1`..`$5` of the PostgreSQL statements that insert a refresh token.
fn refresh_params(token: &RefreshToken) -> [Param<'_>; 5] {
    [
        Param::Text(&token.hash),
        Param::Text(&token.grant_id),
        Param::Text(token.client_id.as_str()),
        Param::BigInt(token.created_at),
        Param::BigInt(token.expires_at),
    ]
}

/// A new refresh token, and its grant extended to the token's expiry (SQLite, in a transaction).
fn insert_refresh_token_in(conn: &mut DbConnection, token: &RefreshToken) -> Result<(), StoreError> {
    per_backend!(conn, |c| {
        diesel::insert_into(refresh_tokens::table).values(RefreshRow::from(token)).execute(c)?;
        diesel::update(grants::table.find(&token.grant_id)).set(grants::expires_at.eq(token.expires_at)).execute(c)
    })?;
    Ok(())
}

fn claims_json(claims: &AccessTokenClaims) -> Result<String, OAuthError> {
    serde_json::to_string(claims).map_err(|e| OAuthError::server_error(e.to_string()))
}

fn insert_opaque_access_token_in(
    conn: &mut DbConnection,
    hash: &str,
    claims: &AccessTokenClaims,
    json: &str,
) -> Result<(), StoreError> {
    per_backend!(conn, |c| diesel::insert_into(opaque_access_tokens::table)
        .values((
            opaque_access_tokens::hash.eq(hash),
            opaque_access_tokens::jti.eq(&claims.jti),
            opaque_access_tokens::claims.eq(json),
            opaque_access_tokens::expires_at.eq(claims.exp),
        ))
        .execute(c))?;
    Ok(())
}

/// The data-modifying CTEs that store a grant's first refresh token (`$1`..`$5`, see
/// [`refresh_params`]) and extend the grant to its expiry.
macro_rules! first_refresh_token_ctes {
    () => {
        "WITH fresh AS ( \
             INSERT INTO refresh_tokens (hash, grant_id, client_id, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, NULL) \
         ), extended AS ( \
             UPDATE grants SET expires_at = $5 WHERE id = $2 \
         ) "
    };
}

impl Store {
    /// A grant's first refresh token, its grant extended, and the opaque access token handed out
    /// with it if any (hash, claims, claims as JSON): one statement on PostgreSQL (a transaction
    /// took four round trips), one transaction on SQLite.
    fn insert_first_refresh_token(
        &self,
        refresh: &RefreshToken,
        opaque_access: Option<(&str, &AccessTokenClaims, &str)>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        if matches!(*conn, DbConnection::Postgres(_)) {
            let [p1, p2, p3, p4, p5] = refresh_params(refresh);
            match opaque_access {
                None => PreparedSql::new(concat!(first_refresh_token_ctes!(), "SELECT 1"), &[p1, p2, p3, p4, p5])
                    .execute(&mut conn)?,
                Some((hash, claims, json)) => PreparedSql::new(
                    concat!(
                        first_refresh_token_ctes!(),
                        "INSERT INTO opaque_access_tokens (hash, jti, claims, expires_at) VALUES ($6, $7, $8, $9)"
                    ),
                    &[
                        p1,
                        p2,
                        p3,
                        p4,
                        p5,
                        Param::Text(hash),
                        Param::Text(&claims.jti),
                        Param::Text(json),
                        Param::BigInt(claims.exp),
                    ],
                )
                .execute(&mut conn)?,
            };
            return Ok(());
        }
        (*conn).transaction(|conn| {
            insert_refresh_token_in(conn, refresh)?;
            match opaque_access {
                Some((hash, claims, json)) => insert_opaque_access_token_in(conn, hash, claims, json),
                None => Ok(()),
            }
        })
    }
}

impl OidcRepository for Store {
    fn insert_client(&self, client: &Client) -> Result<(), OAuthError> {
        let result = diesel::insert_into(clients::table)
            .values(ClientRow::from(client))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from);
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_unique_violation() => {
                Err(OAuthError::invalid_request(format!("a client with id {} already exists", client.id)))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn find_client(&self, id: &ClientId) -> Result<Option<Client>, OAuthError> {
        let row = per_backend!(&mut *self.conn()?, |c| clients::table
            .find(id.as_str())
            .get_result::<ClientRow>(c)
            .optional())
        .map_err(StoreError::from)?;
        Ok(row.map(Client::try_from).transpose()?)
    }

    fn list_clients(&self) -> Result<Vec<Client>, OAuthError> {
        let rows =
            clients::table.order(clients::id.asc()).load::<ClientRow>(&mut *self.conn()?).map_err(StoreError::from)?;
        Ok(rows.into_iter().map(Client::try_from).collect::<Result<_, _>>()?)
    }

    fn delete_client(&self, id: &ClientId) -> Result<bool, OAuthError> {
        // Foreign keys cascade to consents, grants, codes and refresh tokens.
        let n =
            diesel::delete(clients::table.find(id.as_str())).execute(&mut *self.conn()?).map_err(StoreError::from)?;
        Ok(n > 0)
    }

    fn list_signing_keys(&self) -> Result<Vec<StoredKey>, OAuthError> {
        let rows = signing_keys::table
            .order(signing_keys::created_at.asc())
            .load::<KeyRow>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(StoredKey::try_from).collect::<Result<_, _>>()?)
    }

    fn activate_signing_key(&self, new: &StoredKey, now: i64, only_if_none: bool) -> Result<bool, OAuthError> {
        let result = self.transaction(|conn| {
            if !only_if_none {
                diesel::update(
                    signing_keys::table
                        .filter(signing_keys::alg.eq(new.alg.as_str()))
                        .filter(signing_keys::state.eq(KeyState::Active.as_str())),
                )
                .set((signing_keys::state.eq(KeyState::Retired.as_str()), signing_keys::retired_at.eq(Some(now))))
                .execute(conn)?;
            }
            // The partial unique index allows one active key per algorithm: when replicas race
            // on first start, one insert wins and the others fail here.
            diesel::insert_into(signing_keys::table).values(KeyRow::from(new)).execute(conn)?;
            Ok(())
        });
        match result {
            Ok(()) => Ok(true),
            Err(e) if only_if_none && e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn active_key_algs(&self) -> Result<Vec<SigningAlg>, OAuthError> {
        let algs = signing_keys::table
            .filter(signing_keys::state.eq(KeyState::Active.as_str()))
            .select(signing_keys::alg)
            .load::<String>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        algs.iter().map(|a| SigningAlg::try_from(a.as_str())).collect()
    }

    fn insert_session(&self, session: &Session) -> Result<(), OAuthError> {
        diesel::insert_into(sessions::table)
            .values(SessionRow::from(session))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(())
    }

    fn replace_session(&self, old_id_hash: &str, new: &Session) -> Result<(), OAuthError> {
        self.transaction(|conn| {
            diesel::delete(sessions::table.find(old_id_hash)).execute(conn)?;
            diesel::insert_into(sessions::table).values(SessionRow::from(new)).execute(conn)?;
            Ok(())
        })?;
        Ok(())
    }

    fn find_session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, OAuthError> {
        let row = sessions::table
            .find(id_hash)
            .filter(sessions::expires_at.gt(now))
            .get_result::<SessionRow>(&mut *self.conn()?)
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.map(Session::try_from).transpose()?)
    }

    fn end_session(&self, id_hash: &str, now: i64) -> Result<Option<Session>, OAuthError> {
        let row = self.transaction(|conn| end_session_in(conn, id_hash, now))?;
        Ok(row.map(Session::try_from).transpose()?)
    }

    fn choose_acting_as(&self, id_hash: &str, acting_as: &yagona_oidc::ActingAs) -> Result<bool, OAuthError> {
        let value = serde_json::to_string(acting_as).map_err(|e| OAuthError::server_error(e.to_string()))?;
        let n = diesel::update(sessions::table.find(id_hash).filter(sessions::acting_as.is_null()))
            .set(sessions::acting_as.eq(Some(value)))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(n == 1)
    }

    fn forget_acting_as(&self, id_hash: &str) -> Result<(), OAuthError> {
        diesel::update(sessions::table.find(id_hash))
            .set(sessions::acting_as.eq(None::<String>))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(())
    }

    fn list_sessions(&self, account: &AccountId, now: i64) -> Result<Vec<Session>, OAuthError> {
        let rows = sessions::table
            .filter(sessions::account_id.eq(account.as_str()))
            .filter(sessions::expires_at.gt(now))
            .order(sessions::created_at.desc())
            .load::<SessionRow>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(Session::try_from).collect::<Result<_, _>>()?)
    }

    fn end_sessions_of(&self, account: &AccountId, keep: Option<&str>, now: i64) -> Result<usize, OAuthError> {
        Ok(self.transaction(|conn| {
            let hashes: Vec<String> = sessions::table
                .filter(sessions::account_id.eq(account.as_str()))
                .filter(sessions::id_hash.ne(keep.unwrap_or("")))
                .select(sessions::id_hash)
                .load(conn)?;
            for hash in &hashes {
                end_session_in(conn, hash, now)?;
            }
            Ok(hashes.len())
        })?)
    }

    fn end_session_by_sid(&self, account: &AccountId, sid: &str, now: i64) -> Result<bool, OAuthError> {
        Ok(self.transaction(|conn| {
            let hash = sessions::table
                .filter(sessions::account_id.eq(account.as_str()))
                .filter(sessions::sid.eq(sid))
                .select(sessions::id_hash)
                .get_result::<String>(conn)
                .optional()?;
            match hash {
                Some(hash) => Ok(end_session_in(conn, &hash, now)?.is_some()),
                None => Ok(false),
            }
        })?)
    }

    fn record_login(&self, event: &LoginEvent) -> Result<(), OAuthError> {
        diesel::insert_into(login_events::table)
            .values(LoginEventRow {
                id: random_id(),
                account_id: event.account_id.as_str().to_owned(),
                at: event.at,
                method: event.method.clone(),
                client_id: event.client_id.as_ref().map(|c| c.as_str().to_owned()),
                address: event.address.clone(),
            })
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(())
    }

    fn recent_logins(&self, account: &AccountId, limit: i64) -> Result<Vec<LoginEvent>, OAuthError> {
        let rows = login_events::table
            .filter(login_events::account_id.eq(account.as_str()))
            .order(login_events::at.desc())
            .limit(limit)
            .load::<LoginEventRow>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(LoginEvent::try_from).collect::<Result<_, _>>()?)
    }

    fn insert_interaction(&self, interaction: &Interaction) -> Result<(), OAuthError> {
        diesel::insert_into(interactions::table)
            .values(InteractionRow::from(interaction))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(())
    }

    fn find_interaction(&self, id_hash: &str, now: i64) -> Result<Option<Interaction>, OAuthError> {
        let row = interactions::table
            .find(id_hash)
            .filter(interactions::expires_at.gt(now))
            .get_result::<InteractionRow>(&mut *self.conn()?)
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.map(Interaction::try_from).transpose()?)
    }

    fn delete_interaction(&self, id_hash: &str) -> Result<(), OAuthError> {
        diesel::delete(interactions::table.find(id_hash)).execute(&mut *self.conn()?).map_err(StoreError::from)?;
        Ok(())
    }

    fn mark_interaction(&self, id_hash: &str, login: bool, consent: bool) -> Result<(), OAuthError> {
        let conn = &mut *self.conn()?;
        if login {
            diesel::update(interactions::table.find(id_hash))
                .set(interactions::login_done.eq(true))
                .execute(conn)
                .map_err(StoreError::from)?;
        }
        if consent {
            diesel::update(interactions::table.find(id_hash))
                .set(interactions::consent_done.eq(true))
                .execute(conn)
                .map_err(StoreError::from)?;
        }
        Ok(())
    }

    fn find_consent(&self, account: &AccountId, client: &ClientId) -> Result<Option<Consent>, OAuthError> {
        let row = consents::table
            .find((account.as_str(), client.as_str()))
            .get_result::<ConsentRow>(&mut *self.conn()?)
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.map(Consent::try_from).transpose()?)
    }

    fn save_consent(&self, consent: &Consent) -> Result<(), OAuthError> {
        let row = ConsentRow::from(consent);
        self.transaction(|conn| {
            diesel::delete(consents::table.find((&row.account_id, &row.client_id))).execute(conn)?;
            diesel::insert_into(consents::table).values(&row).execute(conn)?;
            Ok(())
        })?;
        Ok(())
    }

    fn insert_challenge(&self, hash: &str, browser_hash: &str, expires_at: i64) -> Result<(), OAuthError> {
        diesel::insert_into(eds_challenges::table)
            .values((
                eds_challenges::hash.eq(hash),
                eds_challenges::browser_hash.eq(browser_hash),
                eds_challenges::expires_at.eq(expires_at),
            ))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(())
    }

    fn consume_challenge(&self, hash: &str, browser_hash: &str, now: i64) -> Result<bool, OAuthError> {
        // One DELETE: of concurrent uses exactly one removes the row.
        let n = diesel::delete(
            eds_challenges::table
                .find(hash)
                .filter(eds_challenges::browser_hash.eq(browser_hash))
                .filter(eds_challenges::expires_at.gt(now)),
        )
        .execute(&mut *self.conn()?)
        .map_err(StoreError::from)?;
        Ok(n == 1)
    }

    fn challenge_is_live(&self, hash: &str, browser_hash: &str, now: i64) -> Result<bool, OAuthError> {
        let n: i64 = eds_challenges::table
            .find(hash)
            .filter(eds_challenges::browser_hash.eq(browser_hash))
            .filter(eds_challenges::expires_at.gt(now))
            .count()
            .get_result(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(n > 0)
    }

    fn list_consents(&self, account: &AccountId) -> Result<Vec<Consent>, OAuthError> {
        let rows = consents::table
            .filter(consents::account_id.eq(account.as_str()))
            .order(consents::granted_at.desc())
            .load::<ConsentRow>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(Consent::try_from).collect::<Result<_, _>>()?)
    }

    fn revoke_consent(&self, account: &AccountId, client: &ClientId, now: i64) -> Result<(), OAuthError> {
        self.transaction(|conn| {
            diesel::delete(consents::table.find((account.as_str(), client.as_str()))).execute(conn)?;
            let ids: Vec<String> = grants::table
                .filter(grants::account_id.eq(account.as_str()))
                .filter(grants::client_id.eq(client.as_str()))
                .filter(grants::revoked_at.is_null())
                .select(grants::id)
                .load(conn)?;
            for id in &ids {
                revoke_grant_in(conn, id, now)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn insert_grant_with_code(&self, grant: &Grant, code: &AuthorizationCode) -> Result<(), OAuthError> {
        self.transaction(|conn| {
            diesel::insert_into(grants::table).values(GrantRow::new(grant, code.expires_at)).execute(conn)?;
            diesel::insert_into(authorization_codes::table).values(CodeRow::from(code)).execute(conn)?;
            Ok(())
        })?;
        Ok(())
    }

    fn consume_authorization_code(&self, hash: &str, now: i64) -> Result<CodeConsumption, OAuthError> {
        let conn = &mut *self.conn()?;
        // One conditional UPDATE: of many concurrent redemptions exactly one matches the row. The
        // grant's liveness is part of the same statement, so the winner is not undone by a loser
        // revoking the grant (for reuse) between two statements; the loser's revocation then
        // applies to the winner's tokens, as RFC 6749 4.1.2 wants.
        let spent = if matches!(*conn, DbConnection::Postgres(_)) {
            spend_code_pg(conn, hash, now)?
        } else {
            // A correlated EXISTS: SQLite plans `grant_id IN (SELECT id FROM grants WHERE …)` as a
            // scan of every grant, at every redemption.
            let grant_live = diesel::dsl::exists(
                grants::table
                    .filter(grants::id.eq(authorization_codes::grant_id))
                    .filter(grants::revoked_at.is_null())
                    .filter(acting_membership_live(now)),
            );
            let code = per_backend!(&mut *conn, |c| diesel::update(
                authorization_codes::table
                    .find(hash)
                    .filter(authorization_codes::consumed_at.is_null())
                    .filter(authorization_codes::expires_at.gt(now))
                    .filter(grant_live),
            )
            .set(authorization_codes::consumed_at.eq(Some(now)))
            .returning(authorization_codes::all_columns)
            .get_result::<CodeRow>(c)
            .optional())
            .map_err(StoreError::from)?;
            match code {
                Some(code) => {
                    // SQLite: a second statement, in-process and cheap.
                    let grant = per_backend!(&mut *conn, |c| grants::table
                        .find(&code.grant_id)
                        .get_result::<GrantRow>(c)
                        .optional());
                    match grant.map_err(StoreError::from)? {
                        Some(grant) => Some((code, grant)),
                        None => return Ok(CodeConsumption::Invalid),
                    }
                }
                None => None,
            }
        };
        match spent {
            Some((code, grant)) => {
                let code = AuthorizationCode::try_from(code)?;
                Ok(CodeConsumption::Consumed(Box::new((code, Grant::try_from(grant)?))))
            }
            None => {
                let previous = authorization_codes::table
                    .find(hash)
                    .select((authorization_codes::grant_id, authorization_codes::consumed_at))
                    .get_result::<(String, Option<i64>)>(conn)
                    .optional()
                    .map_err(StoreError::from)?;
                Ok(match previous {
                    Some((grant_id, Some(_))) => CodeConsumption::AlreadyUsed { grant_id },
                    _ => CodeConsumption::Invalid,
                })
            }
        }
    }

    fn find_grant(&self, id: &str) -> Result<Option<Grant>, OAuthError> {
        Ok(load_grant(&mut *self.conn()?, id)?)
    }

    fn revoke_grant(&self, id: &str, now: i64) -> Result<(), OAuthError> {
        self.transaction(|conn| revoke_grant_in(conn, id, now))?;
        Ok(())
    }

    fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), OAuthError> {
        Ok(self.insert_first_refresh_token(token, None)?)
    }

    fn insert_refresh_and_opaque_access_token(
        &self,
        refresh: &RefreshToken,
        access_hash: &str,
        access: &AccessTokenClaims,
    ) -> Result<(), OAuthError> {
        let json = claims_json(access)?;
        Ok(self.insert_first_refresh_token(refresh, Some((access_hash, access, &json)))?)
    }

    fn rotate_refresh_token(
        &self,
        old_hash: &str,
        client: &ClientId,
        new_hash: &str,
        new_expires_at: i64,
        now: i64,
    ) -> Result<RefreshRotation, OAuthError> {
        let mut conn = self.conn()?;
        if matches!(*conn, DbConnection::Postgres(_)) {
            return Ok(rotate_refresh_token_pg(&mut conn, old_hash, client, new_hash, new_expires_at, now)?);
        }
        Ok((*conn).transaction(|conn| {
            // Write first: on SQLite a transaction that starts by writing queues on the busy
            // timeout instead of failing to upgrade a read lock.
            let spent = per_backend!(&mut *conn, |c| diesel::update(
                refresh_tokens::table
                    .find(old_hash)
                    .filter(refresh_tokens::client_id.eq(client.as_str()))
                    .filter(refresh_tokens::used_at.is_null())
                    .filter(refresh_tokens::expires_at.gt(now)),
            )
            .set(refresh_tokens::used_at.eq(Some(now)))
            .returning(refresh_tokens::grant_id)
            .get_result::<String>(c)
            .optional())?;
            let Some(grant_id) = spent else {
                return unspent_refresh_token(conn, old_hash, client);
            };
            // The grant's liveness check (its membership included) and its new expiry in one
            // statement.
            let grant = per_backend!(&mut *conn, |c| diesel::update(
                grants::table.find(&grant_id).filter(grants::revoked_at.is_null()).filter(acting_membership_live(now))
            )
            .set(grants::expires_at.eq(new_expires_at))
            .returning(grants::all_columns)
            .get_result::<GrantRow>(c)
            .optional())?;
            let Some(grant) = grant else { return Ok(RefreshRotation::Invalid) };
            let grant = Grant::try_from(grant)?;
            let new = RefreshToken {
                hash: new_hash.to_owned(),
                grant_id: grant.id.clone(),
                client_id: client.clone(),
                created_at: now,
                expires_at: new_expires_at,
            };
            per_backend!(&mut *conn, |c| diesel::insert_into(refresh_tokens::table)
                .values(RefreshRow::from(&new))
                .execute(c))?;
            Ok(RefreshRotation::Rotated(Box::new(grant)))
        })?)
    }

    fn find_live_refresh_token(&self, hash: &str, now: i64) -> Result<Option<(RefreshToken, Grant)>, OAuthError> {
        let conn = &mut *self.conn()?;
        let row = per_backend!(&mut *conn, |c| refresh_tokens::table
            .find(hash)
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now))
            .get_result::<RefreshRow>(c)
            .optional())
        .map_err(StoreError::from)?;
        let Some(row) = row else { return Ok(None) };
        let token = RefreshToken::try_from(row)?;
        let grant = per_backend!(&mut *conn, |c| grants::table
            .find(&token.grant_id)
            .filter(grants::revoked_at.is_null())
            .filter(acting_membership_live(now))
            .get_result::<GrantRow>(c)
            .optional())
        .map_err(StoreError::from)?;
        Ok(grant.map(Grant::try_from).transpose()?.map(|grant| (token, grant)))
    }

    fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), OAuthError> {
        let result = diesel::insert_into(revoked_access_tokens::table)
            .values((revoked_access_tokens::jti.eq(jti), revoked_access_tokens::expires_at.eq(expires_at)))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from);
        match result {
            Ok(_) => Ok(()),
            // Revoking twice is not an error (RFC 7009 2.2).
            Err(e) if e.is_unique_violation() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn find_live_access(&self, jti: &str, grant_id: &str, now: i64) -> Result<Option<(Grant, Account)>, OAuthError> {
        use diesel::dsl::{exists, not};
        let row = per_backend!(&mut *self.conn()?, |c| grants::table
            .inner_join(accounts::table)
            .filter(grants::id.eq(grant_id))
            .filter(grants::revoked_at.is_null())
            .filter(acting_membership_live(now))
            .filter(not(exists(revoked_access_tokens::table.filter(revoked_access_tokens::jti.eq(jti)))))
            .select((grants::all_columns, accounts::all_columns))
            .get_result::<(GrantRow, AccountRow)>(c)
            .optional())
        .map_err(StoreError::from)?;
        Ok(match row {
            Some((grant, account)) => Some((Grant::try_from(grant)?, Account::try_from(account)?)),
            None => None,
        })
    }

    fn insert_opaque_access_token(&self, hash: &str, claims: &AccessTokenClaims) -> Result<(), OAuthError> {
        let json = claims_json(claims)?;
        Ok(insert_opaque_access_token_in(&mut *self.conn()?, hash, claims, &json)?)
    }

    fn find_opaque_access_token(&self, hash: &str, now: i64) -> Result<Option<AccessTokenClaims>, OAuthError> {
        let json = per_backend!(&mut *self.conn()?, |c| opaque_access_tokens::table
            .find(hash)
            .filter(opaque_access_tokens::expires_at.gt(now))
            .select(opaque_access_tokens::claims)
            .get_result::<String>(c)
            .optional())
        .map_err(StoreError::from)?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| OAuthError::server_error(format!("stored access token: {e}")))
        })
        .transpose()
    }

    fn is_access_token_revoked(&self, jti: &str) -> Result<bool, OAuthError> {
        let n: i64 = per_backend!(&mut *self.conn()?, |c| revoked_access_tokens::table
            .filter(revoked_access_tokens::jti.eq(jti))
            .count()
            .get_result(c))
        .map_err(StoreError::from)?;
        Ok(n > 0)
    }

    fn record_login_failure(&self, key: &str, now: i64, window_start: i64) -> Result<u32, OAuthError> {
        let conn = &mut *self.conn()?;
        diesel::insert_into(login_failures::table)
            .values((
                login_failures::id.eq(random_id()),
                login_failures::key.eq(key),
                login_failures::failed_at.eq(now),
            ))
            .execute(conn)
            .map_err(StoreError::from)?;
        count_failures(conn, key, window_start)
    }

    fn recent_login_failures(&self, key: &str, window_start: i64) -> Result<u32, OAuthError> {
        count_failures(&mut *self.conn()?, key, window_start)
    }

    fn clear_login_failures(&self, key: &str) -> Result<(), OAuthError> {
        diesel::delete(login_failures::table.filter(login_failures::key.eq(key)))
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(())
    }

    fn purge_expired(&self, now: i64) -> Result<u64, OAuthError> {
        let n = self.transaction(|conn| {
            let mut n = 0;
            n += diesel::delete(authorization_codes::table.filter(authorization_codes::expires_at.le(now)))
                .execute(conn)?;
            n += diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.le(now))).execute(conn)?;
            n += diesel::delete(grants::table.filter(grants::expires_at.le(now))).execute(conn)?;
            n += diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?;
            n += diesel::delete(interactions::table.filter(interactions::expires_at.le(now))).execute(conn)?;
            n += diesel::delete(eds_challenges::table.filter(eds_challenges::expires_at.le(now))).execute(conn)?;
            n += diesel::delete(registrations::table.filter(registrations::expires_at.le(now))).execute(conn)?;
            n += diesel::delete(revoked_access_tokens::table.filter(revoked_access_tokens::expires_at.le(now)))
                .execute(conn)?;
            n += diesel::delete(opaque_access_tokens::table.filter(opaque_access_tokens::expires_at.le(now)))
                .execute(conn)?;
            // Failures older than a day no longer count towards any throttle window.
            n += diesel::delete(login_failures::table.filter(login_failures::failed_at.le(now - 86_400)))
                .execute(conn)?;
            Ok(n as u64)
        })?;
        Ok(n)
    }
}

fn count_failures(conn: &mut DbConnection, key: &str, window_start: i64) -> Result<u32, OAuthError> {
    let n: i64 = login_failures::table
        .filter(login_failures::key.eq(key))
        .filter(login_failures::failed_at.ge(window_start))
        .count()
        .get_result(conn)
        .map_err(StoreError::from)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

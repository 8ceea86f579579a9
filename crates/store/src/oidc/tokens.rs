//! Refresh tokens (rotation, reuse detection) and access tokens (opaque ones, revocation).

use diesel::prelude::*;
use yagona_account::Account;
use yagona_oidc::tokens::{AccessTokenClaims, GrantTokenPart, StoredAccessToken};
use yagona_oidc::{ClientId, Grant, Lifetimes, OAuthError, RefreshRotation, RefreshToken};

use crate::connection::per_backend;
use crate::legal::{grant_live, grant_live_sql};
use crate::prepared::{Param, PreparedSql};
use crate::rows::*;
use crate::schema::*;
use crate::{DbConnection, Store, StoreError};

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
    lifetimes: &Lifetimes,
    now: i64,
) -> Result<RefreshRotation, StoreError> {
    let rows: Vec<PgRotation> = PreparedSql::new(
        concat!(
            "WITH spent AS ( \
             UPDATE refresh_tokens SET used_at = $1 \
             WHERE hash = $2 AND client_id = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING grant_id \
         ), live AS ( \
             UPDATE grants SET expires_at = LEAST($4, created_at + $6) \
             WHERE id = (SELECT grant_id FROM spent) AND created_at + $6 > $1 \
             AND (scopes LIKE '%offline_access%' \
                  OR EXISTS (SELECT 1 FROM sessions s WHERE s.sid = grants.sid AND s.expires_at > $1)) \
             AND ",
            grant_live_sql!("grants"),
            " \
             RETURNING * \
         ), fresh AS ( \
             INSERT INTO refresh_tokens (hash, grant_id, client_id, created_at, expires_at, used_at) \
             SELECT $5, id, $3, $1, expires_at, NULL FROM live \
         ) \
         SELECT true AS is_live, live.* FROM live \
         UNION ALL \
         SELECT false, spent.grant_id, '', '', '', '', 0, '', '', NULL, 0, 0, NULL, NULL, NULL, '[]' FROM spent \
         WHERE NOT EXISTS (SELECT 1 FROM live)"
        ),
        &[
            Param::BigInt(now),
            Param::Text(old_hash),
            Param::Text(client.as_str()),
            Param::BigInt(now + lifetimes.refresh_token),
            Param::Text(new_hash),
            Param::BigInt(lifetimes.refresh_token_absolute),
        ],
    )
    .load(conn)?;
    Ok(match rows.into_iter().next() {
        Some(PgRotation { is_live: true, grant }) => RefreshRotation::Rotated(Box::new(Grant::try_from(grant)?)),
        // Spent, but its grant was revoked meanwhile, or its session ended, or it is past its
        // absolute lifetime: refused, as in the SQLite path.
        Some(PgRotation { is_live: false, .. }) => RefreshRotation::Invalid,
        None => unspent_refresh_token(conn, old_hash, client)?,
    })
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

/// An opaque access token as stored: its grant id (a person's token) and the JSON of what it adds
/// to the grant, or no grant and its whole claims (a client's own token).
pub(crate) struct OpaqueAccessRow<'a> {
    hash: &'a str,
    jti: &'a str,
    grant_id: Option<&'a str>,
    claims: String,
    expires_at: i64,
}

impl<'a> OpaqueAccessRow<'a> {
    pub(crate) fn new(hash: &'a str, claims: &'a AccessTokenClaims) -> Result<Self, StoreError> {
        let (grant_id, json) = match claims.grant_part() {
            Some((gid, part)) => (Some(gid), serde_json::to_string(&part)),
            None => (None, serde_json::to_string(claims)),
        };
        Ok(Self {
            hash,
            jti: &claims.jti,
            grant_id,
            claims: json.map_err(|e| StoreError::Corrupt(format!("access token claims: {e}")))?,
            expires_at: claims.exp,
        })
    }

    /// The parameters `$first`.. of a PostgreSQL insert (hash, jti, claims, expires_at, grant_id).
    fn params(&self) -> [Param<'_>; 5] {
        [
            Param::Text(self.hash),
            Param::Text(self.jti),
            Param::Text(&self.claims),
            Param::BigInt(self.expires_at),
            Param::NullableText(self.grant_id),
        ]
    }
}

fn insert_opaque_access_token_in(conn: &mut DbConnection, row: &OpaqueAccessRow<'_>) -> Result<(), StoreError> {
    per_backend!(conn, |c| diesel::insert_into(opaque_access_tokens::table)
        .values((
            opaque_access_tokens::hash.eq(row.hash),
            opaque_access_tokens::jti.eq(row.jti),
            opaque_access_tokens::claims.eq(&row.claims),
            opaque_access_tokens::expires_at.eq(row.expires_at),
            opaque_access_tokens::grant_id.eq(row.grant_id),
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
    /// with it if any: one statement on PostgreSQL (a transaction took four round trips), one
    /// transaction on SQLite.
    fn insert_first_refresh_token(
        &self,
        refresh: &RefreshToken,
        opaque_access: Option<&OpaqueAccessRow<'_>>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        if matches!(*conn, DbConnection::Postgres(_)) {
            let [p1, p2, p3, p4, p5] = refresh_params(refresh);
            match opaque_access {
                None => PreparedSql::new(concat!(first_refresh_token_ctes!(), "SELECT 1"), &[p1, p2, p3, p4, p5])
                    .execute(&mut conn)?,
                Some(row) => {
                    let [p6, p7, p8, p9, p10] = row.params();
                    PreparedSql::new(
                        concat!(
                            first_refresh_token_ctes!(),
                            "INSERT INTO opaque_access_tokens (hash, jti, claims, expires_at, grant_id) \
                             VALUES ($6, $7, $8, $9, $10)"
                        ),
                        &[p1, p2, p3, p4, p5, p6, p7, p8, p9, p10],
                    )
                    .execute(&mut conn)?
                }
            };
            return Ok(());
        }
        (*conn).transaction(|conn| {
            insert_refresh_token_in(conn, refresh)?;
            match opaque_access {
                Some(row) => insert_opaque_access_token_in(conn, row),
                None => Ok(()),
            }
        })
    }
}

pub(super) fn insert_refresh_token(store: &Store, token: &RefreshToken) -> Result<(), OAuthError> {
    Ok(store.insert_first_refresh_token(token, None)?)
}

pub(super) fn insert_refresh_and_opaque_access_token(
    store: &Store,
    refresh: &RefreshToken,
    access_hash: &str,
    access: &AccessTokenClaims,
) -> Result<(), OAuthError> {
    let row = OpaqueAccessRow::new(access_hash, access)?;
    Ok(store.insert_first_refresh_token(refresh, Some(&row))?)
}

pub(super) fn rotate_refresh_token(
    store: &Store,
    old_hash: &str,
    client: &ClientId,
    new_hash: &str,
    lifetimes: &Lifetimes,
    now: i64,
) -> Result<RefreshRotation, OAuthError> {
    let mut conn = store.conn()?;
    if matches!(*conn, DbConnection::Postgres(_)) {
        return Ok(rotate_refresh_token_pg(&mut conn, old_hash, client, new_hash, lifetimes, now)?);
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
        let grant = per_backend!(&mut *conn, |c| grants::table
            .find(&grant_id)
            .filter(grant_live(now))
            .get_result::<GrantRow>(c)
            .optional())?;
        let Some(grant) = grant else { return Ok(RefreshRotation::Invalid) };
        let grant = Grant::try_from(grant)?;
        if !grant_is_live(conn, &grant, lifetimes, now)? {
            return Ok(RefreshRotation::Invalid);
        }
        let expires_at = lifetimes.refresh_token_expiry(grant.created_at, now);
        per_backend!(&mut *conn, |c| diesel::update(grants::table.find(&grant.id))
            .set(grants::expires_at.eq(expires_at))
            .execute(c))?;
        let new = RefreshToken {
            hash: new_hash.to_owned(),
            grant_id: grant.id.clone(),
            client_id: client.clone(),
            created_at: now,
            expires_at,
        };
        per_backend!(&mut *conn, |c| diesel::insert_into(refresh_tokens::table)
            .values(RefreshRow::from(&new))
            .execute(c))?;
        Ok(RefreshRotation::Rotated(Box::new(grant)))
    })?)
}

pub(super) fn find_live_refresh_token(
    store: &Store,
    hash: &str,
    lifetimes: &Lifetimes,
    now: i64,
) -> Result<Option<(RefreshToken, Grant)>, OAuthError> {
    let conn = &mut *store.conn()?;
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
        .filter(grant_live(now))
        .get_result::<GrantRow>(c)
        .optional())
    .map_err(StoreError::from)?;
    let Some(grant) = grant else { return Ok(None) };
    let grant = Grant::try_from(grant)?;
    Ok(grant_is_live(conn, &grant, lifetimes, now)?.then_some((token, grant)))
}

/// Whether a grant that is not revoked may still refresh: within its family's absolute lifetime
/// and, unless it is offline access (OIDC Core 11), while the session it was made in is live.
/// (The PostgreSQL rotation states the same in SQL.)
fn grant_is_live(conn: &mut DbConnection, grant: &Grant, lifetimes: &Lifetimes, now: i64) -> Result<bool, StoreError> {
    if grant.created_at + lifetimes.refresh_token_absolute <= now {
        return Ok(false);
    }
    if grant.outlives_session() {
        return Ok(true);
    }
    let live: i64 = per_backend!(conn, |c| sessions::table
        .filter(sessions::sid.eq(&grant.sid))
        .filter(sessions::expires_at.gt(now))
        .count()
        .get_result(c))?;
    Ok(live > 0)
}

pub(super) fn revoke_access_token(store: &Store, jti: &str, expires_at: i64) -> Result<(), OAuthError> {
    let result = diesel::insert_into(revoked_access_tokens::table)
        .values((revoked_access_tokens::jti.eq(jti), revoked_access_tokens::expires_at.eq(expires_at)))
        .execute(&mut *store.conn()?)
        .map_err(StoreError::from);
    match result {
        Ok(_) => Ok(()),
        // Revoking twice is not an error (RFC 7009 2.2).
        Err(e) if e.is_unique_violation() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn find_live_access(
    store: &Store,
    jti: &str,
    grant_id: &str,
    now: i64,
) -> Result<Option<(Grant, Account)>, OAuthError> {
    use diesel::dsl::{exists, not};
    let row = per_backend!(&mut *store.conn()?, |c| grants::table
        .inner_join(accounts::table)
        .filter(grants::id.eq(grant_id))
        .filter(grant_live(now))
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

pub(super) fn insert_opaque_access_token(
    store: &Store,
    hash: &str,
    claims: &AccessTokenClaims,
) -> Result<(), OAuthError> {
    let row = OpaqueAccessRow::new(hash, claims)?;
    Ok(insert_opaque_access_token_in(&mut *store.conn()?, &row)?)
}

pub(super) fn find_opaque_access_token(
    store: &Store,
    hash: &str,
    now: i64,
) -> Result<Option<StoredAccessToken>, OAuthError> {
    use diesel::dsl::{exists, not};
    // The account joins only where `find_live_access` would find it: the token is then checked
    // in this one statement, where it would take a second for the grant and account again. Both
    // share the grant's condition (`grant_live`); the revoked-`jti` check is written in each, as
    // it compares a bound value there and a column here (diesel's `auto_type` does not make one
    // helper generic over both). `tests::grants_follow_their_membership` fails when they differ.
    let row = per_backend!(&mut *store.conn()?, |c| opaque_access_tokens::table
        .left_join(grants::table.on(opaque_access_tokens::grant_id.eq(grants::id.nullable())))
        .left_join(accounts::table.on(accounts::id.eq(grants::account_id).and(grant_live(now)).and(not(exists(
            revoked_access_tokens::table.filter(revoked_access_tokens::jti.eq(opaque_access_tokens::jti)),
        )))),)
        .filter(opaque_access_tokens::hash.eq(hash))
        .filter(opaque_access_tokens::expires_at.gt(now))
        .select((
            opaque_access_tokens::jti,
            opaque_access_tokens::claims,
            opaque_access_tokens::expires_at,
            opaque_access_tokens::grant_id,
            grants::all_columns.nullable(),
            accounts::all_columns.nullable(),
        ))
        .get_result::<(String, String, i64, Option<String>, Option<GrantRow>, Option<AccountRow>)>(c)
        .optional())
    .map_err(StoreError::from)?;
    let corrupt = |e: serde_json::Error| OAuthError::server_error(format!("stored access token: {e}"));
    Ok(match row {
        None => None,
        Some((jti, json, exp, Some(_), Some(grant), account)) => Some(StoredAccessToken::OfGrant {
            jti,
            exp,
            part: serde_json::from_str::<GrantTokenPart>(&json).map_err(corrupt)?,
            grant: Grant::try_from(grant)?,
            live_account: account.map(Account::try_from).transpose()?.map(Box::new),
        }),
        // The grant is gone (purged after it expired): so is every token of it.
        Some((_, _, _, Some(_), None, _)) => None,
        Some((_, json, _, None, _, _)) => {
            Some(StoredAccessToken::Claims(serde_json::from_str(&json).map_err(corrupt)?))
        }
    })
}

pub(super) fn is_access_token_revoked(store: &Store, jti: &str) -> Result<bool, OAuthError> {
    let n: i64 = per_backend!(&mut *store.conn()?, |c| revoked_access_tokens::table
        .filter(revoked_access_tokens::jti.eq(jti))
        .count()
        .get_result(c))
    .map_err(StoreError::from)?;
    Ok(n > 0)
}

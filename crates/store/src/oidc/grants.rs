//! Grants and their authorization codes.

use diesel::prelude::*;
use yagona_oidc::{AuthorizationCode, CodeConsumption, Grant, OAuthError};

use crate::connection::per_backend;
use crate::legal::{grant_live, grant_live_sql};
use crate::prepared::{Param, PreparedSql};
use crate::rows::*;
use crate::schema::*;
use crate::{DbConnection, Store, StoreError};

pub(super) fn load_grant(conn: &mut DbConnection, id: &str) -> Result<Option<Grant>, StoreError> {
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
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    dpop_jkt: Option<String>,
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
             AND EXISTS (SELECT 1 FROM grants g WHERE g.id = authorization_codes.grant_id AND ",
            grant_live_sql!("g"),
            ") \
             RETURNING * \
         ) \
         SELECT spent.hash AS code_hash, spent.client_id AS code_client_id, spent.redirect_uri, \
                spent.code_challenge, spent.nonce, spent.expires_at AS code_expires_at, spent.consumed_at, spent.dpop_jkt, \
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
            dpop_jkt: r.dpop_jkt,
        };
        (code, r.grant)
    }))
}

pub(super) fn insert_grant_with_code(store: &Store, grant: &Grant, code: &AuthorizationCode) -> Result<(), OAuthError> {
    store.transaction(|conn| {
        diesel::insert_into(grants::table).values(GrantRow::new(grant, code.expires_at)).execute(conn)?;
        diesel::insert_into(authorization_codes::table).values(CodeRow::from(code)).execute(conn)?;
        Ok(())
    })?;
    Ok(())
}

pub(super) fn consume_authorization_code(store: &Store, hash: &str, now: i64) -> Result<CodeConsumption, OAuthError> {
    let conn = &mut *store.conn()?;
    // One conditional UPDATE: of many concurrent redemptions exactly one matches the row. The
    // grant's liveness is part of the same statement, so the winner is not undone by a loser
    // revoking the grant (for reuse) between two statements; the loser's revocation then
    // applies to the winner's tokens, as RFC 6749 4.1.2 wants.
    let spent = if matches!(*conn, DbConnection::Postgres(_)) {
        spend_code_pg(conn, hash, now)?
    } else {
        // A correlated EXISTS: SQLite plans `grant_id IN (SELECT id FROM grants WHERE …)` as a
        // scan of every grant, at every redemption.
        let of_live_grant = diesel::dsl::exists(
            grants::table.filter(grants::id.eq(authorization_codes::grant_id)).filter(grant_live(now)),
        );
        let code = per_backend!(&mut *conn, |c| diesel::update(
            authorization_codes::table
                .find(hash)
                .filter(authorization_codes::consumed_at.is_null())
                .filter(authorization_codes::expires_at.gt(now))
                .filter(of_live_grant),
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

pub(super) fn find_grant(store: &Store, id: &str) -> Result<Option<Grant>, OAuthError> {
    Ok(load_grant(&mut *store.conn()?, id)?)
}

pub(super) fn revoke_grant(store: &Store, id: &str, now: i64) -> Result<(), OAuthError> {
    store.transaction(|conn| revoke_grant_in(conn, id, now))?;
    Ok(())
}

//! [`LegalRepository`] over `legal_entities`, `memberships` and `membership_events`.

use diesel::prelude::*;
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_account::legal::{LegalEntity, LegalRepository, Membership, MembershipEvent, Tin, HEAD_ROLE};
use yagona_account::{AccountError, AccountId};
use yagona_oidc::secrets::random_id;

use crate::audit::record_audit_in;
use crate::schema::{legal_entities, membership_events, memberships};
use crate::{DbConnection, Store, StoreError};

type EntityRow = (String, String, String, i64);
type MembershipRow = (String, String, String, Option<String>, Option<String>, i64, Option<i64>, Option<i64>);

fn corrupt(e: AccountError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn entity(row: EntityRow) -> Result<LegalEntity, StoreError> {
    Ok(LegalEntity {
        tin: Tin::try_from(row.0.as_str()).map_err(corrupt)?,
        name: row.1,
        short_name: row.2,
        linked_at: row.3,
    })
}

fn membership(row: MembershipRow) -> Result<Membership, StoreError> {
    Ok(Membership {
        tin: Tin::try_from(row.0.as_str()).map_err(corrupt)?,
        account_id: AccountId::from_stored(row.1),
        role: row.2,
        title: row.3,
        granted_by: row.4.map(AccountId::from_stored),
        granted_at: row.5,
        expires_at: row.6,
    })
}

fn record(
    conn: &mut DbConnection,
    tin: &str,
    account: &str,
    role: &str,
    action: &str,
    by: Option<&str>,
    at: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(membership_events::table)
        .values((
            membership_events::id.eq(random_id()),
            membership_events::tin.eq(tin),
            membership_events::account_id.eq(account),
            membership_events::role.eq(role),
            membership_events::action.eq(action),
            membership_events::by_account.eq(by),
            membership_events::at.eq(at),
        ))
        .execute(conn)?;
    let kind = match action {
        "linked" => AuditKind::EntityLinked,
        "replaced" => AuditKind::HeadReplaced,
        "granted" => AuditKind::RoleGranted,
        _ => AuditKind::RoleEnded,
    };
    record_audit_in(
        conn,
        &AuditEvent {
            at,
            kind,
            actor: by.map(|a| AccountId::from_stored(a.to_owned())),
            subject: Some(AccountId::from_stored(account.to_owned())),
            detail: serde_json::json!({ "tin": tin, "role": role, "action": action }),
        },
    )
}

/// Ends a membership row (keeping it for the record) so the same role can be given again.
fn end(conn: &mut DbConnection, tin: &str, account: &str, role: &str, now: i64) -> Result<usize, StoreError> {
    Ok(diesel::update(memberships::table.find((tin, account, role)))
        .filter(memberships::ended_at.is_null())
        .set(memberships::ended_at.eq(Some(now)))
        .execute(conn)?)
}

impl LegalRepository for Store {
    fn link_legal_entity(
        &self,
        e: &LegalEntity,
        head: &AccountId,
        title: Option<&str>,
        now: i64,
    ) -> Result<(), AccountError> {
        let tin = e.tin.as_str();
        Ok(self.transaction(|conn| {
            // Write first: the entity row (insert, or rename by the latest certificate).
            let updated = diesel::update(legal_entities::table.find(tin))
                .set((legal_entities::name.eq(&e.name), legal_entities::short_name.eq(&e.short_name)))
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(legal_entities::table)
                    .values((
                        legal_entities::tin.eq(tin),
                        legal_entities::name.eq(&e.name),
                        legal_entities::short_name.eq(&e.short_name),
                        legal_entities::linked_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            // A newer head takes over: the previous head's role ends.
            let previous: Vec<String> = memberships::table
                .filter(memberships::tin.eq(tin))
                .filter(memberships::role.eq(HEAD_ROLE))
                .filter(memberships::ended_at.is_null())
                .filter(memberships::account_id.ne(head.as_str()))
                .select(memberships::account_id)
                .load(conn)?;
            for old in &previous {
                end(conn, tin, old, HEAD_ROLE, now)?;
                record(conn, tin, old, HEAD_ROLE, "replaced", Some(head.as_str()), now)?;
            }
            let already = memberships::table
                .find((tin, head.as_str(), HEAD_ROLE))
                .filter(memberships::ended_at.is_null())
                .count()
                .get_result::<i64>(conn)?;
            if already == 0 {
                diesel::delete(memberships::table.find((tin, head.as_str(), HEAD_ROLE))).execute(conn)?;
                diesel::insert_into(memberships::table)
                    .values((
                        memberships::tin.eq(tin),
                        memberships::account_id.eq(head.as_str()),
                        memberships::role.eq(HEAD_ROLE),
                        memberships::title.eq(title),
                        memberships::granted_by.eq(None::<String>),
                        memberships::granted_at.eq(now),
                        memberships::expires_at.eq(None::<i64>),
                        memberships::ended_at.eq(None::<i64>),
                    ))
                    .execute(conn)?;
                record(conn, tin, head.as_str(), HEAD_ROLE, "linked", Some(head.as_str()), now)?;
            }
            Ok(())
        })?)
    }

    fn find_legal_entity(&self, tin: &Tin) -> Result<Option<LegalEntity>, AccountError> {
        let row = legal_entities::table
            .find(tin.as_str())
            .get_result::<EntityRow>(&mut *self.conn()?)
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.map(entity).transpose()?)
    }

    fn list_legal_entities(&self) -> Result<Vec<LegalEntity>, AccountError> {
        let rows = legal_entities::table
            .order(legal_entities::tin.asc())
            .load::<EntityRow>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(entity).collect::<Result<_, _>>()?)
    }

    fn memberships_of(&self, account: &AccountId, now: i64) -> Result<Vec<(LegalEntity, Membership)>, AccountError> {
        let rows = memberships::table
            .inner_join(legal_entities::table)
            .filter(memberships::account_id.eq(account.as_str()))
            .filter(memberships::ended_at.is_null())
            .filter(memberships::expires_at.is_null().or(memberships::expires_at.gt(now)))
            .order((memberships::tin.asc(), memberships::role.asc()))
            .select((legal_entities::all_columns, memberships::all_columns))
            .load::<(EntityRow, MembershipRow)>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(|(e, m)| Ok((entity(e)?, membership(m)?))).collect::<Result<_, StoreError>>()?)
    }

    fn members(&self, tin: &Tin, now: i64) -> Result<Vec<Membership>, AccountError> {
        let rows = memberships::table
            .filter(memberships::tin.eq(tin.as_str()))
            .filter(memberships::ended_at.is_null())
            .filter(memberships::expires_at.is_null().or(memberships::expires_at.gt(now)))
            .order(memberships::granted_at.asc())
            .load::<MembershipRow>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(membership).collect::<Result<_, _>>()?)
    }

    fn grant_role(&self, m: &Membership, now: i64) -> Result<(), AccountError> {
        let (tin, account) = (m.tin.as_str(), m.account_id.as_str());
        Ok(self.transaction(|conn| {
            diesel::delete(memberships::table.find((tin, account, m.role.as_str()))).execute(conn)?;
            diesel::insert_into(memberships::table)
                .values((
                    memberships::tin.eq(tin),
                    memberships::account_id.eq(account),
                    memberships::role.eq(&m.role),
                    memberships::title.eq(&m.title),
                    memberships::granted_by.eq(m.granted_by.as_ref().map(|a| a.as_str())),
                    memberships::granted_at.eq(m.granted_at),
                    memberships::expires_at.eq(m.expires_at),
                    memberships::ended_at.eq(None::<i64>),
                ))
                .execute(conn)?;
            record(conn, tin, account, &m.role, "granted", m.granted_by.as_ref().map(|a| a.as_str()), now)
        })?)
    }

    fn revoke_role(
        &self,
        tin: &Tin,
        account: &AccountId,
        role: &str,
        by: &AccountId,
        now: i64,
    ) -> Result<bool, AccountError> {
        Ok(self.transaction(|conn| {
            let ended = end(conn, tin.as_str(), account.as_str(), role, now)?;
            if ended > 0 {
                record(conn, tin.as_str(), account.as_str(), role, "revoked", Some(by.as_str()), now)?;
            }
            Ok(ended > 0)
        })?)
    }

    fn membership_events(&self, tin: &Tin) -> Result<Vec<MembershipEvent>, AccountError> {
        let rows = membership_events::table
            .filter(membership_events::tin.eq(tin.as_str()))
            .order(membership_events::at.asc())
            .select((
                membership_events::tin,
                membership_events::account_id,
                membership_events::role,
                membership_events::action,
                membership_events::by_account,
                membership_events::at,
            ))
            .load::<(String, String, String, String, Option<String>, i64)>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                Ok(MembershipEvent {
                    tin: Tin::try_from(r.0.as_str()).map_err(corrupt)?,
                    account_id: AccountId::from_stored(r.1),
                    role: r.2,
                    action: r.3,
                    by: r.4.map(AccountId::from_stored),
                    at: r.5,
                })
            })
            .collect::<Result<_, StoreError>>()?)
    }
}

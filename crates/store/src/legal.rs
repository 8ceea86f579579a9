//! [`LegalRepository`] over `legal_entities`, `memberships` and `membership_events`.

use diesel::prelude::*;
use serde_json::{json, Value};
use yagona_account::audit::{AuditEvent, AuditKind};
use yagona_account::legal::{
    HeadCertificate, LegalEntity, LegalRepository, Linked, Membership, MembershipEvent, Tin, HEAD_ROLE,
};
use yagona_account::{AccountError, AccountId};
use yagona_oidc::secrets::random_id;
use yagona_oidc::ActingAs;

use crate::audit::record_audit_in;
use crate::oidc::revoke_grant_in;
use crate::schema::{grants, legal_entities, membership_events, memberships, sessions};
use crate::{DbConnection, Store, StoreError};

type EntityRow = (String, String, String, i64);
type MembershipRow =
    (String, String, String, Option<String>, Option<String>, i64, Option<i64>, Option<i64>, Option<i64>);

/// Whether a grant may be used at `now`: not revoked, and the membership it acts under, if any,
/// live (not ended, not expired). Part of every query that uses a grant (code redemption,
/// refresh, userinfo, introspection), so a revoked grant or a role taken back, expired or
/// replaced stops at once, in the same round trip (architecture.md, "Live memberships").
#[diesel::dsl::auto_type(no_type_alias)]
pub(crate) fn grant_live(now: i64) -> _ {
    grants::revoked_at.is_null().and(
        grants::acting_tin.is_null().or(diesel::dsl::exists(
            memberships::table
                .filter(memberships::tin.nullable().eq(grants::acting_tin))
                .filter(memberships::account_id.eq(grants::account_id))
                .filter(memberships::role.nullable().eq(grants::acting_role))
                .filter(memberships::ended_at.is_null())
                .filter(memberships::expires_at.is_null().or(memberships::expires_at.gt(now))),
        )),
    )
}

/// [`grant_live`] as SQL for the PostgreSQL statements written as text: `$g` names the grants
/// row, `$1` is now.
macro_rules! grant_live_sql {
    ($g:literal) => {
        concat!(
            "(",
            $g,
            ".revoked_at IS NULL AND (",
            $g,
            ".acting_tin IS NULL OR EXISTS (SELECT 1 FROM memberships m WHERE m.tin = ",
            $g,
            ".acting_tin AND m.account_id = ",
            $g,
            ".account_id AND m.role = ",
            $g,
            ".acting_role AND m.ended_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > $1))))"
        )
    };
}
pub(crate) use grant_live_sql;

/// What ending a membership undoes: the grants that act under it are revoked, and sessions that
/// chose it forget the choice (the person is asked again at the next login). Returns how many
/// grants were revoked.
fn end_uses_of(conn: &mut DbConnection, tin: &str, account: &str, role: &str, now: i64) -> Result<usize, StoreError> {
    let ids: Vec<String> = grants::table
        .filter(grants::account_id.eq(account))
        .filter(grants::acting_tin.eq(tin))
        .filter(grants::acting_role.eq(role))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    for id in &ids {
        revoke_grant_in(conn, id, now)?;
    }
    let choices: Vec<(String, Option<String>)> = sessions::table
        .filter(sessions::account_id.eq(account))
        .filter(sessions::acting_as.is_not_null())
        .select((sessions::id_hash, sessions::acting_as))
        .load(conn)?;
    for (id_hash, choice) in choices {
        let chosen = choice.and_then(|c| serde_json::from_str::<ActingAs>(&c).ok());
        if matches!(chosen, Some(ActingAs::LegalEntity { tin: t, role: r, .. }) if t == tin && r == role) {
            diesel::update(sessions::table.find(&id_hash)).set(sessions::acting_as.eq(None::<String>)).execute(conn)?;
        }
    }
    Ok(ids.len())
}

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
        certificate_valid_from: row.8,
    })
}

/// Records a membership change in `membership_events` and the audit trail; `extra` adds facts
/// to the audit event's detail.
#[allow(clippy::too_many_arguments)]
fn record(
    conn: &mut DbConnection,
    tin: &str,
    account: &str,
    role: &str,
    action: &str,
    by: Option<&str>,
    at: i64,
    extra: Value,
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
    let mut detail = json!({ "tin": tin, "role": role, "action": action });
    if let (Some(detail), Value::Object(extra)) = (detail.as_object_mut(), extra) {
        detail.extend(extra);
    }
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
            detail,
        },
    )
}

/// Ends a membership row (keeping it for the record) so the same role can be given again, and
/// its uses ([`end_uses_of`]); `None` when it was not live, else how many grants were revoked.
fn end(conn: &mut DbConnection, tin: &str, account: &str, role: &str, now: i64) -> Result<Option<usize>, StoreError> {
    let ended = diesel::update(memberships::table.find((tin, account, role)))
        .filter(memberships::ended_at.is_null())
        .set(memberships::ended_at.eq(Some(now)))
        .execute(conn)?;
    if ended == 0 {
        return Ok(None);
    }
    Ok(Some(end_uses_of(conn, tin, account, role, now)?))
}

fn live_head(conn: &mut DbConnection, tin: &str, now: i64) -> Result<Option<Membership>, StoreError> {
    memberships::table
        .filter(memberships::tin.eq(tin))
        .filter(memberships::role.eq(HEAD_ROLE))
        .filter(memberships::ended_at.is_null())
        .filter(memberships::expires_at.is_null().or(memberships::expires_at.gt(now)))
        .order(memberships::granted_at.desc())
        .first::<MembershipRow>(conn)
        .optional()?
        .map(membership)
        .transpose()
}

impl LegalRepository for Store {
    fn link_legal_entity(
        &self,
        head: &HeadCertificate,
        account: &AccountId,
        replace: Option<&AccountId>,
        now: i64,
    ) -> Result<Linked, AccountError> {
        let (e, tin, account) = (&head.entity, head.entity.tin.as_str(), account.as_str());
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
            let linked = match live_head(conn, tin, now)? {
                // The head again (a renewed certificate, perhaps a new title): kept, renewed.
                Some(current) if current.account_id.as_str() == account => {
                    let newest = current.certificate_valid_from.map_or(head.valid_from, |v| v.max(head.valid_from));
                    diesel::update(memberships::table.find((tin, account, HEAD_ROLE)))
                        .set((memberships::title.eq(&head.title), memberships::certificate_valid_from.eq(Some(newest))))
                        .execute(conn)?;
                    return Ok(Linked::Again);
                }
                Some(current) if !current.is_replaced_by_certificate_from(head.valid_from) => {
                    return Err(StoreError::Refused(AccountError::CertificateNotLater))
                }
                Some(current) if replace != Some(&current.account_id) => {
                    return Err(StoreError::Refused(AccountError::ReplacementNotConfirmed))
                }
                Some(current) => {
                    let previous = current.account_id.as_str();
                    let revoked = end(conn, tin, previous, HEAD_ROLE, now)?.unwrap_or(0);
                    record(
                        conn,
                        tin,
                        previous,
                        HEAD_ROLE,
                        "replaced",
                        Some(account),
                        now,
                        json!({
                            "previous_title": current.title,
                            "previous_certificate_valid_from": current.certificate_valid_from,
                            "previous_head_since": current.granted_at,
                            "title": head.title,
                            "certificate_valid_from": head.valid_from,
                            "grants_revoked": revoked,
                        }),
                    )?;
                    Linked::Replaced { previous: current.account_id }
                }
                None => Linked::New,
            };
            diesel::delete(memberships::table.find((tin, account, HEAD_ROLE))).execute(conn)?;
            diesel::insert_into(memberships::table)
                .values((
                    memberships::tin.eq(tin),
                    memberships::account_id.eq(account),
                    memberships::role.eq(HEAD_ROLE),
                    memberships::title.eq(&head.title),
                    memberships::granted_by.eq(None::<String>),
                    memberships::granted_at.eq(now),
                    memberships::expires_at.eq(None::<i64>),
                    memberships::ended_at.eq(None::<i64>),
                    memberships::certificate_valid_from.eq(Some(head.valid_from)),
                ))
                .execute(conn)?;
            let detail = json!({ "title": head.title, "certificate_valid_from": head.valid_from });
            record(conn, tin, account, HEAD_ROLE, "linked", Some(account), now, detail)?;
            // A head's own other roles in the company end: a head holds no second role.
            let others: Vec<String> = memberships::table
                .filter(memberships::tin.eq(tin))
                .filter(memberships::account_id.eq(account))
                .filter(memberships::role.ne(HEAD_ROLE))
                .filter(memberships::ended_at.is_null())
                .select(memberships::role)
                .load(conn)?;
            for role in &others {
                let revoked = end(conn, tin, account, role, now)?.unwrap_or(0);
                record(conn, tin, account, role, "revoked", Some(account), now, json!({ "grants_revoked": revoked }))?;
            }
            Ok(linked)
        })?)
    }

    fn current_head(&self, tin: &Tin, now: i64) -> Result<Option<Membership>, AccountError> {
        Ok(live_head(&mut *self.conn()?, tin.as_str(), now)?)
    }

    fn end_expired_memberships(&self, now: i64) -> Result<usize, AccountError> {
        Ok(self.transaction(|conn| {
            let expired: Vec<(String, String, String, Option<i64>)> = memberships::table
                .filter(memberships::ended_at.is_null())
                .filter(memberships::expires_at.le(now))
                .select((memberships::tin, memberships::account_id, memberships::role, memberships::expires_at))
                .load(conn)?;
            for (tin, account, role, expired_at) in &expired {
                let revoked = end(conn, tin, account, role, now)?.unwrap_or(0);
                let detail = json!({ "expired_at": expired_at, "grants_revoked": revoked });
                record(conn, tin, account, role, "expired", None, now, detail)?;
            }
            Ok(expired.len())
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
            // Write first: an ended or expired row of the same role gives way; the grants that
            // still carry an expired one are revoked (a live one is only given a new expiry).
            let replaced = diesel::delete(memberships::table.find((tin, account, m.role.as_str())))
                .returning((memberships::ended_at, memberships::expires_at))
                .get_result::<(Option<i64>, Option<i64>)>(conn)
                .optional()?;
            if matches!(replaced, Some((ended, expires)) if ended.is_some() || expires.is_some_and(|at| at <= now)) {
                end_uses_of(conn, tin, account, &m.role, now)?;
            }
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
                    memberships::certificate_valid_from.eq(m.certificate_valid_from),
                ))
                .execute(conn)?;
            let by = m.granted_by.as_ref().map(|a| a.as_str());
            record(conn, tin, account, &m.role, "granted", by, now, json!({ "expires_at": m.expires_at }))
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
            let Some(revoked) = end(conn, tin.as_str(), account.as_str(), role, now)? else { return Ok(false) };
            let detail = json!({ "grants_revoked": revoked });
            record(conn, tin.as_str(), account.as_str(), role, "revoked", Some(by.as_str()), now, detail)?;
            Ok(true)
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

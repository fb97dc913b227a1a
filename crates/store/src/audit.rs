//! The audit log: one row per security-relevant event, append-only.

use crate::db::DbConnection;
use crate::error::StoreError;
use crate::rows::find_one;
use crate::rows::*;
use crate::schema::*;
use diesel::prelude::*;
use tessera_core::model::*;

type Conn = DbConnection;

pub fn insert(conn: &mut Conn, event: &AuditEvent) -> Result<(), StoreError> {
    diesel::insert_into(audit_events::table)
        .values(AuditEventRow::from_model(event))
        .execute(conn)?;
    Ok(())
}

pub fn of_realm(conn: &mut Conn, realm_id: &str) -> Result<Vec<AuditEvent>, StoreError> {
    audit_events::table
        .filter(audit_events::realm_id.eq(realm_id))
        .order((audit_events::created_at, audit_events::id))
        .select(AuditEventRow::as_select())
        .load::<AuditEventRow>(conn)?
        .into_models()
}

/// Conditions of an audit list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub target: Option<&'a str>,
}

/// Audit events of the realm ordered by `(created_at, id)` — oldest first, or newest first
/// when `newest_first` — strictly after the event `after` in that order.
pub fn list(
    conn: &mut Conn,
    realm_id: &str,
    filter: &AuditFilter<'_>,
    after: Option<(i64, &str)>,
    newest_first: bool,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut query = audit_events::table
        .filter(audit_events::realm_id.eq(realm_id))
        .select(AuditEventRow::as_select())
        .into_boxed();
    if let Some(a) = filter.actor {
        query = query.filter(audit_events::actor.eq(a.to_string()));
    }
    if let Some(a) = filter.action {
        query = query.filter(audit_events::action.eq(a.to_string()));
    }
    if let Some(t) = filter.target {
        query = query.filter(audit_events::target.eq(t.to_string()));
    }
    match (after, newest_first) {
        (Some((at, id)), false) => {
            query = query.filter(
                audit_events::created_at.gt(at).or(audit_events::created_at
                    .eq(at)
                    .and(audit_events::id.gt(id.to_string()))),
            );
        }
        (Some((at, id)), true) => {
            query = query.filter(
                audit_events::created_at.lt(at).or(audit_events::created_at
                    .eq(at)
                    .and(audit_events::id.lt(id.to_string()))),
            );
        }
        (None, _) => {}
    }
    query = if newest_first {
        query.order((audit_events::created_at.desc(), audit_events::id.desc()))
    } else {
        query.order((audit_events::created_at, audit_events::id))
    };
    query
        .limit(limit)
        .load::<AuditEventRow>(conn)?
        .into_models()
}

find_one!(
    /// One audit event of the realm.
    pub fn by_id(audit_events: realm_id, id) -> AuditEventRow as AuditEvent
);

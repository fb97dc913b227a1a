//! The audit log: one event per write, read oldest first (or newest first), keyset paged by
//! `(created_at, id)`.

use actix_web::web::Path;
use actix_web::{HttpRequest, web};
use serde::Serialize;
use tessera_core::model::AuditEvent;
use tessera_core::page::Page;
use tessera_store as store;
use tessera_store::DbConnection;

use crate::error::ApiError;
use crate::http::{self, ListQuery, Values};
use crate::http::{Caller, Reply};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/audit").route(web::get().to(list_audit)))
        .service(web::resource("/api/v1/audit/{id}").route(web::get().to(get_audit)));
}

#[derive(Serialize, utoipa::ToSchema)]
struct AuditJson {
    id: String,
    actor: String,
    action: String,
    target: String,
    source_addr: String,
    outcome: String,
    detail: String,
    created_at: String,
}

impl From<AuditEvent> for AuditJson {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            actor: e.actor,
            action: e.action,
            target: e.target,
            source_addr: e.source_addr,
            outcome: e.outcome,
            detail: e.detail,
            created_at: http::time_string(e.created_at),
        }
    }
}

/// One page request of the audit log, checked: the order, where the last page ended, and the
/// filter.
struct AuditQuery {
    newest_first: bool,
    after: Option<(i64, String)>,
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    size: i64,
}

impl AuditQuery {
    fn parse(req: &HttpRequest) -> Result<Self, ApiError> {
        let query = ListQuery::parse(req, &["actor", "action", "target"])?;
        let newest_first = match query.param("order") {
            None | Some("oldest") => false,
            Some("newest") => true,
            Some(other) => {
                return Err(ApiError::bad(
                    "order",
                    format!("{other:?} is not an order; use oldest or newest"),
                ));
            }
        };
        let after = query.page.after.as_deref().map(page_key).transpose()?;
        let value = |field: &str| query.filter_value(field).map(str::to_string);
        Ok(Self {
            newest_first,
            after,
            actor: value("actor"),
            action: value("action"),
            target: value("target"),
            size: query.page.size,
        })
    }

    /// One page more than asked, to tell whether there is another.
    fn rows(&self, conn: &mut DbConnection, realm_id: &str) -> Result<Vec<AuditEvent>, ApiError> {
        let filter = store::audit::AuditFilter {
            actor: self.actor.as_deref(),
            action: self.action.as_deref(),
            target: self.target.as_deref(),
        };
        let after = self.after.as_ref().map(|(at, id)| (*at, id.as_str()));
        Ok(store::audit::list(
            conn,
            realm_id,
            &filter,
            after,
            self.newest_first,
            self.size + 1,
        )?)
    }
}

/// The `(created_at, id)` of the last event served, as a page token carries it.
fn page_key(key: &str) -> Result<(i64, String), ApiError> {
    key.split_once(',')
        .and_then(|(at, id)| {
            let at = at.parse::<i64>().ok()?;
            tessera_core::id::is_uuid(id).then(|| (at, id.to_string()))
        })
        .ok_or_else(|| {
            ApiError::bad(
                "page_token",
                "is not a page token from the audit log; pass next_page_token unchanged",
            )
        })
}

/// The audit log, oldest first unless `order=newest`; the page token carries `(created_at, id)`
/// of the last event.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", summary = "List audit events",
    description = "Oldest first; `order=newest` lists newest first (pass the same `order` with every page). Needs `audit:read`. Filter fields: `actor`, `action`, `target`.",
    params(crate::openapi::ListParams, ("order" = Option<String>, Query, description = "`oldest` (default) or `newest`")),
    responses((status = 200, description = "One page of events", body = crate::openapi::ValuesPage<AuditJson>), crate::openapi::CommonErrors),
)]
async fn list_audit(caller: Caller) -> Reply {
    caller.require("audit:read")?;
    let query = AuditQuery::parse(&caller.req)?;
    let (size, realm_id) = (query.size, caller.realm_id());
    let rows = caller.read(move |c| query.rows(c, &realm_id)).await?;
    let page = Page::from_rows(rows, size, |e| format!("{},{}", e.created_at, e.id));
    Ok(http::ok(Values::from_page(page, AuditJson::from)))
}

#[utoipa::path(get, path = "/api/v1/audit/{id}", tag = "audit", summary = "Get an audit event",
    description = "Needs `audit:read`.",
    params(("id" = String, Path, description = "The event's id (a UUID)")),
    responses((status = 200, description = "The event", body = crate::openapi::ValueEnvelope<AuditJson>), crate::openapi::ItemErrors),
)]
async fn get_audit(caller: Caller, path: Path<String>) -> Reply {
    let event = caller.load_item("audit:read", &path, |c, realm_id, id| {
        store::audit::by_id(c, realm_id, id)?
            .ok_or_else(|| ApiError::NotFound(format!("audit event {id}")))
    });
    let event = event.await?;
    Ok(http::value(AuditJson::from(event)))
}

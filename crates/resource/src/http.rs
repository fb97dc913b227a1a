//! Request and response plumbing shared by every handler: the authenticated [`Caller`] (its
//! permission check, body, item read and write), JSON bodies with errors that name the field,
//! list envelopes and paging, ids and times, database calls off the async threads, and the
//! audit record every write leaves.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use tessera_core::clock::UnixTime;
use tessera_core::filter::{self, Condition};
use tessera_core::page::PageRequest;
use tessera_store::DbConnection;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::ResourceState;

/// Reads a JSON body (Content-Type application/json, at most the configured size, all of it
/// within the configured time, else 408) into `T`. Unknown fields and wrong types are 400s
/// whose message names the field.
pub async fn json_body<T: DeserializeOwned>(
    state: &ResourceState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    require_json_content_type(req)?;
    let body = read_body(state, payload).await?;
    // JSON may spell a NUL (`\u0000`); no stored text may hold one (PostgreSQL refuses it).
    if body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Err(ApiError::bad(
            "body",
            "text may not contain the NUL character (\\u0000)",
        ));
    }
    parse_json(&body)
}

fn require_json_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(ApiError::bad(
        "body",
        "send a JSON body with Content-Type: application/json",
    ))
}

/// The whole body, at most the configured size (413) and within the configured time (408):
/// a slow or endless sender cannot hold a worker.
async fn read_body(
    state: &ResourceState,
    mut payload: web::Payload,
) -> Result<web::BytesMut, ApiError> {
    let limit = state.settings.max_body_bytes;
    let timeout = state.settings.body_read_timeout;
    let read = async move {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad("body", format!("cannot read it: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    actix_web::rt::time::timeout(timeout, read)
        .await
        .map_err(|_| ApiError::BodyTimeout(timeout.as_secs()))?
}

/// `body` into `T`; a 400 names the field at fault.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        // The path names the field ("name", "team_roles[0].role_id"); serde's message says
        // what is wrong with it ("invalid type: integer `5`, expected a string").
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m)
            .to_string();
        if path == "." || path.is_empty() {
            ApiError::bad("body", message)
        } else {
            ApiError::bad(path, message)
        }
    })
}

/// For `Option<Option<T>>` body fields with `#[serde(default, deserialize_with = …)]`: tells
/// `null` (`Some(None)`: clear it, or back to the default) from an absent field (`None`: keep
/// it), which PATCH-like bodies need and serde's `Option` alone cannot express.
pub fn explicit<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// The application state as handlers take it.
pub type State = web::Data<ResourceState>;

/// What a handler answers: a response, or an [`ApiError`] that renders as one.
pub type Reply = Result<HttpResponse, ApiError>;

/// `{"value": …}`.
#[derive(Serialize)]
pub struct Value<T> {
    pub value: T,
}

/// The authenticated caller with the request it came with: what a handler needs before it
/// reads a body. Extracting it authenticates (401 before anything else).
pub(crate) struct Caller {
    pub(crate) principal: Principal,
    pub(crate) state: web::Data<ResourceState>,
    pub(crate) req: HttpRequest,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let principal = Principal::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let principal = principal.await?;
            let state = req
                .app_data::<web::Data<ResourceState>>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("resource state missing".into()))?;
            Ok(Self {
                principal,
                state,
                req,
            })
        })
    }
}

impl Caller {
    /// 403 unless the credential carries `permission`.
    pub(crate) fn require(&self, permission: &str) -> Result<(), ApiError> {
        self.principal.require(permission)
    }

    pub(crate) fn realm_id(&self) -> String {
        self.principal.realm_id.clone()
    }

    /// The paging and filter parameters, filtering on `filterable` fields.
    pub(crate) fn list_query(&self, filterable: &[&str]) -> Result<ListQuery, ApiError> {
        ListQuery::parse(&self.req, filterable)
    }

    /// Reads the JSON object body into `T`; its `id`, when sent, must be `path_id` (on
    /// create, `None`: the server assigns ids).
    pub(crate) async fn body<T: RequestBody>(
        &self,
        payload: web::Payload,
        path_id: Option<&str>,
    ) -> Result<T, ApiError> {
        let Object(body) = json_body::<Object<T>>(&self.state, &self.req, payload).await?;
        match (body.sent_id(), path_id) {
            (None, _) => Ok(body),
            (Some(_), None) => Err(ApiError::bad(
                "id",
                "is assigned by the server; leave it out",
            )),
            (Some(sent), Some(path)) if sent == path => Ok(body),
            (Some(_), Some(_)) => Err(ApiError::bad("id", "does not match the id in the path")),
        }
    }

    /// 403 unless the credential carries `permission`; then `load(conn, realm_id, id)` with
    /// the path's id (400 unless it is one) in the caller's realm: a GET of one item.
    pub(crate) async fn load_item<T, F>(
        &self,
        permission: &str,
        path: &web::Path<String>,
        load: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &str, &str) -> Result<T, ApiError> + Send + 'static,
    {
        self.require(permission)?;
        let (id, realm_id) = (path_id(path)?, self.realm_id());
        self.read(move |c| load(c, &realm_id, &id)).await
    }

    /// 403 unless the credential carries `permission`; then `act(conn, author, id)` with the
    /// path's id (400 unless it is one) in one write transaction: a DELETE of one item.
    pub(crate) async fn write_item<T, F>(
        &self,
        permission: &str,
        path: &web::Path<String>,
        act: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Author, &str) -> Result<T, ApiError> + Send + 'static,
    {
        self.require(permission)?;
        let id = path_id(path)?;
        self.write(move |c, by| act(c, by, &id)).await
    }

    /// Reads the JSON body into `T` (see [`json_body`]).
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        payload: web::Payload,
    ) -> Result<T, ApiError> {
        json_body(&self.state, &self.req, payload).await
    }

    /// Who writes, from where, and now.
    pub(crate) fn author(&self) -> Author {
        Author::of(&self.state, &self.req, self.principal.clone())
    }

    /// Runs `f` with a database connection, without a transaction.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    {
        with_db(&self.state, f).await
    }

    /// Runs `f` in one write transaction as the caller ([`Author`]).
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Author) -> Result<T, ApiError> + Send + 'static,
    {
        self.write_as(self.author(), f).await
    }

    /// Runs `f` in one write transaction as `author` (one the handler made earlier, so that
    /// what it stamped and the audit agree on the time).
    pub(crate) async fn write_as<T, F>(&self, author: Author, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Author) -> Result<T, ApiError> + Send + 'static,
    {
        write(&self.state, move |conn| f(conn, &author)).await
    }
}

/// `body` as JSON, 200.
pub fn ok<T: Serialize>(body: T) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

/// `{"value": …}`, 200: the answer of a read or an update of one object.
pub fn value<T: Serialize>(value: T) -> HttpResponse {
    HttpResponse::Ok().json(Value { value })
}

/// `{"value": …}`, 201: the answer of a create.
pub fn created<T: Serialize>(value: T) -> HttpResponse {
    HttpResponse::Created().json(Value { value })
}

/// `{}`, 200: done, nothing to say (a delete, an action).
pub fn done() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({}))
}

/// The path's `{id}`, which must be an id (400 naming `id` otherwise).
pub fn path_id(path: &web::Path<String>) -> Result<String, ApiError> {
    parse_id("id", path).map(str::to_string)
}

/// A request body that is a JSON object whose `id`, when sent, names what it is about.
pub(crate) trait RequestBody: DeserializeOwned {
    fn sent_id(&self) -> Option<&str>;
}

/// A body that must be a JSON object: serde's derived structs would also take an array (the
/// fields in order), which no such body is.
pub(crate) struct Object<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<T> ObjectVisitor<T> {
    fn refuse<E: de::Error>(self) -> Result<T, E> {
        Err(E::custom("must be a JSON object"))
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        self.refuse()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<T, E> {
        self.refuse()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        self.refuse()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        self.refuse()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        self.refuse()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        self.refuse()
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        self.refuse()
    }
}

/// `{"values": […], "next_page_token": "…", "has_more": …}`.
#[derive(Serialize)]
pub struct Values<T> {
    pub values: Vec<T>,
    pub next_page_token: String,
    pub has_more: bool,
}

impl<T> Values<T> {
    pub fn from_page<R>(page: tessera_core::page::Page<R>, map: impl FnMut(R) -> T) -> Self {
        let has_more = page.has_more();
        Self {
            values: page.items.into_iter().map(map).collect(),
            next_page_token: page.next_page_token,
            has_more,
        }
    }
}

/// The paging and filter parameters of a list request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub page: PageRequest,
    pub filter: Vec<Condition>,
    /// Every query parameter, for endpoint-specific ones.
    pub raw: Vec<(String, String)>,
}

impl ListQuery {
    /// Parses `page_size`, `page_token` and `filter` (on `filterable` fields).
    pub fn parse(req: &HttpRequest, filterable: &[&str]) -> Result<Self, ApiError> {
        let raw: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((k, _)) = raw
            .iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::bad(
                k.replace('\0', ""),
                "contains a NUL character, which no value can hold",
            ));
        }
        let get = |name: &str| raw.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let page = PageRequest::parse(get("page_size"), get("page_token"))?;
        let filter = match get("filter") {
            Some(f) => filter::parse(f, filterable)?,
            None => Vec::new(),
        };
        Ok(Self { page, filter, raw })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.raw
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn filter_value(&self, field: &str) -> Option<&str> {
        filter::value_of(&self.filter, field)
    }
}

/// A path id: ids are UUIDs, so anything else is a 400 naming the parameter.
pub fn parse_id<'a>(field: &str, id: &'a str) -> Result<&'a str, ApiError> {
    if tessera_core::id::is_uuid(id) {
        Ok(id)
    } else {
        Err(ApiError::bad(
            field,
            format!("{id:?} is not an id (a lowercase UUID)"),
        ))
    }
}

/// An RFC 3339 time from a request, as Unix seconds.
pub fn parse_time(field: &str, value: &str) -> Result<UnixTime, ApiError> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            ApiError::bad(
                field,
                format!("{value:?} is not an RFC 3339 time such as 2026-04-19T12:34:56Z"),
            )
        })
}

pub fn time_string(t: UnixTime) -> String {
    tessera_core::clock::rfc3339(t)
}

/// Runs `f` with a database connection on the blocking pool.
pub async fn with_db<T, F>(state: &ResourceState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
{
    let db = state.db.clone();
    web::block(move || {
        let mut conn = db.conn()?;
        f(&mut conn)
    })
    .await?
}

/// Runs `f` in one write transaction on the blocking pool, then forgets cached rights (the
/// write may have changed who may do what).
pub async fn write<T, F>(state: &ResourceState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
{
    let db = state.db.clone();
    let result = web::block(move || {
        let mut conn = db.conn()?;
        let mut outcome = None;
        let tx = tessera_store::db::write_tx(&mut conn, |c| match f(c) {
            Ok(v) => {
                outcome = Some(Ok(v));
                Ok(())
            }
            Err(e) => {
                outcome = Some(Err(e));
                Err(tessera_store::StoreError::Conflict("rolled back".into()))
            }
        });
        match (outcome, tx) {
            (Some(Ok(v)), Ok(())) => Ok(v),
            (Some(Err(e)), _) => Err(e),
            (_, Err(e)) => Err(ApiError::from(e)),
            (None, Ok(())) => Err(ApiError::Internal("transaction produced nothing".into())),
        }
    })
    .await?;
    state.invalidate_access();
    result
}

/// The author of a write: who (the principal), from where (its address, [`source_addr`]) and
/// when. Made once per request, before the write, and moved into it, so that every audit
/// event the write leaves records the same three.
#[derive(Clone)]
pub struct Author {
    pub principal: Principal,
    /// [`Principal::actor`], as the store's provisioning calls record it.
    pub name: String,
    pub source: String,
    pub now: UnixTime,
}

impl Author {
    pub fn of(state: &ResourceState, req: &HttpRequest, principal: Principal) -> Self {
        Self {
            name: principal.actor(),
            principal,
            source: source_addr(req),
            now: state.now(),
        }
    }

    pub fn realm_id(&self) -> &str {
        &self.principal.realm_id
    }

    /// The author as the store's provisioning calls (which audit by themselves) take it.
    pub fn store_actor(&self) -> tessera_store::provision::Actor<'_> {
        tessera_store::provision::Actor {
            name: &self.name,
            source_addr: &self.source,
        }
    }

    /// Records `action` on `target` ([`audit`]).
    pub fn audit(
        &self,
        conn: &mut DbConnection,
        action: &str,
        target: &str,
    ) -> Result<(), ApiError> {
        audit(
            conn,
            &self.principal,
            &self.source,
            action,
            target,
            self.now,
        )
    }

    /// Whether the author is the user `id` (no one may delete or disable herself).
    pub fn is_user(&self, id: &str) -> bool {
        self.principal.user_id.as_deref() == Some(id)
    }

    /// Records `action` on `target` with the fields that differ between two representations
    /// of it ([`changes`]).
    pub fn audit_difference<T: Serialize>(
        &self,
        conn: &mut DbConnection,
        (action, target): (&str, &str),
        before: &T,
        after: &T,
    ) -> Result<(), ApiError> {
        self.audit_change(conn, (action, target), &changes(before, after))
    }

    /// Records `action` on `target` with what it changed ([`audit_change`]).
    pub fn audit_change(
        &self,
        conn: &mut DbConnection,
        (action, target): (&str, &str),
        detail: &str,
    ) -> Result<(), ApiError> {
        audit_change(
            conn,
            &self.principal,
            &self.source,
            (action, target),
            detail,
            self.now,
        )
    }
}

/// Who did what to which, from where: one audit event per write.
pub fn audit(
    conn: &mut DbConnection,
    principal: &Principal,
    source_addr: &str,
    action: &str,
    target: &str,
    now: UnixTime,
) -> Result<(), ApiError> {
    tessera_store::provision::audit(
        conn,
        &principal.realm_id,
        &tessera_store::provision::Actor {
            name: &principal.actor(),
            source_addr,
        },
        action,
        target,
        now,
    )?;
    Ok(())
}

/// [`audit`] with a `detail`: what the write changed ([`changes`]).
pub fn audit_change(
    conn: &mut DbConnection,
    principal: &Principal,
    source_addr: &str,
    (action, target): (&str, &str),
    detail: &str,
    now: UnixTime,
) -> Result<(), ApiError> {
    tessera_store::provision::audit_event(
        conn,
        &principal.realm_id,
        &tessera_store::provision::Actor {
            name: &principal.actor(),
            source_addr,
        },
        &tessera_store::provision::Audited {
            action,
            target,
            outcome: "success",
            detail,
        },
        now,
    )?;
    Ok(())
}

/// Fields that change with every write and say nothing about what changed.
const UNAUDITED_FIELDS: &[&str] = &["updated_at", "updated_by"];

/// What a write changed, for an audit event's `detail`: compact JSON
/// `{"field": {"from": …, "to": …}}` of each top-level field that differs between the two
/// representations. Callers pass what the API returns, which never holds a secret or a hash.
pub fn changes<T: Serialize>(before: &T, after: &T) -> String {
    let (Ok(serde_json::Value::Object(b)), Ok(serde_json::Value::Object(a))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return String::new();
    };
    let mut changed = serde_json::Map::new();
    for (field, to) in &a {
        if UNAUDITED_FIELDS.contains(&field.as_str()) {
            continue;
        }
        let from = b.get(field).unwrap_or(&serde_json::Value::Null);
        if from != to {
            changed.insert(field.clone(), serde_json::json!({"from": from, "to": to}));
        }
    }
    for (field, from) in &b {
        if !a.contains_key(field) && !UNAUDITED_FIELDS.contains(&field.as_str()) {
            changed.insert(field.clone(), serde_json::json!({"from": from, "to": null}));
        }
    }
    serde_json::Value::Object(changed).to_string()
}

/// The client's address for the audit log, by the same rule as the issuer's throttles
/// ([`tessera_core::net::client_address`]). A request the console of this process relays
/// carries the browser's address, determined by the console with the same rule, and the
/// process's relay secret; without that secret the relayed address is ignored, so no other
/// caller can choose the address it is audited with.
pub fn source_addr(req: &HttpRequest) -> String {
    let state = req.app_data::<web::Data<ResourceState>>();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(secret) = state.and_then(|s| s.settings.relay_secret.as_ref())
        && let Some(addr) = secret.relayed_address(
            header(tessera_core::net::RELAY_SECRET_HEADER),
            header(tessera_core::net::RELAYED_CLIENT_HEADER),
        )
    {
        return addr.to_string();
    }
    let trust = state.is_some_and(|s| s.settings.trust_forwarded_headers);
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    tessera_core::net::client_address(req.peer_addr().map(|a| a.ip()), forwarded, trust)
        .map(|a| a.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_each_changed_field_with_both_values() {
        let before = serde_json::json!({"name": "a", "roles": ["x"], "updated_at": "1", "gone": 1});
        let after = serde_json::json!({"name": "a", "roles": ["x", "y"], "updated_at": "2"});
        let detail: serde_json::Value =
            serde_json::from_str(&changes(&before, &after)).unwrap_or_default();
        assert_eq!(
            detail,
            serde_json::json!({
                "roles": {"from": ["x"], "to": ["x", "y"]},
                "gone": {"from": 1, "to": null},
            })
        );
        assert_eq!(changes(&before, &before), "{}");
    }
}

//! What every page shares: who is signed in and what they may reach, the page frame, and
//! small formatting helpers for the templates.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use std::collections::BTreeSet;

use crate::ConsoleState;
use crate::api::Api;
use crate::error::ConsoleError;
use crate::forms::FormData;
use crate::session::Session;

pub fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// A page rendered into a response with `status`.
pub fn render(
    status: StatusCode,
    page: impl askama::Template,
) -> Result<HttpResponse, ConsoleError> {
    Ok(html(status, page.render()?))
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A membership as the API reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Membership {
    pub team_id: String,
    pub team_name: String,
    pub role_id: String,
    pub role_name: String,
}

/// The signed-in person: their live permissions and memberships, read from the API.
pub struct Me {
    pub user_id: String,
    pub name: String,
    pub permissions: BTreeSet<String>,
    pub memberships: Vec<Membership>,
}

#[derive(Deserialize)]
struct AuthTest {
    user_id: String,
}

#[derive(Deserialize)]
struct PermissionList {
    permissions: Vec<String>,
}

#[derive(Deserialize)]
struct Profile {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    team_roles: Vec<Membership>,
}

impl Me {
    pub async fn load(api: &Api<'_>) -> Result<Self, ConsoleError> {
        let who: AuthTest = api.get("/v1/auth/test").await?;
        let (permissions, profile) = futures_util::future::join(
            api.get::<PermissionList>(&format!("/api/v1/users/{}/permissions", who.user_id)),
            api.get::<Profile>(&format!("/api/v1/users/{}", who.user_id)),
        )
        .await;
        let permissions = permissions?.permissions.into_iter().collect();
        // Reading one's own profile needs `user:read`; without it the console still works,
        // it just cannot offer the team-scoped actions.
        let (name, memberships) = match profile {
            Ok(p) => (
                p.display_name.filter(|d| !d.is_empty()).unwrap_or(p.name),
                p.team_roles,
            ),
            Err(ConsoleError::Api(_)) => (who.user_id.clone(), Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(Self {
            user_id: who.user_id,
            name,
            permissions,
            memberships,
        })
    }

    pub fn can(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    /// The API's notion of an administrator: the `admin` role somewhere and `user:write`.
    pub fn is_admin(&self) -> bool {
        self.memberships.iter().any(|m| m.role_name == "admin") && self.can("user:write")
    }

    /// Teams whose keys this person may manage: as the API decides it (admins: every team;
    /// otherwise teams where they are admin or operator). Used only to decide what to show.
    pub fn manages_team_keys_of(&self, team_id: &str) -> bool {
        self.is_admin()
            || self.memberships.iter().any(|m| {
                m.team_id == team_id && (m.role_name == "admin" || m.role_name == "operator")
            })
    }

    pub fn may_create_team_keys(&self) -> bool {
        self.can("api_key:create")
            && (self.is_admin()
                || self
                    .memberships
                    .iter()
                    .any(|m| m.role_name == "admin" || m.role_name == "operator"))
    }

    /// The person's teams, once each, in membership order.
    pub fn teams(&self) -> Vec<(String, String)> {
        let mut seen = BTreeSet::new();
        self.memberships
            .iter()
            .filter(|m| seen.insert(m.team_id.clone()))
            .map(|m| (m.team_id.clone(), m.team_name.clone()))
            .collect()
    }
}

/// The frame around every signed-in page.
pub struct Layout {
    pub realm: String,
    pub base: String,
    pub user_name: String,
    pub csrf: String,
    /// Which navigation entry is current.
    pub section: &'static str,
    pub show_users: bool,
    pub show_teams: bool,
    pub show_roles: bool,
    pub show_clients: bool,
    pub show_audit: bool,
    /// A one-line confirmation of the last action (from a fixed list, never from the URL).
    pub notice: Option<&'static str>,
}

impl Layout {
    pub fn new(session: &Session, me: &Me, section: &'static str, req: &HttpRequest) -> Self {
        Self {
            realm: session.realm.clone(),
            base: session.base.clone(),
            user_name: me.name.clone(),
            csrf: session.csrf.clone(),
            section,
            show_users: me.can("user:read"),
            show_teams: me.can("team:read"),
            show_roles: me.can("role:read"),
            show_clients: me.can("client:read"),
            show_audit: me.can("audit:read"),
            notice: notice(req),
        }
    }
}

/// `?done=…` after a redirect, mapped to a fixed sentence.
fn notice(req: &HttpRequest) -> Option<&'static str> {
    let done = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.into_owned())?;
    Some(match done.as_str() {
        "renamed" => "The key was renamed.",
        "revoked" => "The key was revoked: it no longer authenticates.",
        "reinstated" => "The key was reinstated: it authenticates again.",
        "deleted" => "The key was deleted.",
        "user-created" => "The user was created.",
        "user-enabled" => "The user was enabled.",
        "user-disabled" => "The user was disabled: their tokens and keys stop working.",
        "memberships" => "The user's team roles were saved.",
        "second-factors-removed" => {
            "The user's second factors were removed: the next sign-in asks for a new one if the policy requires it."
        }
        "team-created" => "The team was created.",
        "client-updated" => "The client was saved.",
        _ => return None,
    })
}

/// Everything a signed-in page starts from.
pub struct Context<'a> {
    pub session: Session,
    pub me: Me,
    pub state: &'a ConsoleState,
}

impl<'a> Context<'a> {
    pub async fn load(state: &'a ConsoleState, req: &HttpRequest) -> Result<Self, ConsoleError> {
        let session = Session::require(state, req).await?;
        let me = Me::load(&Api::new(state, &session)).await?;
        Ok(Self { session, me, state })
    }

    /// A form post's start: the signed-in context, then the form, accepted only with the
    /// session's CSRF token (the session is checked before the body is read).
    pub async fn load_form(
        state: &'a ConsoleState,
        req: &HttpRequest,
        payload: actix_web::web::Payload,
    ) -> Result<(Self, FormData), ConsoleError> {
        let ctx = Self::load(state, req).await?;
        let form = FormData::read(state, payload).await?;
        ctx.session.check_csrf(&form)?;
        Ok((ctx, form))
    }

    pub fn api(&self) -> Api<'_> {
        Api::new(self.state, &self.session)
    }

    pub fn layout(&self, section: &'static str, req: &HttpRequest) -> Layout {
        Layout::new(&self.session, &self.me, section, req)
    }

    /// A console URL in this realm.
    pub fn url(&self, rest: &str) -> String {
        format!("{}{rest}", self.session.base)
    }

    /// A redirect (303) to a console URL in this realm.
    pub fn redirect(&self, rest: &str) -> HttpResponse {
        see_other(&self.url(rest))
    }
}

/// `2026-11-23T18:36:40Z` → `2026-11-23 18:36 UTC`, for tables.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(hm)) if rfc3339.as_bytes().get(10) == Some(&b'T') => {
            format!("{date} {hm} UTC")
        }
        _ => rfc3339.to_string(),
    }
}

pub fn short_time_or(value: &Option<String>, empty: &str) -> String {
    value
        .as_deref()
        .map_or_else(|| empty.to_string(), short_time)
}

/// An API list path with the page token, when there is one.
pub fn paged(path: &str, page_token: &str) -> String {
    if page_token.is_empty() {
        path.to_string()
    } else {
        format!("{path}&page_token={}", encode(page_token))
    }
}

/// A query-string value, percent-encoded.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shortened() {
        assert_eq!(short_time("2026-11-23T18:36:40Z"), "2026-11-23 18:36 UTC");
        assert_eq!(short_time("soon"), "soon");
        assert_eq!(short_time_or(&None, "never"), "never");
    }
}

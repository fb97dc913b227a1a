//! Calls to the resource API with the signed-in person's access token. The API decides what
//! is allowed; the console shows its answer, and puts a refusal next to the field it names.

use actix_web::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::session::Session;

/// A refusal from the API: `{"error", "error_description", "field"}` and its status.
#[derive(Debug, Clone)]
pub struct ApiProblem {
    pub status: StatusCode,
    pub error: String,
    pub description: String,
    /// The request field at fault, as the API names it in `field` (on its 400s).
    pub field: Option<String>,
}

impl ApiProblem {
    /// The request field the API named, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The description without its leading `field: `, for showing next to that field.
    pub fn message(&self) -> &str {
        self.field
            .as_deref()
            .and_then(|f| self.description.strip_prefix(f))
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(&self.description)
    }

    /// A refusal's body as the API sends it; what it lacks is filled in.
    fn from_answer(status: StatusCode, body: &[u8]) -> Self {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        Self {
            status,
            error: v["error"].as_str().unwrap_or("server_error").to_string(),
            description: v["error_description"]
                .as_str()
                .unwrap_or("the API gave no reason")
                .to_string(),
            field: v["field"].as_str().map(str::to_string),
        }
    }

    /// Refusals about the input, which a form shows instead of an error page.
    pub fn is_input_problem(&self) -> bool {
        matches!(
            self.status,
            StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::FORBIDDEN
        )
    }
}

/// Splits off the refusals a form shows next to its fields (see
/// [`ApiProblem::is_input_problem`]); any other failure stays an error page.
pub fn form_refusal<T>(
    answer: Result<T, ConsoleError>,
) -> Result<Result<T, ApiProblem>, ConsoleError> {
    refusal_if(answer, ApiProblem::is_input_problem)
}

/// Splits off the API refusals that `shown` picks, for the page to show; any other failure
/// stays an error page.
pub fn refusal_if<T>(
    answer: Result<T, ConsoleError>,
    shown: impl FnOnce(&ApiProblem) -> bool,
) -> Result<Result<T, ApiProblem>, ConsoleError> {
    match answer {
        Ok(value) => Ok(Ok(value)),
        Err(ConsoleError::Api(p)) if shown(&p) => Ok(Err(p)),
        Err(e) => Err(e),
    }
}

/// The API as one signed-in person.
pub struct Api<'a> {
    state: &'a ConsoleState,
    session: &'a Session,
}

/// An API answer with the `X-Next-Page-Token` header of the bare-array lists.
pub struct WithNext<T> {
    pub body: T,
    pub next_page_token: Option<String>,
}

impl<'a> Api<'a> {
    pub fn new(state: &'a ConsoleState, session: &'a Session) -> Self {
        Self { state, session }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ConsoleError> {
        Ok(self.call(reqwest::Method::GET, path, None).await?.body)
    }

    pub async fn get_with_next<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<WithNext<T>, ConsoleError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ConsoleError> {
        Ok(self.call(method, path, body).await?.body)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<WithNext<T>, ConsoleError> {
        let resp = self
            .request(method, path, body)
            .send()
            .await
            .map_err(|e| ConsoleError::Upstream(format!("cannot reach the API: {e}")))?;
        let status = StatusCode::from_u16(resp.status().as_u16())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let next_page_token = resp
            .headers()
            .get("x-next-page-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ConsoleError::Upstream(format!("cannot read the API's answer: {e}")))?;
        if status == StatusCode::UNAUTHORIZED {
            // Expired, revoked, or the person was disabled: sign in again (a disabled person
            // is stopped by the issuer, with its own message).
            return Err(self.session.sign_in_again());
        }
        if !status.is_success() {
            return Err(ConsoleError::Api(ApiProblem::from_answer(status, &bytes)));
        }
        // 204 No Content reads as JSON `null` (callers of such calls ask for a `Value`).
        let text: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        let body = serde_json::from_slice(text).map_err(|e| {
            ConsoleError::Upstream(format!("the API answered {path} unexpectedly: {e}"))
        })?;
        Ok(WithNext {
            body,
            next_page_token,
        })
    }

    /// The request with the person's token and, for the API's audit log, the browser's
    /// address (believed only with the relay secret).
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let url = format!(
            "{}{path}",
            self.state.settings.api_internal_url.trim_end_matches('/')
        );
        let mut request = self
            .state
            .http
            .request(method, &url)
            .bearer_auth(&self.session.access_token);
        if let Some(addr) = self.session.client_addr {
            request = request
                .header(
                    tessera_core::net::RELAY_SECRET_HEADER,
                    self.state.settings.relay_secret.value(),
                )
                .header(tessera_core::net::RELAYED_CLIENT_HEADER, addr.to_string());
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(description: &str, field: Option<&str>) -> ApiProblem {
        ApiProblem {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request".into(),
            description: description.into(),
            field: field.map(str::to_string),
        }
    }

    #[test]
    fn the_named_field_is_split_off_the_message() {
        let p = problem("expires_at: must be in the future", Some("expires_at"));
        assert_eq!(p.field(), Some("expires_at"));
        assert_eq!(p.message(), "must be in the future");
        let p = problem(
            "team_roles[0].role_id: no such role",
            Some("team_roles[0].role_id"),
        );
        assert_eq!(p.field(), Some("team_roles[0].role_id"));
        assert_eq!(p.message(), "no such role");
        let p = problem("this request needs the api_key:create permission", None);
        assert_eq!(p.field(), None);
        assert_eq!(
            p.message(),
            "this request needs the api_key:create permission"
        );
    }

    #[test]
    fn only_the_field_member_names_a_field() {
        // A description shaped like `word: …` names no field unless the API says so.
        let p = problem("name: must not be empty", None);
        assert_eq!(p.field(), None);
        assert_eq!(p.message(), "name: must not be empty");
        // A field the description does not start with leaves the description whole.
        let p = problem("must not be empty", Some("name"));
        assert_eq!(p.field(), Some("name"));
        assert_eq!(p.message(), "must not be empty");
    }
}

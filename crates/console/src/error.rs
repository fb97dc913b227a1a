//! The console's one error type, and how each case reaches the browser: a sign-in redirect,
//! or an error page with the status the API (or the console) chose.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::api::ApiProblem;
use crate::view;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No usable session: send the browser through sign-in, then back.
    #[error("sign-in needed")]
    SignIn { login_url: String },
    /// The API refused; its status and description are shown.
    #[error("{}", .0.description)]
    Api(ApiProblem),
    /// A request the console itself cannot accept (a stale form, a missing field).
    #[error("{0}")]
    BadRequest(String),
    /// Sign-in could not complete (the issuer refused, or the answer was not as expected);
    /// `retry` starts a new one.
    #[error("{message}")]
    SignInFailed { message: String, retry: String },
    /// The form did not all arrive within this many seconds: 408, and the connection closes.
    #[error("the form did not arrive within {0} seconds")]
    BodyTimeout(u64),
    /// The API or the issuer could not be reached.
    #[error("{0}")]
    Upstream(String),
    #[error("cannot render the page: {0}")]
    Render(#[from] askama::Error),
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    /// A link to start over, when there is one.
    retry: Option<&'a str>,
}

impl ConsoleError {
    /// The error page's title and message (not for `SignIn`, which redirects).
    fn title_and_message(&self) -> (&'static str, String) {
        match self {
            Self::SignIn { .. } => ("Sign-in needed", String::new()),
            Self::Api(p) if p.status == StatusCode::FORBIDDEN => {
                ("Not allowed", p.description.clone())
            }
            Self::Api(p) if p.status == StatusCode::NOT_FOUND => {
                ("Not found", p.description.clone())
            }
            Self::Api(p) => ("The request was refused", p.description.clone()),
            Self::BadRequest(m) => ("The request was refused", m.clone()),
            Self::SignInFailed { message, .. } => ("Sign-in failed", message.clone()),
            Self::BodyTimeout(secs) => (
                "The form did not arrive",
                format!(
                    "The form did not arrive within {secs} seconds. Check your connection and send it again."
                ),
            ),
            Self::Upstream(m) => {
                tracing::warn!(error = %m, "console: upstream failure");
                ("Temporarily unavailable", m.clone())
            }
            Self::Render(e) => {
                tracing::error!(error = %e, "console: cannot render a page");
                (
                    "Something went wrong",
                    "The page could not be shown.".to_string(),
                )
            }
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::Api(p) => p.status,
            Self::BadRequest(_) | Self::SignInFailed { .. } => StatusCode::BAD_REQUEST,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::SignIn { login_url } = self {
            return view::see_other(login_url);
        }
        let (title, message) = self.title_and_message();
        let retry = match self {
            Self::SignInFailed { retry, .. } => Some(retry.as_str()),
            _ => None,
        };
        let html = ErrorPage {
            title,
            message: &message,
            retry,
        }
        .render()
        .unwrap_or_else(|_| message.clone());
        let mut resp = view::html(self.status_code(), html);
        if matches!(self, Self::BodyTimeout(_)) {
            // The rest of the body may still come: it must not be read as a request.
            resp.head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        resp
    }
}

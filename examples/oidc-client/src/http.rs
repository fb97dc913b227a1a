//! `openidconnect`'s HTTP client interface implemented over the workspace's reqwest, so the
//! crate needs none of its own (its `reqwest` feature would bring a second reqwest).

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse, http};
use std::future::Future;
use std::pin::Pin;

/// Responses larger than this are refused: discovery documents, JWKS, token and userinfo
/// responses are a few kilobytes.
const MAX_BODY: usize = 1024 * 1024;

/// An HTTP client for the `openidconnect` crate. It never follows redirects (the crate's
/// advice: following them opens the client up to SSRF).
#[derive(Clone, Debug)]
pub struct Http(reqwest::Client);

impl Http {
    pub fn new() -> Result<Self, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map(Self)
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum HttpError {
    Reqwest(reqwest::Error),
    Http(http::Error),
    TooLarge,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Reqwest(e) => write!(f, "{e}"),
            HttpError::Http(e) => write!(f, "{e}"),
            HttpError::TooLarge => write!(f, "response body larger than {MAX_BODY} bytes"),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Display already shows the wrapped error; go on with its causes.
            HttpError::Reqwest(e) => e.source(),
            HttpError::Http(e) => e.source(),
            HttpError::TooLarge => None,
        }
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(HttpError::Reqwest)?;
            let mut response = self.0.execute(request).await.map_err(HttpError::Reqwest)?;
            let mut builder = http::Response::builder()
                .status(response.status())
                .version(response.version());
            if let Some(headers) = builder.headers_mut() {
                headers.extend(response.headers().clone());
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(HttpError::Reqwest)? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(HttpError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            builder.body(body).map_err(HttpError::Http)
        })
    }
}

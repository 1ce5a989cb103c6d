//! HTTP answers shared by the functions: `application/problem+json` (RFC 9457) errors with a
//! stable `code`, and JSON bodies.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer. `code` is stable and machine-readable; `detail` is for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
    pub retry_after_secs: Option<u64>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            extra: Map::new(),
            retry_after_secs: None,
        }
    }

    /// Adds a member to the problem document.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.extra.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            Value::String(format!("urn:ralio-idv:problem:{}", self.code)),
        );
        body.insert("title".into(), Value::String(self.title.into()));
        body.insert("status".into(), Value::from(self.status.as_u16()));
        body.insert("code".into(), Value::String(self.code.into()));
        body.insert("detail".into(), Value::String(self.detail.clone()));
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A JSON answer with a status.
pub fn json(status: StatusCode, body: impl Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

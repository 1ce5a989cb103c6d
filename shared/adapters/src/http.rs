//! The functions share these HTTP answers: `application/problem+json` (RFC 9457) errors with a
//! stable `code`, JSON bodies, the user id in the path, and the one mapping of store failures to
//! answers.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idv_model::Uid;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::store::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// This is an error answer. Its `code` is stable and machine-readable, and its `detail` is for
/// people.
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

/// Returns a JSON answer with a status.
pub fn json(status: StatusCode, body: impl Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Returns the answer for a method that a route does not take. The router adds `Allow`, and the
/// webhook, whose only method is POST, adds it itself.
pub fn method_not_allowed(detail: &'static str) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        detail,
    )
}

/// Answers a merchant route's method that it does not take with a problem document rather than an
/// empty 405 (`Router::method_not_allowed_fallback`).
pub async fn route_method_not_allowed() -> Problem {
    method_not_allowed("This route does not take that method; see the Allow header.")
}

/// Returns the answer for a user id in the path that is not a UUID.
pub fn invalid_uid() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_uid",
        "Invalid user id",
        "The user id must be a Ralio user UUID.",
    )
    .with("field", "uid")
}

/// This is the parsed `{uid}` of a route's path. Anything but a hyphenated UUID (the spec's
/// `format: uuid`) is answered `invalid_uid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserId(pub Uid);

impl<S: Send + Sync> FromRequestParts<S> for UserId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid_uid())?;
        Uid::parse_hyphenated(&raw)
            .map(UserId)
            .map_err(|_| invalid_uid())
    }
}

/// This time is kept back from the Lambda invocation's deadline to record and send the answer.
pub const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);
/// This is a request's Ralio budget where there is no invocation deadline (the local runner). It
/// stays under API Gateway's 30 s, as on Lambda.
pub const LOCAL_BUDGET: std::time::Duration = std::time::Duration::from_secs(25);

/// Any deadline Lambda sends is later than this (2000-01-01 in epoch milliseconds).
const EPOCH_2000_MS: u64 = 946_684_800_000;

/// This is the deadline that a request's Ralio calls keep to: the Lambda invocation's, less
/// [`ANSWER_MARGIN`], so that a call can never outlast the invocation that must record its outcome.
#[derive(Debug, Clone, Copy)]
pub struct CallDeadline(pub crate::ralio::Deadline);

impl<S: Send + Sync> FromRequestParts<S> for CallDeadline {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        use crate::ralio::Deadline;
        let deadline = match parts.extensions.get::<lambda_http::Context>() {
            // Lambda sends the deadline as epoch milliseconds. cargo-lambda's emulator sends its
            // timeout instead (600000), which no epoch can be: that run is local, so it gets the
            // local budget rather than a deadline long past.
            Some(invocation) if invocation.deadline < EPOCH_2000_MS => {
                Deadline::after(LOCAL_BUDGET)
            }
            Some(invocation) => {
                let left_ms = (invocation.deadline as i64)
                    .saturating_sub(chrono::Utc::now().timestamp_millis())
                    .max(0) as u64;
                let left = std::time::Duration::from_millis(left_ms);
                Deadline::after(left.saturating_sub(ANSWER_MARGIN))
            }
            None => Deadline::after(LOCAL_BUDGET),
        };
        Ok(CallDeadline(deadline))
    }
}

/// Returns the answer for a store failure, which is the same from every function:
///
/// | fault | answer |
/// |---|---|
/// | unavailable (timeout, throttling, outage) | 503 `store_unavailable`, `Retry-After: 5` |
/// | refused as malformed, or a stored record that does not decode | 500 `internal_error` |
///
/// Both are 5xx, so Ralio retries a webhook either way, and nothing was half-written.
pub fn store_problem(err: &StoreError) -> Problem {
    tracing::error!(error = %err, "store failure");
    match err {
        StoreError::Unavailable(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "Temporarily unavailable",
            "The service's data could not be read or written; nothing was changed. Retry later.",
        )
        .retry_after(5),
        StoreError::Rejected(_) | StoreError::Corrupt(_) => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
            "A stored record could not be read or written; nothing was changed. An operator must look at it.",
        ),
    }
}

/// Returns the answer for a user who was erased: the merchant's routes answer it for ever after,
/// because nothing about the user may be created or shown again.
pub fn user_erased(erasure: &idv_model::Erasure) -> Problem {
    Problem::new(
        StatusCode::GONE,
        "user_erased",
        "User erased",
        "This user was erased; nothing about them is created or shown any more.",
    )
    .with("erasedAt", erasure.erased_at)
}

/// Returns the answer while a concurrent identical request is still creating the same thing.
pub fn creation_in_progress(detail: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "creation_in_progress",
        "Creation in progress",
        detail,
    )
    .retry_after(2)
}

/// This is how soon a merchant told `creation_uncertain` should ask again. Ralio's list (or an
/// activation) usually shows what it created within seconds, long before a new creation may happen.
pub const LOOK_AGAIN: chrono::Duration = chrono::Duration::seconds(10);

/// Returns the answer while Ralio may have created `what` and it is being confirmed, asking the
/// caller to try again after `retry_after`. The Ralio failure that made it uncertain, if this
/// request met one, is named and counted as a `RalioFailures` metric for `function`.
pub fn creation_uncertain(
    what: &str,
    retry_after: chrono::Duration,
    failure: Option<&crate::ralio::RalioError>,
    function: &str,
) -> Problem {
    let problem = Problem::new(
        StatusCode::CONFLICT,
        "creation_uncertain",
        "Creation not confirmed yet",
        format!(
            "Ralio may have created this {what}; it is being confirmed. Retry after the time \
             given: the answer will be the {what}, or a new creation once Ralio has shown none \
             for long enough."
        ),
    )
    .retry_after(retry_after.num_seconds().max(1) as u64);
    match failure {
        Some(failure) => {
            tracing::warn!(error = %failure, function, "Ralio call failed");
            crate::metrics::ralio_failure(function, failure.kind());
            problem.with("ralioFailure", failure.kind())
        }
        None => problem,
    }
}

/// Returns the answer for a failed Ralio call, which is also counted as a `RalioFailures` metric
/// for `function`. `rejected` is the status for Ralio's own 4xx refusals: 502 where the merchant
/// cannot act on it (creating a session), and 422 where it can (Ralio refused an account).
pub fn ralio_problem(
    err: &crate::ralio::RalioError,
    function: &str,
    rejected: StatusCode,
) -> Problem {
    use crate::ralio::RalioError;
    tracing::warn!(error = %err, function, "Ralio call failed");
    crate::metrics::ralio_failure(function, err.kind());
    match err {
        RalioError::Rejected { status, .. } => Problem::new(
            rejected,
            "ralio_rejected",
            "Ralio refused the request",
            format!("Ralio answered {status}."),
        )
        .with("ralioStatus", status),
        RalioError::UserNotFound => Problem::new(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "Unknown Ralio user",
            "Ralio does not know this user.",
        ),
        RalioError::Unauthorized => Problem::new(
            StatusCode::BAD_GATEWAY,
            "ralio_unauthorized",
            "Ralio refused our credentials",
            "The service's Ralio credentials were refused; an operator must fix them.",
        ),
        RalioError::BadResponse(_) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "ralio_bad_response",
            "Unexpected answer from Ralio",
            "Ralio's answer could not be understood.",
        ),
        RalioError::Unavailable(_)
        | RalioError::Unreachable(_)
        | RalioError::RateLimited
        | RalioError::OutOfTime => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ralio_unavailable",
            "Ralio unavailable",
            "Ralio is not reachable right now. Retry later.",
        )
        .retry_after(5),
        RalioError::Timeout => Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "ralio_timeout",
            "Ralio timed out",
            "Ralio did not answer in time. Retry later.",
        ),
    }
}

/// A request waiting for a concurrent one looks again this often.
pub const PEER_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Asks `probe` every [`PEER_POLL`] until it has an answer or `limit` has passed. A request that
/// found another one holding a lease waits for that one's result this way.
pub async fn wait_for_peer<T, E, F, Fut>(
    limit: std::time::Duration,
    mut probe: F,
) -> Result<Option<T>, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, E>>,
{
    let mut waited = std::time::Duration::ZERO;
    loop {
        if let Some(answer) = probe().await? {
            return Ok(Some(answer));
        }
        if waited >= limit {
            return Ok(None);
        }
        tokio::time::sleep(PEER_POLL).await;
        waited += PEER_POLL;
    }
}

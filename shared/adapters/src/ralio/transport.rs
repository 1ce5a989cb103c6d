//! One request to Ralio: the deadline it keeps to, its retries, and reading its answer.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use tokio::time::Instant;

use super::{RalioCall, RalioClient, RalioError};

/// The latest moment a Ralio call may still be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline beyond each request's own timeout.
    pub fn none() -> Self {
        Self(None)
    }

    pub fn at(instant: Instant) -> Self {
        Self(Some(instant))
    }

    pub fn after(budget: Duration) -> Self {
        Self(Some(Instant::now() + budget))
    }

    /// Time left; `None` when there is no deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn passed(&self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }

    /// `wanted`, cut to the time left.
    fn bound(&self, wanted: Duration) -> Duration {
        self.remaining().map_or(wanted, |left| wanted.min(left))
    }
}

impl RalioClient {
    /// Full jitter: a random wait up to the exponential bound.
    fn backoff(&self, attempt: u32) -> Duration {
        let bound = self
            .config
            .base_backoff
            .saturating_mul(1 << attempt.min(16))
            .min(self.config.max_backoff);
        bound.mul_f64(fastrand::f64())
    }
}

impl RalioCall<'_> {
    /// Sends with retries where they are safe, within the deadline. `idempotent` requests are
    /// retried on 429, 5xx, timeouts and connection errors; others only on connection errors
    /// and 429, where Ralio cannot have acted on them.
    pub(super) async fn send(
        &self,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RalioError> {
        let config = &self.client.config;
        let mut attempt = 0;
        let mut last = RalioError::OutOfTime;
        loop {
            if self.deadline.passed() {
                return Err(last);
            }
            attempt += 1;
            let timeout = self.deadline.bound(config.request_timeout);
            let (retryable, wait, error) = match build().timeout(timeout).send().await {
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let wait = retry_after(&response).map(|w| w.min(config.max_backoff));
                        (true, wait, RalioError::RateLimited)
                    } else if status.is_server_error() {
                        let error = RalioError::Unavailable(format!("status {status}"));
                        (idempotent, None, error)
                    } else {
                        return Ok(response);
                    }
                }
                Err(err) if err.is_timeout() => (idempotent, None, RalioError::Timeout),
                Err(err) if err.is_connect() => (
                    true,
                    None,
                    RalioError::Unreachable(err.without_url().to_string()),
                ),
                Err(err) => (
                    idempotent,
                    None,
                    RalioError::Unavailable(err.without_url().to_string()),
                ),
            };
            if !retryable || attempt >= config.max_attempts {
                return Err(error);
            }
            last = error;
            let pause = self
                .deadline
                .bound(wait.unwrap_or_else(|| self.client.backoff(attempt)));
            tokio::time::sleep(pause).await;
        }
    }
}

fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A 2xx JSON body, or the error the status stands for.
pub(super) async fn expect_json<T: for<'de> Deserialize<'de>>(
    response: Response,
) -> Result<T, RalioError> {
    let status = response.status();
    if status.is_redirection() {
        return Err(RalioError::BadResponse(format!("redirect {status}")));
    }
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(match status {
            StatusCode::UNAUTHORIZED => RalioError::Unauthorized,
            StatusCode::NOT_FOUND => RalioError::UserNotFound,
            s if s.is_client_error() => RalioError::Rejected {
                status: s.as_u16(),
                body: body.chars().take(500).collect(),
            },
            s => RalioError::Unavailable(format!("status {s}")),
        });
    }
    let bytes = response.bytes().await.map_err(|e| {
        if e.is_timeout() {
            RalioError::Timeout
        } else {
            RalioError::Unavailable(e.without_url().to_string())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| RalioError::BadResponse(describe_json_error(&e)))
}

/// What is wrong with a body Ralio sent, without quoting it: serde's messages quote the
/// offending value, which may be a hosted page's link or a person's name.
pub(super) fn describe_json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if message.starts_with("missing field") {
        message
    } else {
        format!(
            "{:?} error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        )
    }
}

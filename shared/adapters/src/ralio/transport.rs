//! This module sends one request to Ralio: the deadline it keeps to, its retries, and reading its
//! answer.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use backon::{Backoff, BackoffBuilder, ExponentialBuilder, Retryable};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use tokio::time::Instant;

use super::{RalioCall, RalioConfig, RalioError};

/// This is the latest moment that a Ralio call may still be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// Returns no deadline beyond each request's own timeout.
    pub fn none() -> Self {
        Self(None)
    }

    pub fn at(instant: Instant) -> Self {
        Self(Some(instant))
    }

    pub fn after(budget: Duration) -> Self {
        Self(Some(Instant::now() + budget))
    }

    /// Returns the time left, or `None` when there is no deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn passed(&self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }

    /// Returns `wanted`, cut to the time left.
    fn bound(&self, wanted: Duration) -> Duration {
        self.remaining().map_or(wanted, |left| wanted.min(left))
    }
}

/// Describes one attempt's failure, and whether and when another may follow.
struct Failure {
    error: RalioError,
    /// Says whether another attempt is safe: the request is idempotent, or Ralio cannot have acted.
    retryable: bool,
    /// Ralio's `Retry-After`, capped at `max_backoff`, is waited instead of the backoff.
    retry_after: Option<Duration>,
}

impl Failure {
    fn new(error: RalioError, retryable: bool) -> Self {
        Self {
            error,
            retryable,
            retry_after: None,
        }
    }
}

impl RalioCall<'_> {
    /// Sends with retries where they are safe, within the deadline. `idempotent` requests are
    /// retried on 429, 5xx, timeouts and connection errors, and others only on connection errors
    /// and 429, where Ralio cannot have acted on them.
    pub(super) async fn send(
        &self,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RalioError> {
        let (call, build) = (*self, &build);
        // backon shows the failure that a pause follows only to `notify`, yet the call ends
        // with that failure when the deadline passes during the pause.
        let before_pause = Mutex::new(None);
        let before_pause = &before_pause;
        let attempt = move || async move {
            if call.deadline.passed() {
                let last = before_pause
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                return Err(Failure::new(last.unwrap_or(RalioError::OutOfTime), false));
            }
            call.attempt(idempotent, build).await
        };
        attempt
            .retry(backoff(&self.client.config))
            .when(|failure| failure.retryable)
            // Ralio's own wait replaces the backoff, and no pause outlasts the deadline.
            .adjust(|failure, backoff| {
                backoff.map(|backoff| self.deadline.bound(failure.retry_after.unwrap_or(backoff)))
            })
            .notify(|failure, _| {
                *before_pause.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(failure.error.clone());
            })
            .await
            .map_err(|failure| failure.error)
    }

    /// Sends one request, with its timeout cut to the time left.
    async fn attempt(
        &self,
        idempotent: bool,
        build: &impl Fn() -> RequestBuilder,
    ) -> Result<Response, Failure> {
        let config = &self.client.config;
        let timeout = self.deadline.bound(config.request_timeout);
        let failure = match build().timeout(timeout).send().await {
            Ok(response) => {
                let status = response.status();
                if status == StatusCode::TOO_MANY_REQUESTS {
                    Failure {
                        error: RalioError::RateLimited,
                        retryable: true,
                        retry_after: retry_after(&response).map(|w| w.min(config.max_backoff)),
                    }
                } else if status.is_server_error() {
                    let error = RalioError::Unavailable(format!("status {status}"));
                    Failure::new(error, idempotent)
                } else {
                    return Ok(response);
                }
            }
            Err(err) if err.is_timeout() => Failure::new(RalioError::Timeout, idempotent),
            Err(err) if err.is_connect() => {
                Failure::new(RalioError::Unreachable(err.without_url().to_string()), true)
            }
            Err(err) => Failure::new(
                RalioError::Unavailable(err.without_url().to_string()),
                idempotent,
            ),
        };
        Err(failure)
    }
}

/// Returns the pauses after each attempt but the last. After attempt n, the pause is a uniform draw
/// below `base_backoff` × 2ⁿ (full jitter), with that bound capped at `max_backoff` and at 2¹⁶ ×
/// `base_backoff`. backon's exponential sequence gives the bounds, and the draw is made here
/// because backon's own jitter adds up to one more bound instead of drawing below it.
fn backoff(config: &RalioConfig) -> impl Backoff {
    let cap = config
        .max_backoff
        .min(config.base_backoff.saturating_mul(1 << 16));
    ExponentialBuilder::new()
        .with_min_delay(config.base_backoff.saturating_mul(2).min(cap))
        .with_factor(2.0)
        .with_max_delay(cap)
        .with_max_times(config.max_attempts.saturating_sub(1) as usize)
        .build()
        .map(|bound| bound.mul_f64(fastrand::f64()))
}

fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Returns a 2xx JSON body, or the error that the status stands for.
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

/// Says what is wrong with a body Ralio sent without quoting it, because serde's messages quote the
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

#[cfg(test)]
mod tests {
    use reqwest::Method;
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::ralio::{AuthScheme, RalioClient, RalioCredentials};

    fn config(base_url: &str) -> RalioConfig {
        let credentials = RalioCredentials {
            api_code: "c".into(),
            api_key: "k".into(),
        };
        let mut config = RalioConfig::new(base_url, credentials);
        config.auth = AuthScheme::RawKey;
        config
    }

    #[test]
    fn each_pause_is_drawn_below_a_doubling_bound() {
        let mut config = config("https://ralio.example");
        config.base_backoff = Duration::from_millis(1);
        // The bound lies above 2¹⁶ × base_backoff, where the doubling stops first.
        config.max_backoff = Duration::from_secs(100);
        config.max_attempts = 20;
        let draws: Vec<Vec<Duration>> = (0..300).map(|_| backoff(&config).collect()).collect();
        for n in 1..config.max_attempts {
            let bound = config.base_backoff.saturating_mul(1 << n.min(16));
            let nth: Vec<Duration> = draws.iter().map(|d| d[n as usize - 1]).collect();
            let (low, high) = (nth.iter().min().unwrap(), nth.iter().max().unwrap());
            // backon doubles in f32, so its bounds are exact to within a millionth.
            assert!(*high <= bound.mul_f64(1.000_001), "{n}: {high:?}");
            // With full jitter, the draws spread over the whole range below the bound.
            assert!(
                *high > bound.mul_f64(0.9) && *low < bound.mul_f64(0.1),
                "{n}"
            );
        }
        assert!(draws.iter().all(|d| d.len() == 19));
        config.max_backoff = Duration::from_micros(1500);
        assert!(backoff(&config).all(|pause| pause < Duration::from_micros(1501)));
        config.max_attempts = 1;
        assert_eq!(backoff(&config).count(), 0);
    }

    #[tokio::test]
    async fn a_deadline_passed_in_a_pause_ends_the_call_with_the_failure_before_it() {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "5"))
            .mount(&server)
            .await;
        let mut config = config(&server.uri());
        config.max_backoff = Duration::from_secs(5);
        config.max_attempts = 5;
        let client = RalioClient::new(config).unwrap();
        let started = Instant::now();
        let call = client.within(Deadline::after(Duration::from_millis(300)));
        let outcome = call
            .send(true, || client.http().get(client.url("/anything")))
            .await;
        assert_eq!(outcome.unwrap_err(), RalioError::RateLimited);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "slept to the deadline"
        );
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_creating_call_is_retried_only_where_ralio_cannot_have_acted() {
        for (status, tries, error) in [
            (
                503,
                1,
                RalioError::Unavailable("status 503 Service Unavailable".into()),
            ),
            (429, 3, RalioError::RateLimited),
        ] {
            let server = MockServer::start().await;
            Mock::given(any())
                .respond_with(ResponseTemplate::new(status))
                .mount(&server)
                .await;
            let mut config = config(&server.uri());
            config.base_backoff = Duration::from_millis(1);
            let client = RalioClient::new(config).unwrap();
            let outcome = client
                .unbounded()
                .send(false, || {
                    client.http().request(Method::POST, client.url("/create"))
                })
                .await;
            assert_eq!(outcome.unwrap_err(), error);
            assert_eq!(server.received_requests().await.unwrap().len(), tries);
        }
    }
}

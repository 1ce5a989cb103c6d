//! This module holds the client, its configuration, and the calls that share one deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::{AuthScheme, CredentialSource, Deadline, RalioCredentials, RalioError};

/// Says what to send as the body of "create IDV session", which is undocumented (REFERENCE §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateSessionBody {
    Empty,
    EmptyJsonObject,
}

/// One HTTP exchange with Ralio may take this long unless configured (`RALIO_TIMEOUT`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct RalioConfig {
    pub base_url: String,
    /// With `None`, the client reads them from its [`CredentialSource`] on first use (the secret in
    /// Lambda).
    pub credentials: Option<RalioCredentials>,
    pub auth: AuthScheme,
    pub connect_timeout: Duration,
    /// This is the total time for one HTTP exchange.
    pub request_timeout: Duration,
    /// This is the number of attempts for retryable calls (1 means no retry).
    pub max_attempts: u32,
    /// This is the first backoff, doubled per attempt, jittered and capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub create_session_body: CreateSessionBody,
}

impl RalioConfig {
    pub fn new(base_url: impl Into<String>, credentials: RalioCredentials) -> Self {
        Self::with_credentials(base_url, Some(credentials))
    }

    /// With `None`, the client reads them from its source when first needed.
    pub fn with_credentials(
        base_url: impl Into<String>,
        credentials: Option<RalioCredentials>,
    ) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            credentials,
            auth: AuthScheme::Login,
            connect_timeout: Duration::from_secs(2),
            request_timeout: REQUEST_TIMEOUT,
            max_attempts: 3,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            create_session_body: CreateSessionBody::Empty,
        }
    }
}

/// Ralio's base URL must be HTTPS; plain HTTP is accepted only for a loopback host.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = parsed.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err("must be https (plain http only for a loopback host)".into())
            }
        }
        other => Err(format!("scheme {other} is not https")),
    }
}

/// See the module documentation. The client is cheap to share, with one per warm container.
pub struct RalioClient {
    /// The HTTP client is built on the first call, so a start reads no trust store.
    http: std::sync::OnceLock<reqwest::Client>,
    pub(super) config: RalioConfig,
    pub(super) credentials: Mutex<Option<RalioCredentials>>,
    pub(super) source: Option<Arc<dyn CredentialSource>>,
    pub(super) token: Mutex<Option<String>>,
}

/// These calls on a [`RalioClient`] keep to one deadline.
#[derive(Clone, Copy)]
pub struct RalioCall<'a> {
    pub(super) client: &'a RalioClient,
    pub(super) deadline: Deadline,
}

impl RalioClient {
    pub fn new(config: RalioConfig) -> Result<Self, RalioError> {
        Self::with_source(config, None)
    }

    /// Returns a client that reads its credentials from `source` when it has none yet, and again
    /// when Ralio refuses them.
    pub fn with_source(
        config: RalioConfig,
        source: Option<Arc<dyn CredentialSource>>,
    ) -> Result<Self, RalioError> {
        check_base_url(&config.base_url).map_err(RalioError::BadResponse)?;
        if config.credentials.is_none() && source.is_none() {
            return Err(RalioError::BadResponse(
                "no Ralio credentials and nowhere to read them from".into(),
            ));
        }
        Ok(Self {
            http: std::sync::OnceLock::new(),
            credentials: Mutex::new(config.credentials.clone()),
            config,
            source,
            token: Mutex::new(None),
        })
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .tls_backend_preconfigured(crate::tls::rustls_config())
                .connect_timeout(self.config.connect_timeout)
                .timeout(self.config.request_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("ralio-idv-lambda/", env!("CARGO_PKG_VERSION")))
                .build()
                // Only a TLS backend of another type can fail here, and that would be a bug.
                .expect("the Ralio HTTP client builds from its own rustls configuration")
        })
    }

    /// Returns calls that keep to `deadline`.
    pub fn within(&self, deadline: Deadline) -> RalioCall<'_> {
        RalioCall {
            client: self,
            deadline,
        }
    }

    pub(super) fn unbounded(&self) -> RalioCall<'_> {
        self.within(Deadline::none())
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_base_url("https://sandbox-revo-api.raliopay.com").is_ok());
        for local in [
            "http://127.0.0.1:3001",
            "http://localhost:9",
            "http://[::1]:80",
        ] {
            assert!(check_base_url(local).is_ok(), "{local}");
        }
        for bad in [
            "http://ralio.example",
            "http://10.0.0.1",
            "ftp://x",
            "nonsense",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }
}

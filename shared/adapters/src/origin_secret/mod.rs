//! This module holds the secret that the webhook's optional edge (a CloudFront distribution with a
//! WAF web ACL) sends to the function URL in the `x-origin-verify` header. A request without it
//! went around the edge, and so around its rate limit, so the webhook checks the header before
//! anything else.
//!
//! Only a digest of the secret is held, and the header is compared with it in constant time. A
//! mismatch reads the secret again, at most once a minute, so that a rotated secret is accepted
//! without a redeploy of the function while a flood of wrong headers costs one read a minute.
//! CloudFront's origin access control cannot replace the header: for a POST to a function URL it
//! needs the caller to send the body's SHA-256 in `x-amz-content-sha256`, and Ralio does not.

use std::sync::{Arc, RwLock};
use std::time::Duration;

// tokio's clock is the system's, except in a test that pauses it.
use tokio::time::Instant;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ConfigError;

/// This variable names the Secrets Manager secret holding the edge's origin secret. It is set only
/// when the stack has an edge (`WebhookEdge=cloudfront-waf`).
pub const ORIGIN_SECRET_ARN_VAR: &str = "WEBHOOK_ORIGIN_SECRET_ARN";

/// The edge sends the secret in this request header.
pub const ORIGIN_HEADER: &str = "x-origin-verify";

/// A mismatch (or a failed read) reads the secret again at most this often.
pub const ORIGIN_REREAD_INTERVAL: Duration = Duration::from_secs(60);

/// A source is where the origin secret is read from, and read again after a mismatch.
#[async_trait]
pub trait OriginSecretSource: Send + Sync {
    async fn origin_secret(&self) -> Result<SecretString, ConfigError>;
}

/// Says why a request is not taken as coming through the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeRefusal {
    /// The request carries no `x-origin-verify` header.
    Missing,
    /// The header does not match the secret, even after reading it again (or within a minute of
    /// the last read).
    Mismatch,
    /// The secret has never been read, so nothing can match.
    Unreadable,
}

impl EdgeRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeRefusal::Missing => "header_missing",
            EdgeRefusal::Mismatch => "header_mismatch",
            EdgeRefusal::Unreadable => "secret_unreadable",
        }
    }
}

type Fingerprint = [u8; 32];

fn fingerprint(value: &[u8]) -> Fingerprint {
    Sha256::digest(value).into()
}

/// Holds the edge's origin secret, as a digest, for one process.
pub struct OriginSecret {
    held: RwLock<Option<Fingerprint>>,
    source: Option<Arc<dyn OriginSecretSource>>,
    attempts: tokio::sync::Mutex<Attempts>,
    reread_every: Duration,
}

/// These are the last read a mismatch asked for and the last read that failed. There is at most
/// one of each per interval, so a flood of wrong headers (or an outage) is not one read a request.
#[derive(Default)]
struct Attempts {
    mismatch: Option<Instant>,
    failure: Option<Instant>,
}

impl std::fmt::Debug for OriginSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginSecret([REDACTED])")
    }
}

impl OriginSecret {
    /// Holds a secret that never changes (tests).
    pub fn fixed(secret: &str) -> Self {
        let origin = Self::with_source(None);
        *origin.held.write().unwrap_or_else(|p| p.into_inner()) =
            Some(fingerprint(secret.as_bytes()));
        origin
    }

    /// Reads the secret from `source` on first use (or in [`OriginSecret::load`]).
    pub fn lazy(source: Arc<dyn OriginSecretSource>) -> Self {
        Self::with_source(Some(source))
    }

    fn with_source(source: Option<Arc<dyn OriginSecretSource>>) -> Self {
        Self {
            held: RwLock::new(None),
            source,
            attempts: tokio::sync::Mutex::new(Attempts::default()),
            reread_every: ORIGIN_REREAD_INTERVAL,
        }
    }

    /// Reads again after a mismatch (or a failure) at most this often (default one minute).
    pub fn reread_at_most_every(mut self, interval: Duration) -> Self {
        self.reread_every = interval;
        self
    }

    fn held(&self) -> Option<Fingerprint> {
        *self.held.read().unwrap_or_else(|p| p.into_inner())
    }

    fn matches(&self, presented: &Fingerprint) -> bool {
        self.held()
            .is_some_and(|held| bool::from(held.ct_eq(presented)))
    }

    /// Reads the secret if none is held yet. A secret that cannot be read, or that breaks the
    /// rules, is a configuration error naming the variable.
    pub async fn load(&self) -> Result<(), ConfigError> {
        if self.held().is_some() {
            return Ok(());
        }
        self.read(false).await.map(drop)
    }

    /// Reads once from the source, serialised. It returns `Ok(false)` when the read was not needed
    /// (another request read the secret meanwhile) or is not allowed yet (within the interval of a
    /// read that failed, or, for a mismatch, of the last read a mismatch asked for).
    async fn read(&self, mismatch: bool) -> Result<bool, ConfigError> {
        let Some(source) = &self.source else {
            return Ok(false);
        };
        let mut attempts = self.attempts.lock().await;
        let recent = |at: Option<Instant>| at.is_some_and(|at| at.elapsed() < self.reread_every);
        if recent(attempts.failure) {
            return Err(ConfigError::Secret {
                name: ORIGIN_SECRET_ARN_VAR,
                reason: "the last read failed moments ago; not read again yet".into(),
            });
        }
        if mismatch {
            if recent(attempts.mismatch) {
                return Ok(false);
            }
            attempts.mismatch = Some(Instant::now());
        } else if self.held().is_some() {
            return Ok(false);
        }
        match source.origin_secret().await {
            Ok(secret) => {
                let read = fingerprint(secret.expose_secret().as_bytes());
                let mut held = self.held.write().unwrap_or_else(|p| p.into_inner());
                if held.is_some_and(|old| old != read) {
                    tracing::info!("the edge's origin secret changed: a rotation");
                }
                *held = Some(read);
                Ok(true)
            }
            Err(e) => {
                attempts.failure = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// Checks the value of the `x-origin-verify` header. A missing header is refused without a
    /// read, because no secret can make it match; a mismatch reads the secret again first (at
    /// most once a minute), so a rotated secret is accepted.
    pub async fn verify(&self, header: Option<&[u8]>) -> Result<(), EdgeRefusal> {
        let Some(header) = header else {
            return Err(EdgeRefusal::Missing);
        };
        let presented = fingerprint(header);
        if self.matches(&presented) {
            return Ok(());
        }
        if let Err(e) = self.read(true).await {
            tracing::warn!(error = %e, "the edge's origin secret was not read again");
        }
        // Another request may have read a newer secret meanwhile, so the held one is compared
        // again whether or not this request read it.
        if self.matches(&presented) {
            return Ok(());
        }
        Err(match self.held() {
            Some(_) => EdgeRefusal::Mismatch,
            None => EdgeRefusal::Unreadable,
        })
    }
}

#[cfg(test)]
mod tests;

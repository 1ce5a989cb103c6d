//! This module holds the webhook's signing secrets for one process. They are read from their source
//! again when they are older than a maximum age (`WEBHOOK_SECRET_MAX_AGE`, default 5 min), so a
//! secret that an operator removed stops verifying within that age, however quietly a forger uses
//! it. They are also read again after a signature mismatch, at most once a minute, so a rotation is
//! picked up without waiting for the age.
//!
//! A mismatch is final (401) unless it could be a genuine delivery that the held secrets are too
//! old for: the secrets could not be read (now or lately, or they are past their age), or a
//! rotation was seen within the maximum age (a new version of the secret that adds one) and a fresh
//! read is not allowed yet. Only then is it retryable (503). Outside a rotation, a forgery costs
//! one read a minute at most and is refused.

use std::sync::{Arc, RwLock};
use std::time::Duration;

// tokio's clock is the system's, except in a test that pauses it.
use tokio::time::Instant;

use async_trait::async_trait;
use idv_model::{SignatureError, WebhookSecrets};

use crate::config::ConfigError;
use crate::secrets::WEBHOOK_SECRET_ARN_VAR;

/// A signature mismatch (or a failed read) reads the secrets again at most this often.
pub const SECRET_REREAD_INTERVAL: Duration = Duration::from_secs(60);

/// The held secrets may be this old before a delivery reads them again.
pub const DEFAULT_SECRET_MAX_AGE: Duration = Duration::from_secs(300);

/// One read of the secrets gives the list, and the version it came from when the source has one
/// (Secrets Manager's `VersionId`).
#[derive(Debug, Clone)]
pub struct SecretsRead {
    pub secrets: WebhookSecrets,
    pub version: Option<String>,
}

/// A source is where webhook secrets are read again from.
#[async_trait]
pub trait WebhookSecretSource: Send + Sync {
    async fn webhook_secrets(&self) -> Result<SecretsRead, ConfigError>;
}

/// Says why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub error: SignatureError,
    /// It is true when a later attempt may verify it: the secrets could not be read, or a rotation
    /// is under way and they could not be read again just now.
    pub retryable: bool,
}

/// Holds the secrets and when they were read.
struct Held {
    secrets: WebhookSecrets,
    version: Option<String>,
    read_at: Instant,
    /// Records when a read last brought a new version that adds a secret, which means a rotation is
    /// under way.
    rotated_at: Option<Instant>,
}

pub struct SigningKeys {
    /// It is `None` until the first read, for a lazy start.
    held: RwLock<Option<Held>>,
    source: Option<Arc<dyn WebhookSecretSource>>,
    /// These are the reads that a mismatch asked for and the reads that failed. There is at most
    /// one of each per `reread_every`, so a flood of forgeries (or an outage) is not one read per
    /// request.
    attempts: tokio::sync::Mutex<Attempts>,
    reread_every: Duration,
    max_age: Duration,
}

#[derive(Default)]
struct Attempts {
    mismatch: Option<Instant>,
    failure: Option<Instant>,
}

/// Says how a read was asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// Nothing is held yet, or what is held is older than the maximum age.
    Stale,
    /// A signature did not match what is held.
    Mismatch,
}

impl SigningKeys {
    /// Holds secrets that never change (local runs, tests).
    pub fn fixed(secrets: WebhookSecrets) -> Self {
        let mut keys = Self::with_source(None);
        keys.held = RwLock::new(Some(Held {
            secrets,
            version: None,
            read_at: Instant::now(),
            rotated_at: None,
        }));
        keys
    }

    /// Reads secrets from `source` on first use (or in [`SigningKeys::load`]).
    pub fn lazy(source: Arc<dyn WebhookSecretSource>) -> Self {
        Self::with_source(Some(source))
    }

    fn with_source(source: Option<Arc<dyn WebhookSecretSource>>) -> Self {
        Self {
            held: RwLock::new(None),
            source,
            attempts: tokio::sync::Mutex::new(Attempts::default()),
            reread_every: SECRET_REREAD_INTERVAL,
            max_age: DEFAULT_SECRET_MAX_AGE,
        }
    }

    /// Reads again after a mismatch (or a failure) at most this often (default one minute).
    pub fn reread_at_most_every(mut self, interval: Duration) -> Self {
        self.reread_every = interval;
        self
    }

    /// Reads again when the held secrets are older than this (default 5 min).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    fn lock_held(&self) -> std::sync::RwLockReadGuard<'_, Option<Held>> {
        self.held.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns whether the held secrets are younger than the maximum age (always true for fixed
    /// ones).
    fn fresh(&self) -> bool {
        self.lock_held()
            .as_ref()
            .is_some_and(|h| self.source.is_none() || h.read_at.elapsed() < self.max_age)
    }

    fn rotating(&self) -> bool {
        self.lock_held()
            .as_ref()
            .and_then(|h| h.rotated_at)
            .is_some_and(|at| at.elapsed() < self.max_age)
    }

    /// Reads the secrets if none are held, or if those held are older than the maximum age. A
    /// secret that cannot be read, or that breaks the rules, is a configuration error. Stale
    /// secrets that cannot be read again are kept meanwhile (and logged), never dropped.
    pub async fn load(&self) -> Result<(), ConfigError> {
        if self.fresh() || self.source.is_none() {
            return Ok(());
        }
        match self.read(Reason::Stale).await {
            Ok(_) => Ok(()),
            Err(e) if self.lock_held().is_some() => {
                tracing::warn!(error = %e, "webhook secrets past their age not read again; keeping the ones held");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Reads once from the source, serialised. It returns `Ok(false)` when the read was not needed
    /// (another request read them meanwhile) or is not allowed yet (within the interval of a read
    /// that failed, or, for a mismatch, of the last read a mismatch asked for).
    async fn read(&self, reason: Reason) -> Result<bool, ConfigError> {
        let Some(source) = &self.source else {
            return Ok(false);
        };
        let mut attempts = self.attempts.lock().await;
        let recent = |at: Option<Instant>| at.is_some_and(|at| at.elapsed() < self.reread_every);
        if recent(attempts.failure) {
            if self.lock_held().is_none() {
                return Err(ConfigError::Secret {
                    name: WEBHOOK_SECRET_ARN_VAR,
                    reason: "the last read failed moments ago; not read again yet".into(),
                });
            }
            return Ok(false);
        }
        match reason {
            Reason::Stale if self.fresh() => return Ok(false),
            Reason::Mismatch if recent(attempts.mismatch) => return Ok(false),
            Reason::Mismatch => attempts.mismatch = Some(Instant::now()),
            Reason::Stale => {}
        }
        let read = match source.webhook_secrets().await {
            Ok(read) => read,
            Err(e) => {
                attempts.failure = Some(Instant::now());
                return Err(e);
            }
        };
        let now = Instant::now();
        let mut held = self.held.write().unwrap_or_else(|p| p.into_inner());
        let rotated_at = match held.as_ref() {
            Some(h) if h.version != read.version && read.secrets.adds_to(&h.secrets) => {
                tracing::info!("webhook secrets changed version, adding a secret: a rotation");
                Some(now)
            }
            Some(h) => {
                if h.version != read.version {
                    tracing::info!("webhook secrets changed version, adding none");
                }
                h.rotated_at
            }
            None => None,
        };
        *held = Some(Held {
            secrets: read.secrets,
            version: read.version,
            read_at: now,
            rotated_at,
        });
        Ok(true)
    }

    async fn failed_lately(&self) -> bool {
        let attempts = self.attempts.lock().await;
        attempts
            .failure
            .is_some_and(|at| at.elapsed() < self.reread_every)
    }

    fn check(&self, body: &[u8], header: Option<&str>) -> Result<usize, SignatureError> {
        match &*self.lock_held() {
            Some(held) => held.secrets.verify(body, header),
            None => Err(SignatureError::Mismatch),
        }
    }

    /// Checks a signature. `Ok` holds the position of the secret that matched. Only a mismatch (not
    /// a missing or malformed header) may read the secrets again.
    pub async fn verify(&self, body: &[u8], header: Option<&str>) -> Result<usize, Rejection> {
        let refused = |error, retryable| Rejection { error, retryable };
        if header.is_none() {
            // There is nothing to check, whatever the secrets, so there is no reason to read them.
            return Err(refused(SignatureError::Missing, false));
        }
        if let Err(e) = self.load().await {
            // There is nothing to check against, so Ralio retries, and the alarm on unverified
            // signatures shows it.
            tracing::error!(error = %e, "webhook secrets could not be read");
            return Err(refused(SignatureError::Mismatch, true));
        }
        let first = self.check(body, header);
        if first != Err(SignatureError::Mismatch) {
            return first.map_err(|e| refused(e, false));
        }
        match self.read(Reason::Mismatch).await {
            // The secrets were read just now, so a mismatch stands.
            Ok(true) => self.check(body, header).map_err(|e| refused(e, false)),
            // The secrets were not read now. Another request may have read newer secrets meanwhile;
            // if not, the mismatch is final unless the held secrets cannot be trusted to be
            // current: a rotation is under way, the secrets are past their age, or a read failed
            // lately.
            Ok(false) => {
                let again = self.check(body, header);
                if again != Err(SignatureError::Mismatch) {
                    return again.map_err(|e| refused(e, false));
                }
                let unsure = self.rotating() || !self.fresh() || self.failed_lately().await;
                again.map_err(|e| refused(e, unsure))
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhook secrets not read again; keeping the ones held");
                first.map_err(|e| refused(e, true))
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! Configuration is read from the environment and validated at start, so that a bad or missing
//! value stops the function with a message naming the variable instead of failing on the first
//! request.

use std::str::FromStr;
use std::time::Duration;

/// A configuration problem always names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {name}: {meaning}")]
    Missing {
        name: &'static str,
        meaning: &'static str,
    },
    #[error("invalid environment variable {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("cannot read the secret named by {name}: {reason}")]
    Secret { name: &'static str, reason: String },
}

/// Reads variables from a source (the process environment, or a map in tests).
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;

    /// Returns the value if it is set and not blank.
    fn value(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str, meaning: &'static str) -> Result<String, ConfigError> {
        self.value(name)
            .ok_or(ConfigError::Missing { name, meaning })
    }

    fn parsed<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.value(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
        }
    }

    /// Reads a duration for date arithmetic (`chrono`), written as [`Env::duration`] reads it.
    fn span(
        &self,
        name: &'static str,
        default: chrono::Duration,
    ) -> Result<chrono::Duration, ConfigError> {
        let std = self.duration(name, default.to_std().unwrap_or_default())?;
        chrono::Duration::from_std(std).map_err(|e| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        })
    }

    /// Reads a duration written as `90s`, `15m`, `24h`, `7d` or `250ms` (see [`parse_duration`]).
    fn duration(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        match self.value(name) {
            None => Ok(default),
            Some(raw) => humantime::parse_duration(raw.trim()).map_err(|e| ConfigError::Invalid {
                name,
                reason: format!(
                    "{raw:?} is not a duration such as 250ms, 90s, 15m, 24h or 7d ({e})"
                ),
            }),
        }
    }
}

/// This source is the process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// Parses a duration as humantime reads it: `250ms`, `90s`, `15m`, `24h`, `7d`, and longer
/// spellings such as `1h 30m` or `2 days`. A bare number (humantime reads `0` as zero) and
/// humantime's `M` (months, a likely typo for minutes) are refused, as they were before humantime,
/// so that a slip stops the start instead of setting a surprising value.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let has_unit = raw.chars().any(|c| c.is_ascii_alphabetic());
    if !has_unit || raw.contains('M') {
        return None;
    }
    humantime::parse_duration(raw).ok()
}

/// Reads `RALIO_BASE_URL` and the client settings. Credentials come from `RALIO_API_CODE` and
/// `RALIO_API_KEY` (local runs), or, with `from_secret`, from the secret when it is first needed.
pub fn ralio_config(
    env: &impl Env,
    from_secret: bool,
) -> Result<crate::ralio::RalioConfig, ConfigError> {
    use crate::ralio::{AuthScheme, CreateSessionBody, RalioConfig, RalioCredentials};
    let base_url = env.required(
        "RALIO_BASE_URL",
        "Ralio's API base URL, e.g. https://sandbox-revo-api.raliopay.com",
    )?;
    crate::ralio::check_base_url(&base_url).map_err(|reason| ConfigError::Invalid {
        name: "RALIO_BASE_URL",
        reason,
    })?;
    let credentials = if from_secret {
        None
    } else {
        let api_code = env.required(
            "RALIO_API_CODE",
            "Ralio api_code (or RALIO_SECRET_ARN naming a secret with api_code)",
        )?;
        let api_key = env.required(
            "RALIO_API_KEY",
            "Ralio api_key (or RALIO_SECRET_ARN naming a secret with api_key)",
        )?;
        Some(RalioCredentials {
            api_code,
            api_key: api_key.into(),
        })
    };
    let mut config = RalioConfig::with_credentials(base_url, credentials);
    if let Some(scheme) = env.value("RALIO_AUTH_SCHEME") {
        config.auth = AuthScheme::parse(&scheme).ok_or(ConfigError::Invalid {
            name: "RALIO_AUTH_SCHEME",
            reason: "expected login or raw-key".into(),
        })?;
    }
    if let Some(body) = env.value("RALIO_CREATE_SESSION_BODY") {
        config.create_session_body = match body.as_str() {
            "empty" => CreateSessionBody::Empty,
            "json" => CreateSessionBody::EmptyJsonObject,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "RALIO_CREATE_SESSION_BODY",
                    reason: "expected empty or json".into(),
                });
            }
        };
    }
    config.connect_timeout = env.duration("RALIO_CONNECT_TIMEOUT", config.connect_timeout)?;
    config.request_timeout = env.duration("RALIO_TIMEOUT", config.request_timeout)?;
    Ok(config)
}

/// Reads `EXPIRY_WARNING_LEAD` (24h), `EXPIRY_GRACE` (1h) and `EXPIRY_BUCKET` (15m), which the
/// model validates.
pub fn expiry_schedule(env: &impl Env) -> Result<idv_model::ExpirySchedule, ConfigError> {
    use idv_model::{ExpirySchedule, InvalidSchedule};
    let defaults = ExpirySchedule::default();
    ExpirySchedule::new(
        env.span("EXPIRY_WARNING_LEAD", defaults.warning_lead())?,
        env.span("EXPIRY_GRACE", defaults.grace())?,
        env.span("EXPIRY_BUCKET", defaults.bucket())?,
    )
    .map_err(|e| ConfigError::Invalid {
        name: match e {
            InvalidSchedule::Bucket => "EXPIRY_BUCKET",
            InvalidSchedule::WarningLead => "EXPIRY_WARNING_LEAD",
            InvalidSchedule::Grace => "EXPIRY_GRACE",
        },
        reason: e.to_string(),
    })
}

/// Reads `SWEEP_AFTER` (30m), `LEVEL_WAIT` (15m) and `SWEEP_MAX_USERS` (200). A zero wait would
/// ask Ralio about every session at every run, and a zero bound would never sweep, so both are
/// refused.
pub fn sweep_settings(env: &impl Env) -> Result<crate::sweep::SweepSettings, ConfigError> {
    let defaults = crate::sweep::SweepSettings::default();
    let positive = |name: &'static str, span: chrono::Duration| {
        if span > chrono::Duration::zero() {
            Ok(span)
        } else {
            Err(ConfigError::Invalid {
                name,
                reason: "must be longer than zero".into(),
            })
        }
    };
    let max_users = env.parsed("SWEEP_MAX_USERS", defaults.max_users)?;
    if max_users == 0 {
        return Err(ConfigError::Invalid {
            name: "SWEEP_MAX_USERS",
            reason: "must be at least 1".into(),
        });
    }
    Ok(crate::sweep::SweepSettings {
        sweep_after: positive(
            "SWEEP_AFTER",
            env.span("SWEEP_AFTER", defaults.sweep_after)?,
        )?,
        level_wait: positive("LEVEL_WAIT", env.span("LEVEL_WAIT", defaults.level_wait)?)?,
        max_users,
    })
}

/// Reads `COMPLIANCE_RETENTION`: how long a user's records are kept after their last change, and
/// an erased user's pseudonymous record after the erasure (default 1825 days, five years).
pub fn compliance_retention(env: &impl Env) -> Result<chrono::Duration, ConfigError> {
    let retention = env.span(
        "COMPLIANCE_RETENTION",
        idv_model::erasure::DEFAULT_RETENTION,
    )?;
    if retention >= chrono::Duration::days(1) {
        Ok(retention)
    } else {
        Err(ConfigError::Invalid {
            name: "COMPLIANCE_RETENTION",
            reason: "must be at least a day".into(),
        })
    }
}

/// How long quarantined payloads are kept by default (`QUARANTINE_RETENTION`).
pub const QUARANTINE_RETENTION: chrono::Duration = chrono::Duration::days(30);

/// Reads `QUARANTINE_RETENTION`, which the webhook keeps payloads for and an erasure looks back
/// over for payloads naming the user.
pub fn quarantine_retention(env: &impl Env) -> Result<chrono::Duration, ConfigError> {
    env.span("QUARANTINE_RETENTION", QUARANTINE_RETENTION)
}

/// Reads `LEVEL_WAIT` alone, for the account gate's `level_overdue` alert.
pub fn level_wait(env: &impl Env) -> Result<chrono::Duration, ConfigError> {
    let wait = env.span(
        "LEVEL_WAIT",
        crate::sweep::SweepSettings::default().level_wait,
    )?;
    if wait > chrono::Duration::zero() {
        Ok(wait)
    } else {
        Err(ConfigError::Invalid {
            name: "LEVEL_WAIT",
            reason: "must be longer than zero".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn durations_take_explicit_units() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        // Every number with one of the units read before humantime still reads as it did then.
        for n in [0u64, 1, 7, 59, 60, 250, 3_600, 86_400, 10_000_000] {
            let by_unit = [
                ("ms", Duration::from_millis(n)),
                ("s", Duration::from_secs(n)),
                ("m", Duration::from_secs(n * 60)),
                ("h", Duration::from_secs(n * 3_600)),
                ("d", Duration::from_secs(n * 86_400)),
            ];
            for (unit, expected) in by_unit {
                assert_eq!(parse_duration(&format!("{n}{unit}")), Some(expected));
            }
        }
        assert_eq!(parse_duration(" 90s "), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h 30m"), Some(Duration::from_secs(5_400)));
        for bad in ["", "0", "15", "15M", "m", "-3s", "3x", "h3", "90s!"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn credentials_come_from_the_environment_or_later_from_the_secret() {
        let mut env: HashMap<String, String> = [(
            "RALIO_BASE_URL".to_owned(),
            "https://ralio.example".to_owned(),
        )]
        .into();
        let err = ralio_config(&env, false).unwrap_err();
        assert!(err.to_string().contains("RALIO_API_CODE"), "{err}");
        assert_eq!(ralio_config(&env, true).unwrap().credentials, None);
        env.insert("RALIO_API_CODE".into(), "c".into());
        env.insert("RALIO_API_KEY".into(), "k".into());
        let config = ralio_config(&env, false).unwrap();
        assert_eq!(config.credentials.as_ref().unwrap().api_code, "c");
        assert!(
            !format!("{config:?}").contains("\"k\""),
            "the key is never printed"
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let env: HashMap<String, String> = [
            ("EXPIRY_BUCKET".to_owned(), "soon".to_owned()),
            ("BLANK".to_owned(), "  ".to_owned()),
        ]
        .into();
        let missing = env
            .required("TABLE_NAME", "the DynamoDB table")
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "missing environment variable TABLE_NAME: the DynamoDB table"
        );
        assert!(
            env.required("BLANK", "x").is_err(),
            "blank counts as missing"
        );
        let invalid = env
            .duration("EXPIRY_BUCKET", Duration::from_secs(900))
            .unwrap_err();
        assert!(
            invalid
                .to_string()
                .starts_with("invalid environment variable EXPIRY_BUCKET"),
            "{invalid}"
        );
        assert_eq!(env.parsed("PORT", 3000u16), Ok(3000));
    }
}

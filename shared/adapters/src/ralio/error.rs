//! These are the errors that a Ralio call ends with, and what each says about what Ralio did.

/// A Ralio failure is typed by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RalioError {
    /// Our credentials were refused (after one fresh login and one fresh read of them).
    #[error("Ralio refused our credentials")]
    Unauthorized,
    #[error("Ralio does not know this user")]
    UserNotFound,
    /// Any other 4xx means that Ralio understood and said no.
    #[error("Ralio refused the request with status {status}")]
    Rejected { status: u16, body: String },
    /// The request never reached Ralio (connection refused, no route).
    #[error("Ralio could not be reached: {0}")]
    Unreachable(String),
    /// Ralio answered 429, after retries where retrying is safe, and did not process the request.
    #[error("Ralio is rate limiting us")]
    RateLimited,
    /// Ralio answered 5xx, or the connection broke after the request was sent.
    #[error("Ralio is unavailable: {0}")]
    Unavailable(String),
    #[error("Ralio did not answer in time")]
    Timeout,
    /// The call's deadline passed before the request could be sent.
    #[error("no time left to call Ralio")]
    OutOfTime,
    /// A 2xx (or a redirect) came with a body that is not what Ralio documents.
    #[error("Ralio answered something unexpected: {0}")]
    BadResponse(String),
}

impl RalioError {
    /// Returns a stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RalioError::Unauthorized => "unauthorized",
            RalioError::UserNotFound => "user_not_found",
            RalioError::Rejected { .. } => "rejected",
            RalioError::Unreachable(_) => "unreachable",
            RalioError::RateLimited => "rate_limited",
            RalioError::Unavailable(_) => "unavailable",
            RalioError::Timeout => "timeout",
            RalioError::OutOfTime => "out_of_time",
            RalioError::BadResponse(_) => "bad_response",
        }
    }

    /// Returns whether Ralio may have acted on a creating call that ended in this error. It
    /// certainly did not when it was never reached, refused us, or refused the request (a 4xx other
    /// than 408 and 409). It may have for everything else (a timeout, a 5xx, a broken connection,
    /// an answer that cannot be read).
    pub fn may_have_acted(&self) -> bool {
        match self {
            RalioError::Unauthorized
            | RalioError::UserNotFound
            | RalioError::Unreachable(_)
            | RalioError::RateLimited
            | RalioError::OutOfTime => false,
            RalioError::Rejected { status, .. } => matches!(status, 408 | 409),
            RalioError::Unavailable(_) | RalioError::Timeout | RalioError::BadResponse(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_may_have_happened_at_ralio() {
        let maybe = [
            RalioError::Timeout,
            RalioError::Unavailable("502".into()),
            RalioError::BadResponse("x".into()),
            RalioError::Rejected {
                status: 409,
                body: String::new(),
            },
            RalioError::Rejected {
                status: 408,
                body: String::new(),
            },
        ];
        let not = [
            RalioError::Unreachable("refused".into()),
            RalioError::RateLimited,
            RalioError::Unauthorized,
            RalioError::UserNotFound,
            RalioError::OutOfTime,
            RalioError::Rejected {
                status: 422,
                body: String::new(),
            },
        ];
        assert!(maybe.iter().all(RalioError::may_have_acted));
        assert!(not.iter().all(|e| !e.may_have_acted()));
    }
}

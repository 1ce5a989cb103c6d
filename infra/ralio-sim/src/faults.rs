//! This module decides how the simulator fails a creating call, to show what an upstream that
//! acts and then fails does to the service.
//!
//! | fault | what happens |
//! |---|---|
//! | `act-then-5xx` | the session or account is created, then the answer is 502 |
//! | `act-then-hang:DURATION` | created, then the answer comes after DURATION (past the client's timeout) |
//! | `act-then-reset` | created, then the connection is dropped without an answer |
//! | `fail-before-acting` | nothing is created; the answer is 503 |
//! | `act-late:DURATION` | the answer is 502 at once; the session or account appears DURATION later, as at an upstream that commits after its caller gave up |

use std::collections::VecDeque;
use std::str::FromStr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    ActThen5xx,
    ActThenHang(Duration),
    ActThenReset,
    FailBeforeActing,
    ActLate(Duration),
    /// Drops a webhook without sending it, as a lost delivery or a missed subscription would.
    /// Only `deliver-webhooks` takes it.
    Drop,
}

/// A creating call of Ralio's that can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateSession,
    CreateAccount,
    /// Sending one webhook. Ralio's own records still change when it is dropped.
    DeliverWebhooks,
}

impl FromStr for Operation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "create-session" => Ok(Operation::CreateSession),
            "create-account" => Ok(Operation::CreateAccount),
            "deliver-webhooks" => Ok(Operation::DeliverWebhooks),
            other => Err(format!(
                "unknown operation {other:?} (create-session, create-account or deliver-webhooks)"
            )),
        }
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(after) = s.strip_prefix("act-late:") {
            return parse_duration(after.trim())
                .map(Fault::ActLate)
                .ok_or_else(|| format!("{after:?} is not a duration such as 2s"));
        }
        if let Some(after) = s
            .strip_prefix("act-then-hang:")
            .or_else(|| s.strip_prefix("act-then-hang "))
        {
            return parse_duration(after.trim())
                .map(Fault::ActThenHang)
                .ok_or_else(|| format!("{after:?} is not a duration such as 15s"));
        }
        match s {
            "act-then-5xx" => Ok(Fault::ActThen5xx),
            "act-then-hang" => Ok(Fault::ActThenHang(Duration::from_secs(15))),
            "act-then-reset" => Ok(Fault::ActThenReset),
            "fail-before-acting" => Ok(Fault::FailBeforeActing),
            "drop" => Ok(Fault::Drop),
            other => Err(format!(
                "unknown fault {other:?} (act-then-5xx, act-then-hang:15s, act-then-reset, fail-before-acting, act-late:2s, drop)"
            )),
        }
    }
}

fn parse_duration(raw: &str) -> Option<Duration> {
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = raw.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
}

/// Parses `OPERATION:FAULT` (or `OPERATION=FAULT`), as `--sim-fault` takes it.
pub fn parse_fault_flag(raw: &str) -> Result<(Operation, Fault), String> {
    let (operation, fault) = raw
        .split_once([':', '='])
        .ok_or_else(|| format!("{raw:?} is not OPERATION:FAULT"))?;
    pair(operation.parse()?, fault.parse()?)
}

/// Checks that the fault is one the operation can have: a delivery can only be dropped, and
/// only a delivery can be.
pub fn pair(operation: Operation, fault: Fault) -> Result<(Operation, Fault), String> {
    match (
        operation == Operation::DeliverWebhooks,
        fault == Fault::Drop,
    ) {
        (true, true) | (false, false) => Ok((operation, fault)),
        (true, false) => Err("deliver-webhooks takes only the fault drop".into()),
        (false, true) => Err("only deliver-webhooks can be dropped".into()),
    }
}

/// Holds the faults waiting for their call: a run's standing faults, and one-shot ones set per
/// call.
#[derive(Debug, Default, Clone)]
pub struct FaultPlan {
    standing: Vec<(Operation, Fault)>,
    next: VecDeque<(Operation, Fault)>,
}

impl FaultPlan {
    pub fn standing(faults: Vec<(Operation, Fault)>) -> Self {
        Self {
            standing: faults,
            next: VecDeque::new(),
        }
    }

    /// Makes the next `times` calls of `operation` fail with `fault`.
    pub fn push(&mut self, operation: Operation, fault: Fault, times: usize) {
        for _ in 0..times {
            self.next.push_back((operation, fault));
        }
    }

    /// Forgets the one-shot faults no call has met yet.
    pub fn clear_next(&mut self) {
        self.next.clear();
    }

    /// Returns the fault for this call of `operation`, if any.
    pub fn take(&mut self, operation: Operation) -> Option<Fault> {
        if let Some(at) = self.next.iter().position(|(op, _)| *op == operation) {
            return self.next.remove(at).map(|(_, f)| f);
        }
        self.standing
            .iter()
            .find(|(op, _)| *op == operation)
            .map(|(_, f)| *f)
    }
}

impl Fault {
    /// Returns whether the call takes effect before its answer.
    pub fn acts(self) -> bool {
        !matches!(
            self,
            Fault::FailBeforeActing | Fault::ActLate(_) | Fault::Drop
        )
    }

    /// Returns how long after its answer the call takes effect, for a fault that acts late.
    pub fn acts_after(self) -> Option<Duration> {
        match self {
            Fault::ActLate(after) => Some(after),
            _ => None,
        }
    }

    /// Returns the failing answer, given the answer a healthy call would have sent.
    pub async fn answer(self, healthy: Response) -> Response {
        match self {
            Fault::ActThen5xx | Fault::ActLate(_) => {
                (StatusCode::BAD_GATEWAY, "upstream error").into_response()
            }
            Fault::ActThenHang(wait) => {
                tokio::time::sleep(wait).await;
                healthy
            }
            // The connection is dropped without an answer, because the request's task unwinds
            // (without a panic message) and the server closes the connection.
            Fault::ActThenReset => std::panic::resume_unwind(Box::new("connection reset")),
            Fault::FailBeforeActing => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response()
            }
            // A drop is never met by a creating call (see `pair`).
            Fault::Drop => healthy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_as_the_flag_writes_them() {
        assert_eq!(
            parse_fault_flag("create-account:act-then-hang:12s"),
            Ok((
                Operation::CreateAccount,
                Fault::ActThenHang(Duration::from_secs(12))
            ))
        );
        assert_eq!(
            parse_fault_flag("create-session=act-then-reset"),
            Ok((Operation::CreateSession, Fault::ActThenReset))
        );
        assert_eq!(
            parse_fault_flag("create-session:act-late:2s"),
            Ok((
                Operation::CreateSession,
                Fault::ActLate(Duration::from_secs(2))
            ))
        );
        assert!(parse_fault_flag("create-account:explode").is_err());
        assert_eq!(
            parse_fault_flag("deliver-webhooks:drop"),
            Ok((Operation::DeliverWebhooks, Fault::Drop))
        );
        assert!(parse_fault_flag("deliver-webhooks:act-then-5xx").is_err());
        assert!(parse_fault_flag("create-session:drop").is_err());
        let mut plan = FaultPlan::standing(vec![(Operation::CreateSession, Fault::ActThen5xx)]);
        plan.push(Operation::CreateAccount, Fault::FailBeforeActing, 1);
        assert_eq!(
            plan.take(Operation::CreateAccount),
            Some(Fault::FailBeforeActing)
        );
        assert_eq!(plan.take(Operation::CreateAccount), None);
        assert_eq!(plan.take(Operation::CreateSession), Some(Fault::ActThen5xx));
    }
}

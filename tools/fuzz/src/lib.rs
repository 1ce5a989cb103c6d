//! This crate fuzzes the webhook path in process, on the stable toolchain.
//!
//! The engine is proptest's runner, used directly, because coverage-guided engines (cargo-fuzz,
//! libFuzzer, AFL) need a nightly compiler or an instrumented build this project's machines do
//! not have, and bolero's stable engine is proptest-like random generation with less control
//! over the structure of inputs. proptest gives structured inputs (mutations of Ralio's own
//! payloads, event sequences), shrinking to a minimal failing input, and a regressions file per
//! target that is replayed before any new case, so that every crasher found is kept.
//! `make fuzz` runs at least ten million cases, and `make test` runs a short pass.

pub mod inputs;
pub mod properties;

use std::time::{Duration, Instant};

use proptest::test_runner::{Config, FileFailurePersistence, TestError, TestRunner};

/// One fuzz target: what it generates and the property it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// It generates arbitrary bytes under arbitrary signature headers.
    RawBytes,
    /// It mutates Ralio's example payloads in structure and bytes, signed or not.
    MutatedPayloads,
    /// It generates sequences of well-formed events, which are applied, repeated, and repeated
    /// without markers.
    EventSequences,
}

impl Target {
    pub const ALL: [Target; 3] = [
        Target::RawBytes,
        Target::MutatedPayloads,
        Target::EventSequences,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::RawBytes => "raw-bytes",
            Target::MutatedPayloads => "mutated-payloads",
            Target::EventSequences => "event-sequences",
        }
    }

    /// Returns where its crashers are kept (checked in, and replayed first on every run).
    fn regressions(self) -> &'static str {
        match self {
            Target::RawBytes => concat!(env!("CARGO_MANIFEST_DIR"), "/regressions/raw-bytes.txt"),
            Target::MutatedPayloads => concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/regressions/mutated-payloads.txt"
            ),
            Target::EventSequences => concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/regressions/event-sequences.txt"
            ),
        }
    }
}

/// Says what a run did.
#[derive(Debug, Clone)]
pub struct Run {
    pub target: Target,
    pub cases: u32,
    pub elapsed: Duration,
    /// It holds the minimal failing input and what broke, if anything did.
    pub failure: Option<String>,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        f64::from(self.cases) / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `cases` generated inputs through `target` (after its kept regressions).
pub fn run(target: Target, cases: u32) -> Run {
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            target.regressions(),
        ))),
        // A shrink of a 5,000-deep or 70 KB input needs room, but it stays bounded.
        max_shrink_iters: 20_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = Instant::now();
    let secrets = properties::secrets();
    let failure = match target {
        Target::RawBytes => failure(runner.run(&inputs::raw_delivery(), |d| {
            properties::delivery(&secrets, &d);
            Ok(())
        })),
        Target::MutatedPayloads => failure(runner.run(&inputs::mutated_delivery(), |d| {
            properties::delivery(&secrets, &d);
            Ok(())
        })),
        Target::EventSequences => failure(runner.run(&inputs::sequence(), |events| {
            properties::sequence(&events);
            Ok(())
        })),
    };
    Run {
        target,
        cases,
        elapsed: started.elapsed(),
        failure,
    }
}

fn failure<T: std::fmt::Debug>(result: Result<(), TestError<T>>) -> Option<String> {
    match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, input)) => Some(format!("{reason}\ninput: {input:?}")),
        Err(TestError::Abort(reason)) => Some(format!("aborted: {reason}")),
    }
}

//! `make bench` starts each function binary as Lambda starts it, against a local Runtime API,
//! next to a hello-world `lambda_runtime` binary built in the same run. Figures that the
//! machine's speed would decide are reported as ratios to that baseline.

pub mod invocations;
pub mod process;
pub mod report;
pub mod runtime_api;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use process::{Subject, measure_cold, measure_init};
use runtime_api::Answer;

pub type Invocation = Box<dyn Fn() -> Vec<u8> + Send + Sync>;
pub type Check = Box<dyn Fn(&Answer) -> Result<(), String> + Send + Sync>;

/// One binary to measure: how to start it, what to invoke it with, and what a right answer
/// is.
pub struct Target {
    pub subject: Subject,
    pub invocation: Invocation,
    pub check: Check,
}

/// Says which trust store the process finds.
#[derive(Debug, Clone)]
pub enum TrustStore {
    /// The process finds the machine's store as it is (often a directory of one file per
    /// certificate).
    Machine,
    /// The process finds one bundle file and an empty certificate directory, as on Lambda
    /// (AL2023).
    Bundle { file: PathBuf, empty_dir: PathBuf },
}

impl TrustStore {
    /// Returns the bundle on this machine, if one of the usual places has it.
    pub fn lambda_like(scratch: &Path) -> Option<Self> {
        let file = [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
            "/etc/ssl/cert.pem",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())?;
        let empty_dir = scratch.join("empty-cert-dir");
        std::fs::create_dir_all(&empty_dir).ok()?;
        Some(Self::Bundle { file, empty_dir })
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Machine => Vec::new(),
            Self::Bundle { file, empty_dir } => vec![
                ("SSL_CERT_FILE", file.display().to_string()),
                ("SSL_CERT_DIR", empty_dir.display().to_string()),
            ],
        }
    }
}

pub struct Plan {
    pub init_runs: usize,
    pub cold_runs: usize,
    pub warm_calls: usize,
    pub lambda_like: TrustStore,
    /// The first target is the baseline.
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub name: String,
    pub init_machine: Duration,
    pub init_bundle: Duration,
    pub init_primed: Duration,
    pub first_answer_unprimed: Duration,
    pub first_answer_primed: Duration,
    pub warm_p50: Duration,
    pub warm_p99: Duration,
    pub warm_calls: usize,
    /// It counts the warm answers that were not the expected one, so that they are reported,
    /// not hidden.
    pub warm_failed: usize,
    pub peak_rss_kib: u64,
    pub binary_bytes: u64,
    pub deflated_bytes: u64,
}

fn prime(on: bool) -> (&'static str, String) {
    ("PRIME_CONNECTIONS", on.to_string())
}

pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// Returns the `p`th percentile (0–100) by nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Measures every target, writing progress to `progress`.
pub async fn run(plan: &Plan, progress: &mut dyn Write) -> Result<Vec<Measured>, String> {
    let mut measured: Vec<Measured> = plan
        .targets
        .iter()
        .map(|t| Measured {
            name: t.subject.name.clone(),
            ..Measured::default()
        })
        .collect();
    // Init is measured alone, without priming, on both trust stores. The targets are
    // interleaved in every round so that the machine's drift touches them all alike.
    for (store, label) in [
        (&TrustStore::Machine, "machine"),
        (&plan.lambda_like, "bundle"),
    ] {
        let _ = writeln!(
            progress,
            "init ({label} trust store), {} rounds",
            plan.init_runs
        );
        let mut samples = vec![Vec::new(); plan.targets.len()];
        let mut extra = store.env();
        extra.push(prime(false));
        for _ in 0..plan.init_runs {
            for (i, target) in plan.targets.iter().enumerate() {
                samples[i].push(measure_init(&target.subject, &extra).await?);
            }
        }
        for (m, s) in measured.iter_mut().zip(samples) {
            match store {
                TrustStore::Machine => m.init_machine = median(s),
                TrustStore::Bundle { .. } => m.init_bundle = median(s),
            }
        }
    }
    // A first real invocation is queued before the process starts, with and without priming.
    for primed in [false, true] {
        let _ = writeln!(
            progress,
            "cold first answer (priming {primed}), {} rounds",
            plan.cold_runs
        );
        let mut inits = vec![Vec::new(); plan.targets.len()];
        let mut answers = vec![Vec::new(); plan.targets.len()];
        let mut extra = plan.lambda_like.env();
        extra.push(prime(primed));
        for _ in 0..plan.cold_runs {
            for (i, target) in plan.targets.iter().enumerate() {
                let (cold, started) = measure_cold(
                    &target.subject,
                    &extra,
                    (target.invocation)(),
                    &*target.check,
                )
                .await?;
                started.stop();
                inits[i].push(cold.init);
                answers[i].push(cold.first_answer);
            }
        }
        for ((m, i), a) in measured.iter_mut().zip(inits).zip(answers) {
            if primed {
                m.init_primed = median(i);
                m.first_answer_primed = median(a);
            } else {
                m.first_answer_unprimed = median(a);
            }
        }
    }
    // A warm process gets one invocation, then the very same one again and again, one at a
    // time. A repeated delivery is a duplicate and a repeated creation a reuse, so the table
    // does not grow and the emulator's speed stays the same through the run.
    let mut extra = plan.lambda_like.env();
    extra.push(prime(true));
    for (m, target) in measured.iter_mut().zip(&plan.targets) {
        let _ = writeln!(
            progress,
            "warm: {} x {}",
            target.subject.name, plan.warm_calls
        );
        let invocation = (target.invocation)();
        let (_, started) =
            measure_cold(&target.subject, &extra, invocation.clone(), &*target.check).await?;
        let mut latencies = Vec::with_capacity(plan.warm_calls);
        let mut failed = 0;
        for call in 0..plan.warm_calls {
            let answer = match started.answer(invocation.clone()).await {
                Ok(answer) => answer,
                Err(e) => {
                    started.stop();
                    return Err(format!("{}: {e}", target.subject.name));
                }
            };
            // A failure is counted, not fatal, because moto (one Python process) sometimes
            // answers too slowly and the function rightly answers 503.
            if let Err(e) = (target.check)(&answer) {
                failed += 1;
                if failed <= 3 {
                    let _ = writeln!(
                        progress,
                        "  {}: answer {call} not as expected: {e}",
                        target.subject.name
                    );
                }
            }
            latencies.push(answer.latency());
        }
        m.warm_failed = failed;
        latencies.sort();
        m.warm_calls = latencies.len();
        m.warm_p50 = percentile(&latencies, 50.0);
        m.warm_p99 = percentile(&latencies, 99.0);
        m.peak_rss_kib = started.peak_rss_kib().unwrap_or_default();
        started.stop();
        let (bytes, deflated) = sizes(&target.subject.binary)?;
        m.binary_bytes = bytes;
        m.deflated_bytes = deflated;
    }
    Ok(measured)
}

/// Returns a file's size, and its size deflated at level 9 (what `zip -9` stores, less ~100
/// bytes of headers).
pub fn sizes(path: &Path) -> Result<(u64, u64), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&bytes).map_err(|e| e.to_string())?;
    let deflated = encoder.finish().map_err(|e| e.to_string())?;
    Ok((bytes.len() as u64, deflated.len() as u64))
}

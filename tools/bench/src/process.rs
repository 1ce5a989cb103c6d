//! This module starts a function binary as Lambda does (a fresh process, its environment, a
//! Runtime API) and times it: exec to the first `GET /next` (init), exec to the first answer,
//! and the answers of a warm process.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::runtime_api::{Answer, Emulator};

/// How long a process may take to start or answer before the run counts as failed.
const LIMIT: Duration = Duration::from_secs(30);

/// A binary and the environment it starts with (the Runtime API address is added per run).
#[derive(Debug, Clone)]
pub struct Subject {
    pub name: String,
    pub binary: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Its stdout and stderr go here, to be read when a run fails.
    pub log: PathBuf,
}

/// A started process and its Runtime API.
pub struct Started {
    pub emulator: Emulator,
    child: Child,
    pub exec: Instant,
}

impl Started {
    pub async fn start(subject: &Subject, extra: &[(&str, String)]) -> Result<Self, String> {
        let emulator = Emulator::start().await.map_err(|e| e.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&subject.log)
            .map_err(|e| format!("{}: {e}", subject.log.display()))?;
        let mut command = Command::new(&subject.binary);
        command
            .args(&subject.args)
            .env_clear()
            .envs(&subject.env)
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", emulator.address())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let exec = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("{}: {e}", subject.binary.display()))?;
        Ok(Self {
            emulator,
            child,
            exec,
        })
    }

    /// Returns the time from exec to the end of INIT.
    pub async fn init(&self) -> Result<Duration, String> {
        Ok(self.emulator.ready(LIMIT).await? - self.exec)
    }

    pub async fn answer(&self, body: Vec<u8>) -> Result<Answer, String> {
        match tokio::time::timeout(LIMIT, self.emulator.invoke(body)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err("the emulator dropped the invocation".into()),
            Err(_) => Err(format!("no answer within {LIMIT:?}")),
        }
    }

    /// Returns the most resident memory the process has used so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Measures the time from exec to the first `GET /next`, in a process that is then stopped.
pub async fn measure_init(subject: &Subject, extra: &[(&str, String)]) -> Result<Duration, String> {
    let started = Started::start(subject, extra).await?;
    let init = started.init().await;
    started.stop();
    init.map_err(|e| failure(subject, &e))
}

/// Holds a cold process's first invocation: init and exec-to-answer.
pub struct Cold {
    pub init: Duration,
    pub first_answer: Duration,
}

/// Queues `invocation` before the process starts, as an on-demand cold start does.
pub async fn measure_cold(
    subject: &Subject,
    extra: &[(&str, String)],
    invocation: Vec<u8>,
    check: &dyn Fn(&Answer) -> Result<(), String>,
) -> Result<(Cold, Started), String> {
    let started = Started::start(subject, extra).await?;
    let pending = started.emulator.invoke(invocation);
    let init = match started.init().await {
        Ok(init) => init,
        Err(e) => {
            started.stop();
            return Err(failure(subject, &e));
        }
    };
    let answer = match tokio::time::timeout(LIMIT, pending).await {
        Ok(Ok(answer)) => answer,
        _ => {
            started.stop();
            return Err(failure(subject, "no first answer"));
        }
    };
    if let Err(e) = check(&answer) {
        started.stop();
        return Err(failure(subject, &e));
    }
    let first_answer = answer.answered - started.exec;
    Ok((Cold { init, first_answer }, started))
}

fn failure(subject: &Subject, what: &str) -> String {
    let log = std::fs::read_to_string(&subject.log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(8).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!(
        "{}: {what}\n  log tail:\n  {}",
        subject.name,
        tail.join("\n  ")
    )
}

//! This module writes BENCHMARKS.md: the tables, the machine, the date, and what each figure
//! means.

use std::fmt::Write;
use std::time::Duration;

use crate::Measured;

/// A criterion figure, the mean time per iteration.
#[derive(Debug, Clone)]
pub struct CpuFigure {
    pub name: String,
    pub nanos: f64,
}

/// An arm64 artifact's size (from the cargo-lambda build), when there is one.
#[derive(Debug, Clone)]
pub struct Arm64Size {
    pub name: String,
    pub bytes: u64,
    pub deflated: u64,
    /// It is when `make build` wrote the artifact, which may be older than this run's binaries.
    pub built: String,
}

pub struct Report<'a> {
    pub measured: &'a [Measured],
    pub machine: String,
    pub date: String,
    pub profile: String,
    pub cpu: Vec<CpuFigure>,
    /// It is the CPU figure the others are divided by.
    pub cpu_baseline: Option<CpuFigure>,
    pub arm64: Vec<Arm64Size>,
    pub runs: (usize, usize, usize),
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(value: Duration, base: Duration) -> String {
    if base.is_zero() {
        return "—".into();
    }
    format!("{:.2}×", value.as_secs_f64() / base.as_secs_f64())
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1_000_000.0)
}

impl Report<'_> {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let (init_runs, cold_runs, warm) = self.runs;
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "Written by `make bench` on {} ({} profile). Machine: {}.\n",
            self.date, self.profile, self.machine
        );
        let _ = writeln!(
            out,
            "Every function is started as Lambda starts it: a fresh process with its environment \
             (as in `template.yaml`), talking to a local Lambda Runtime API, against moto and the \
             Ralio simulator. **hello-world** is a `lambda_runtime` binary that echoes its event, \
             built in the same run with the same lockfile and profile; ratios (×) are to it, so \
             the machine's speed cancels out.\n"
        );
        let Some(base) = self.measured.first() else {
            return out;
        };

        let _ = writeln!(out, "## Init\n");
        let _ = writeln!(
            out,
            "Exec → the first `GET /next` (the end of INIT), median of {init_runs} starts, priming \
             off. *Machine store*: the trust store as this machine has it. *Bundle store*: one \
             bundle file and an empty certificate directory (`SSL_CERT_FILE`, `SSL_CERT_DIR`), \
             as on Lambda. The target is at most 1.5× hello-world with the bundle store.\n"
        );
        let _ = writeln!(
            out,
            "| binary | init, machine store | × hello | init, bundle store | × hello |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for m in self.measured {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                m.name,
                ms(m.init_machine),
                ratio(m.init_machine, base.init_machine),
                ms(m.init_bundle),
                ratio(m.init_bundle, base.init_bundle),
            );
        }

        let _ = writeln!(out, "\n## First answer and warm answers\n");
        let _ = writeln!(
            out,
            "Bundle store. *First answer*: exec → the answer to a first real invocation queued \
             before the process started (an on-demand cold start), median of {cold_runs}, without \
             and with `PRIME_CONNECTIONS`. *Init, primed*: INIT including the priming request. \
             *Warm*: then the very same invocation {warm} times in one process, Runtime API \
             hand-over → answer. The first invocations: webhook, a signed `kyc_state_updated` \
             for a new user (applied); create-session, a session for a new user at the \
             simulator (created); account-gate, a KYC read; expiry-watcher, a due tick; \
             event-publisher, one stream record published to the bus. Repeated, the delivery is \
             a duplicate and the creation a reuse, so the table does not grow (moto copies the \
             whole table on every transaction, and would otherwise slow down through the run). Absolute times here are dominated by moto (a Python \
             server) and the simulator, so they compare the functions with each other and with \
             themselves over time, not with AWS.\n"
        );
        let _ = writeln!(
            out,
            "| binary | first answer, unprimed | init, primed | first answer, primed | warm p50 | warm p99 | warm p50 × hello | warm answers not as expected |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for m in self.measured {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} of {} |",
                m.name,
                ms(m.first_answer_unprimed),
                ms(m.init_primed),
                ms(m.first_answer_primed),
                ms(m.warm_p50),
                ms(m.warm_p99),
                ratio(m.warm_p50, base.warm_p50),
                m.warm_failed,
                m.warm_calls,
            );
        }

        let _ = writeln!(out, "\n## Footprint\n");
        let _ = writeln!(
            out,
            "Stripped release binary for this machine (x86_64), and deflated at level 9 (a \
             `zip -9` of it is ~100 bytes more; the target is at most 4.5 MB). The five \
             functions ship one binary, `idv-lambda`, which runs the function its `_HANDLER` \
             names: their sizes are that binary's. Peak RSS is VmHWM after the warm run. arm64 \
             figures are the `make build` artifact when it exists{}.\n",
            self.arm64
                .first()
                .map_or(String::new(), |a| format!(", as built on {}", a.built))
        );
        let _ = writeln!(
            out,
            "| binary | size | zip -9 | peak RSS | × hello | arm64 size | arm64 zip -9 |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for m in self.measured {
            let arm = self.arm64.iter().find(|a| a.name == m.name);
            let rss_ratio = if base.peak_rss_kib == 0 {
                "—".to_string()
            } else {
                format!("{:.2}×", m.peak_rss_kib as f64 / base.peak_rss_kib as f64)
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} MiB | {} | {} | {} |",
                m.name,
                mb(m.binary_bytes),
                mb(m.deflated_bytes),
                m.peak_rss_kib as f64 / 1024.0,
                rss_ratio,
                arm.map_or("—".into(), |a| mb(a.bytes)),
                arm.map_or("—".into(), |a| mb(a.deflated)),
            );
        }

        if !self.cpu.is_empty() {
            let _ = writeln!(out, "\n## CPU per webhook delivery\n");
            let _ = writeln!(
                out,
                "In process, criterion (`cargo bench -p idv-model --bench webhook`), mean per \
                 iteration. *Delivery* is what the webhook computes for one delivery: the \
                 signature check against two secrets, the parse, and the model's decision. The \
                 ratio is to the baseline measured in the same run: {}.\n",
                self.cpu_baseline
                    .as_ref()
                    .map_or("none".into(), |b| format!("*{}*", b.name))
            );
            let _ = writeln!(out, "| work | mean | × baseline |");
            let _ = writeln!(out, "|---|---|---|");
            for figure in &self.cpu {
                let times = self
                    .cpu_baseline
                    .as_ref()
                    .map_or("—".into(), |b| format!("{:.2}×", figure.nanos / b.nanos));
                let _ = writeln!(
                    out,
                    "| {} | {:.2} µs | {} |",
                    figure.name,
                    figure.nanos / 1000.0,
                    times
                );
            }
        }
        out
    }
}

//! `make fuzz` runs every target, split over the machine's cores, until the total number of
//! cases is reached, and prints cases per second. It exits non-zero when a property broke (the
//! minimal input is printed and kept in `tools/fuzz/regressions/`).

use std::process::ExitCode;

use clap::Parser;
use idv_fuzz::{Run, Target, run};

#[derive(Debug, Parser)]
#[command(name = "idv-fuzz")]
struct Args {
    /// Sets the total cases over all targets.
    #[arg(long, default_value_t = 10_000_000)]
    execs: u64,
    /// Sets the parallel runners (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    // Each target gets a third of the cases, in chunks that the threads take in turn, so that a
    // slow target does not leave a core idle at the end.
    let per_target = args.execs.div_ceil(Target::ALL.len() as u64);
    let chunk = 250_000u64.min(per_target.max(1));
    let mut work: Vec<(Target, u32)> = Vec::new();
    for target in Target::ALL {
        let mut left = per_target;
        while left > 0 {
            let cases = left.min(chunk);
            work.push((target, cases as u32));
            left -= cases;
        }
    }
    let work = std::sync::Mutex::new(work.into_iter());
    let started = std::time::Instant::now();
    println!(
        "idv-fuzz: {} cases over {} targets on {threads} threads",
        args.execs,
        Target::ALL.len()
    );
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let next = work.lock().expect("work queue").next();
                        let Some((target, cases)) = next else { break };
                        let result = run(target, cases);
                        let failed = result.failure.is_some();
                        done.push(result);
                        if failed {
                            break;
                        }
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a fuzz thread"))
            .collect()
    });
    let wall = started.elapsed();

    println!("\n| target | cases | CPU seconds | cases per second per thread |\n|---|---|---|---|");
    let mut total = 0u64;
    for target in Target::ALL {
        let of: Vec<&Run> = runs.iter().filter(|r| r.target == target).collect();
        let cases: u64 = of.iter().map(|r| u64::from(r.cases)).sum();
        let seconds: f64 = of.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        total += cases;
        println!(
            "| {} | {cases} | {seconds:.1} | {:.0} |",
            target.name(),
            cases as f64 / seconds.max(1e-9)
        );
    }
    println!(
        "\ntotal: {total} cases in {:.1} s wall: {:.0} cases per second",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64().max(1e-9)
    );
    let failures: Vec<&Run> = runs.iter().filter(|r| r.failure.is_some()).collect();
    if failures.is_empty() {
        println!("0 crashes, 0 properties broken");
        return ExitCode::SUCCESS;
    }
    for failed in failures {
        eprintln!(
            "\n{} broke a property (kept in tools/fuzz/regressions/):\n{}",
            failed.target.name(),
            failed.failure.as_deref().unwrap_or_default()
        );
    }
    ExitCode::FAILURE
}

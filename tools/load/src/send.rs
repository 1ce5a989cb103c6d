//! This module sends deliveries as Ralio does: signed POSTs, several at once. After a 5xx or a
//! dropped connection a delivery is sent again (Ralio retries those), but never after a 4xx.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::workload::Signed;

/// How often one delivery is sent again after a 5xx or a transport error.
const RETRIES: u32 = 20;

#[derive(Debug, Default, Clone)]
pub struct Sent {
    /// It is the time to the final answer of each delivery, retries included.
    pub latencies: Vec<Duration>,
    /// It counts the final answers by status, where 0 means no answer after every retry.
    pub statuses: BTreeMap<u16, usize>,
    /// It counts the extra sends after a 5xx or a transport error.
    pub retries: usize,
    pub wall: Duration,
}

impl Sent {
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn not_ok(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(status, _)| **status != 200)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Sends one delivery until it is answered with something other than a 5xx.
async fn deliver(client: &reqwest::Client, url: &str, signed: &Signed) -> (u16, u32) {
    let mut retries = 0;
    loop {
        let answer = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-signature", &signed.signature)
            .body(signed.body.clone())
            .send()
            .await;
        let status = answer.map(|a| a.status().as_u16()).unwrap_or(0);
        if (status == 0 || status >= 500) && retries < RETRIES {
            retries += 1;
            tokio::time::sleep(Duration::from_millis(5 * u64::from(retries))).await;
            continue;
        }
        return (status, retries);
    }
}

/// Sends every job with `concurrency` jobs in flight. A job's deliveries go one after another
/// (a single delivery for the load, a user's events in order for the reference).
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    jobs: Arc<Vec<Vec<Signed>>>,
    concurrency: usize,
) -> Sent {
    let next = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(Sent::default()));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (client, url) = (client.clone(), url.to_owned());
            let (jobs, next, sent) = (jobs.clone(), next.clone(), sent.clone());
            tokio::spawn(async move {
                let mut mine = Sent::default();
                while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    for signed in job {
                        let begun = Instant::now();
                        let (status, retries) = deliver(&client, &url, signed).await;
                        mine.latencies.push(begun.elapsed());
                        *mine.statuses.entry(status).or_default() += 1;
                        mine.retries += retries as usize;
                    }
                }
                let mut all = sent.lock().await;
                all.latencies.extend(mine.latencies);
                for (status, n) in mine.statuses {
                    *all.statuses.entry(status).or_default() += n;
                }
                all.retries += mine.retries;
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a sending task");
    }
    let mut sent = Arc::try_unwrap(sent)
        .expect("every worker is done")
        .into_inner();
    sent.wall = started.elapsed();
    sent
}

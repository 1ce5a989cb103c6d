use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;

/// This source counts reads, and an operator changes its value. It can be made to fail, as
/// Secrets Manager does in an outage.
#[derive(Default)]
struct Operated {
    value: Mutex<String>,
    reads: AtomicUsize,
    failing: AtomicBool,
}

impl Operated {
    fn with(value: &str) -> Arc<Self> {
        let source = Arc::new(Self::default());
        source.set(value);
        source
    }

    fn set(&self, value: &str) {
        *self.value.lock().unwrap() = value.to_owned();
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl OriginSecretSource for Operated {
    async fn origin_secret(&self) -> Result<SecretString, ConfigError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(ConfigError::Secret {
                name: ORIGIN_SECRET_ARN_VAR,
                reason: "unavailable".into(),
            });
        }
        Ok(SecretString::from(self.value.lock().unwrap().clone()))
    }
}

const OLD: &str = "OldOriginSecret0123456789abcdefghijklmnop";
const NEW: &str = "NewOriginSecret0123456789abcdefghijklmnop";

fn origin(source: &Arc<Operated>) -> OriginSecret {
    OriginSecret::lazy(source.clone()).reread_at_most_every(Duration::from_secs(60))
}

// Time is paused throughout, so the interval is measured on tokio's clock.
#[tokio::test(start_paused = true)]
async fn a_rotated_secret_is_accepted_after_one_read_and_wrong_headers_cost_a_read_a_minute() {
    let source = Operated::with(OLD);
    let origin = origin(&source);
    origin.load().await.unwrap();
    assert_eq!(origin.verify(Some(OLD.as_bytes())).await, Ok(()));
    assert_eq!(source.reads(), 1);

    // The operator rotates, and the edge sends the new value: the first mismatch reads again.
    source.set(NEW);
    assert_eq!(origin.verify(Some(NEW.as_bytes())).await, Ok(()));
    assert_eq!(source.reads(), 2);
    assert_eq!(
        origin.verify(Some(OLD.as_bytes())).await,
        Err(EdgeRefusal::Mismatch),
        "the old value no longer passes"
    );

    // A flood of wrong headers reads at most once a minute.
    tokio::time::sleep(Duration::from_secs(61)).await;
    for _ in 0..100 {
        assert_eq!(
            origin.verify(Some(b"guess")).await,
            Err(EdgeRefusal::Mismatch)
        );
    }
    assert_eq!(source.reads(), 3);
    // A missing header never reads, because no secret can make it match.
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(origin.verify(None).await, Err(EdgeRefusal::Missing));
    assert_eq!(origin.verify(Some(b"")).await, Err(EdgeRefusal::Mismatch));
    assert_eq!(
        source.reads(),
        4,
        "the empty header is a mismatch, read for once"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_secret_refuses_everything_and_is_read_again_at_most_once_a_minute() {
    let source = Operated::with(OLD);
    source.failing.store(true, Ordering::SeqCst);
    let origin = origin(&source);
    let err = origin.load().await.unwrap_err();
    assert!(err.to_string().contains(ORIGIN_SECRET_ARN_VAR), "{err}");
    for _ in 0..10 {
        assert_eq!(
            origin.verify(Some(OLD.as_bytes())).await,
            Err(EdgeRefusal::Unreadable)
        );
    }
    assert_eq!(
        source.reads(),
        1,
        "a failed read is not repeated within the minute"
    );
    source.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(origin.verify(Some(OLD.as_bytes())).await, Ok(()));
    assert_eq!(source.reads(), 2);

    // Once a secret is held, an outage keeps it: the held value still passes.
    source.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(
        origin.verify(Some(NEW.as_bytes())).await,
        Err(EdgeRefusal::Mismatch)
    );
    assert_eq!(origin.verify(Some(OLD.as_bytes())).await, Ok(()));
}

#[test]
fn the_secret_is_held_as_a_digest_and_never_printed() {
    let origin = OriginSecret::fixed(OLD);
    let printed = format!("{origin:?}");
    assert!(!printed.contains(OLD), "{printed}");
    assert_eq!(EdgeRefusal::Mismatch.as_str(), "header_mismatch");
}

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use idv_model::WebhookSecret;

use super::*;

/// This source counts reads, and an operator changes its secrets, each change a new version. It can
/// be made to fail, as Secrets Manager does in an outage.
#[derive(Default)]
struct Operated {
    secrets: Mutex<(String, u32)>,
    reads: AtomicUsize,
    failing: std::sync::atomic::AtomicBool,
}

impl Operated {
    fn with(secrets: &str) -> Arc<Self> {
        let source = Arc::new(Self::default());
        source.set(secrets);
        source
    }

    fn set(&self, secrets: &str) {
        let mut held = self.secrets.lock().unwrap();
        *held = (secrets.to_owned(), held.1 + 1);
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl WebhookSecretSource for Operated {
    async fn webhook_secrets(&self) -> Result<SecretsRead, ConfigError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(ConfigError::Secret {
                name: WEBHOOK_SECRET_ARN_VAR,
                reason: "unavailable".into(),
            });
        }
        let (secrets, version) = self.secrets.lock().unwrap().clone();
        Ok(SecretsRead {
            secrets: WebhookSecrets::from_csv(&secrets).unwrap(),
            version: Some(format!("v{version}")),
        })
    }
}

const BODY: &[u8] = b"{}";

fn sig(secret: &str) -> String {
    WebhookSecret::new(secret).sign_hex(BODY)
}

fn keys(source: &Arc<Operated>) -> SigningKeys {
    SigningKeys::lazy(source.clone())
        .reread_at_most_every(Duration::from_secs(60))
        .max_age(Duration::from_secs(300))
}

// Time is paused throughout, so ages are measured on tokio's clock, not on how busy the machine is.
#[tokio::test(start_paused = true)]
async fn a_removed_secret_stops_verifying_within_the_max_age() {
    let source = Operated::with("new,old");
    let keys = keys(&source);
    assert_eq!(keys.verify(BODY, Some(&sig("old"))).await, Ok(1));
    // In rotation step 3, the old secret is removed. Someone holding it never causes a mismatch, so
    // only the age can retire it.
    source.set("new");
    tokio::time::sleep(Duration::from_secs(299)).await;
    assert_eq!(keys.verify(BODY, Some(&sig("old"))).await, Ok(1));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let refused = keys.verify(BODY, Some(&sig("old"))).await.unwrap_err();
    assert_eq!(
        (refused.error, refused.retryable),
        (SignatureError::Mismatch, false)
    );
    assert_eq!(keys.verify(BODY, Some(&sig("new"))).await, Ok(0));
    assert_eq!(source.reads(), 3, "the age's read, then the mismatch's");
}

#[tokio::test(start_paused = true)]
async fn forgeries_outside_a_rotation_are_refused_and_cost_a_read_a_minute_at_most() {
    let source = Operated::with("real");
    let keys = keys(&source);
    assert_eq!(keys.verify(BODY, Some(&sig("real"))).await, Ok(0));
    for _ in 0..100 {
        let forged = keys.verify(BODY, Some(&sig("guess"))).await.unwrap_err();
        assert_eq!(
            (forged.error, forged.retryable),
            (SignatureError::Mismatch, false),
            "401, never the 503 that would keep the store alarm red"
        );
    }
    assert_eq!(
        source.reads(),
        2,
        "the start, and one read for the first forgery"
    );
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert!(
        !keys
            .verify(BODY, Some(&sig("guess")))
            .await
            .unwrap_err()
            .retryable
    );
    assert_eq!(source.reads(), 3, "a minute later, one more");
    // A missing header never reads, and it is final.
    let missing = keys.verify(BODY, None).await.unwrap_err();
    assert_eq!(
        (missing.error, missing.retryable),
        (SignatureError::Missing, false)
    );
    assert_eq!(source.reads(), 3);
}

#[tokio::test(start_paused = true)]
async fn within_a_rotation_a_mismatch_that_cannot_be_read_again_yet_is_retried() {
    let source = Operated::with("old");
    let keys = keys(&source);
    assert_eq!(keys.verify(BODY, Some(&sig("old"))).await, Ok(0));
    // The operator adds a secret, and a delivery signed with it reads the new version.
    source.set("new,old");
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(keys.verify(BODY, Some(&sig("new"))).await, Ok(0));
    // Another change comes right away (a second rotation, or a correction). Within the interval the
    // secrets are not read again, and the rotation seen says a mismatch may be genuine, so Ralio is
    // asked to send it again.
    source.set("newer,new,old");
    let early = keys.verify(BODY, Some(&sig("newer"))).await.unwrap_err();
    assert!(early.retryable, "{early:?}");
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(keys.verify(BODY, Some(&sig("newer"))).await, Ok(0));
    assert_eq!(source.reads(), 3);
    // Once the last rotation seen is older than the max age, a mismatch is final again, even one
    // that the interval keeps from reading.
    tokio::time::sleep(Duration::from_secs(301)).await;
    for _ in 0..2 {
        let late = keys.verify(BODY, Some(&sig("guess"))).await.unwrap_err();
        assert_eq!(
            (late.error, late.retryable),
            (SignatureError::Mismatch, false)
        );
    }
    assert_eq!(
        source.reads(),
        5,
        "read for the age, and once for the mismatches"
    );
}

#[tokio::test(start_paused = true)]
async fn while_the_secret_cannot_be_read_a_mismatch_is_sent_back_never_refused() {
    let source = Operated::with("old");
    let keys = keys(&source);
    assert_eq!(keys.verify(BODY, Some(&sig("old"))).await, Ok(0));
    // The operator adds a secret, and Secrets Manager fails before this container reads it.
    source.set("new,old");
    source.failing.store(true, Ordering::SeqCst);
    for wait in [61, 1, 1, 300, 1, 61] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let unsure = keys.verify(BODY, Some(&sig("new"))).await.unwrap_err();
        assert!(unsure.retryable, "after {wait} s more: {unsure:?}");
        // What the container holds still verifies meanwhile.
        assert_eq!(keys.verify(BODY, Some(&sig("old"))).await, Ok(0));
    }
    source.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(keys.verify(BODY, Some(&sig("new"))).await, Ok(0));
}

/// This source cannot be read, and it counts attempts.
#[derive(Default)]
struct Unreadable {
    reads: AtomicUsize,
}

#[async_trait]
impl WebhookSecretSource for Unreadable {
    async fn webhook_secrets(&self) -> Result<SecretsRead, ConfigError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Err(ConfigError::Secret {
            name: WEBHOOK_SECRET_ARN_VAR,
            reason: "unavailable".into(),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_lazy_start_never_accepts_and_a_flood_does_not_become_one_read_each() {
    let source = Arc::new(Unreadable::default());
    let keys = SigningKeys::lazy(source.clone());
    let reads = || source.reads.load(Ordering::SeqCst);
    // With no header, the signature is refused for good and nothing is read.
    let missing = keys.verify(BODY, None).await.unwrap_err();
    assert_eq!(
        (missing.error, missing.retryable, reads()),
        (SignatureError::Missing, false, 0)
    );
    // Unreadable secrets are never accepted. They are answered as retryable (503) and read once a
    // minute.
    for _ in 0..5 {
        let refused = keys.verify(BODY, Some("00")).await.unwrap_err();
        assert!(refused.retryable);
    }
    assert_eq!(reads(), 1);
    assert!(keys.load().await.is_err());
    tokio::time::sleep(SECRET_REREAD_INTERVAL).await;
    assert!(keys.verify(BODY, Some("00")).await.unwrap_err().retryable);
    assert_eq!(reads(), 2);
}

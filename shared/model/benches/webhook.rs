//! What the webhook spends on pure work per delivery: the signature check and the parse.
//! `cargo bench -p idv-model`

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use idv_model::{WebhookSecret, WebhookSecrets, parse_webhook};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/ralio")
        .join(name);
    std::fs::read(path).unwrap()
}

fn bench(c: &mut Criterion) {
    let secrets = WebhookSecrets::from_csv("whsec_new,whsec_ralio_fixture_test_secret").unwrap();
    for name in ["kyc_session_failed.v2.json", "kyc_state_updated.v1.json"] {
        let body = fixture(name);
        let hex = WebhookSecret::new("whsec_ralio_fixture_test_secret").sign_hex(&body);
        let base64 = WebhookSecret::new("whsec_ralio_fixture_test_secret").sign_base64(&body);
        c.bench_function(&format!("verify hex, second secret: {name}"), |b| {
            b.iter(|| {
                secrets
                    .verify(black_box(&body), Some(black_box(&hex)))
                    .unwrap()
            })
        });
        c.bench_function(&format!("verify base64, second secret: {name}"), |b| {
            b.iter(|| {
                secrets
                    .verify(black_box(&body), Some(black_box(&base64)))
                    .unwrap()
            })
        });
        c.bench_function(&format!("parse: {name}"), |b| {
            b.iter(|| parse_webhook(black_box(&body)).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

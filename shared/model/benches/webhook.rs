//! This benchmark measures what the webhook computes for one delivery, without I/O: the
//! signature check, the parse and the model's decision. `make bench` reports each as a ratio to
//! `baseline`, a generic JSON parse of the same body measured in the same run. Run it with
//! `cargo bench -p idv-model`.

use std::hint::black_box;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use idv_model::{OwnerRecords, Plan, WebhookSecret, WebhookSecrets, parse_webhook};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/ralio")
        .join(name);
    std::fs::read(path).unwrap()
}

fn bench(c: &mut Criterion) {
    // The signing secret comes second, as for a delivery during a rotation, which is the
    // slower case.
    let secrets = WebhookSecrets::from_csv("whsec_new,whsec_ralio_fixture_test_secret").unwrap();
    let body = fixture("kyc_state_updated.v1.json");
    let signature = WebhookSecret::new("whsec_ralio_fixture_test_secret").sign_hex(&body);
    let skew = chrono::Duration::minutes(5);
    let now: DateTime<Utc> = "2026-05-04T14:06:00Z".parse().unwrap();
    c.bench_function("baseline: serde_json::Value parse of the body", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&body)).unwrap())
    });
    c.bench_function("signature check (second of two secrets)", |b| {
        b.iter(|| {
            secrets
                .verify(black_box(&body), Some(black_box(&signature)))
                .unwrap()
        })
    });
    c.bench_function("parse", |b| {
        b.iter(|| parse_webhook(black_box(&body)).unwrap())
    });
    c.bench_function("delivery: signature + parse + decide", |b| {
        b.iter(|| {
            secrets
                .verify(black_box(&body), Some(black_box(&signature)))
                .unwrap();
            let event = parse_webhook(black_box(&body)).unwrap().received(now, skew);
            let owner = event.attribution().owner(&[]).unwrap();
            let attributed = event.attributed(owner).unwrap();
            Plan::new(&attributed, now).run(&OwnerRecords::new(owner))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! This is the short load run of `make test`: a few hundred deliveries with duplicates,
//! reordered per user and concurrent, on both stores. The end state must equal in-order
//! delivery.

use idv_load::workload::Plan;
use idv_local::StoreKind;

fn short_plan() -> Plan {
    Plan {
        deliveries: 600,
        users: 40,
        duplicate_share: 0.3,
        concurrency: 8,
        seed: 7,
    }
}

async fn holds_on(store: StoreKind) {
    let report = idv_load::run(&short_plan(), store).await.expect("the run");
    let table = idv_load::table(std::slice::from_ref(&report));
    println!("{table}");
    assert_eq!(report.load.latencies.len(), 600, "{table}");
    assert_eq!(report.load.not_ok(), 0, "{table}");
    assert!(report.verdict.holds(), "{table}");
    assert_eq!(report.verdict.users, 40, "{table}");
    // The test checks that both sides of the gate were tried.
    assert!(report.verdict.regular_users > 0, "{table}");
    assert!(report.verdict.regular_users < 40, "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_duplicated_concurrent_deliveries_end_as_in_order_on_the_memory_store() {
    holds_on(StoreKind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_duplicated_concurrent_deliveries_end_as_in_order_on_dynamodb() {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run the tests through `make test` (it starts moto)"
    );
    holds_on(StoreKind::Dynamodb).await;
}

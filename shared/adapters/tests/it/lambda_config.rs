//! Inside Lambda the AWS configuration comes from the environment alone, with no profile file and
//! no provider chain for the region or the credentials. It must still reach the service (here the
//! emulator) with the environment's region and credentials.

use idv_adapters::aws::{dynamodb_client, load_lambda_config};
use idv_adapters::testing;

#[tokio::test]
async fn the_lambda_configuration_works_from_the_environment_alone() {
    testing::require_emulator();
    let config = load_lambda_config(idv_adapters::aws::AwsTimeouts::emulator()).await;
    assert_eq!(
        config.region().map(ToString::to_string),
        std::env::var("AWS_REGION").ok()
    );
    let table = testing::new_table().await;
    dynamodb_client(&config, &[])
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("the emulator is reached with the environment's credentials");
}

/// Clients are built on first use (`OnFirstUse`), so a client that cannot be built from the Lambda
/// configuration would fail a request instead of the start, and every kind is built here.
#[tokio::test]
async fn every_client_builds_from_the_lambda_configuration() {
    use idv_adapters::aws::{OnFirstUse, eventbridge_client, secrets_client, sqs_client};
    testing::require_emulator();
    let config = load_lambda_config(idv_adapters::aws::AwsTimeouts::emulator()).await;
    let (a, b, c, d) = (config.clone(), config.clone(), config.clone(), config);
    let dynamodb = OnFirstUse::new(move || dynamodb_client(&a, &[]));
    let sqs = OnFirstUse::new(move || sqs_client(&b, &[]));
    let secrets = OnFirstUse::new(move || secrets_client(&c, &[]));
    let events = OnFirstUse::new(move || eventbridge_client(&d, &[]));
    assert_eq!(dynamodb.config().region(), sqs.config().region());
    assert_eq!(secrets.config().region(), events.config().region());
    assert!(dynamodb.config().region().is_some());
}

//! Inside Lambda the AWS configuration comes from the environment alone: no profile file, no
//! provider chain for the region or the credentials. It must still reach the service (here the
//! emulator) with the environment's region and credentials.

use idv_adapters::aws::{dynamodb_client, load_lambda_config};
use idv_adapters::testing;

#[tokio::test]
async fn the_lambda_configuration_works_from_the_environment_alone() {
    testing::require_emulator();
    let config = load_lambda_config(testing::emulator_timeouts()).await;
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

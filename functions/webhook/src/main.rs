//! The webhook Lambda: wiring only. Logic lives in the library.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    idv_adapters::telemetry::init();
    let webhook = idv_webhook::Webhook::from_env().await?;
    lambda_http::run(idv_webhook::router(webhook)).await
}

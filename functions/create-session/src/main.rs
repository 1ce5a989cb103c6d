//! The create-session Lambda: wiring only. Logic lives in the library.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    idv_adapters::telemetry::init();
    let app = idv_create_session::CreateSession::from_env().await?;
    lambda_http::run(idv_create_session::router(app)).await
}

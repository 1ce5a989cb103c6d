//! Each process has one trust store. The OS store (`SSL_CERT_FILE`/`SSL_CERT_DIR` as OpenSSL reads
//! them; on Lambda, one bundle file) is read once, on the first TLS connection rather than at
//! start, and both HTTPS clients, the AWS SDK's and the Ralio client's, trust exactly that set.
//! Both use rustls with the ring provider, so that the binaries carry one crypto library.

use std::sync::{Arc, LazyLock};

use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;
use base64::Engine;
use rustls::pki_types::CertificateDer;

/// Holds the OS trust store, read on first use: the roots rustls accepts, and those certificates.
/// Only the accepted ones go on to the SDK, because it would refuse the whole set for one bad one.
static ROOTS: LazyLock<(rustls::RootCertStore, Vec<CertificateDer<'static>>)> =
    LazyLock::new(|| {
        let found = rustls_native_certs::load_native_certs();
        if !found.errors.is_empty() {
            tracing::warn!(errors = ?found.errors, "some trusted certificates could not be read");
        }
        let mut roots = rustls::RootCertStore::empty();
        let mut accepted = Vec::with_capacity(found.certs.len());
        for cert in found.certs {
            if roots.add(cert.clone()).is_ok() {
                accepted.push(cert);
            }
        }
        if accepted.is_empty() {
            tracing::error!("no trusted root certificates found: every TLS connection will fail");
        }
        (roots, accepted)
    });

static RUSTLS: LazyLock<Arc<rustls::ClientConfig>> = LazyLock::new(|| {
    let roots = ROOTS.0.clone();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
});

/// Holds the same roots as PEM, because the SDK's TLS context takes no rustls configuration.
static SDK_TLS: LazyLock<TlsContext> = LazyLock::new(|| {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut pem = String::new();
    for cert in &ROOTS.1 {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = engine.encode(cert.as_ref());
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    TlsContext::builder()
        .with_trust_store(
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(pem.into_bytes()),
        )
        .build()
        .expect("a TLS context from the trust store")
});

/// Returns the rustls configuration for the Ralio client (reqwest).
pub fn rustls_config() -> rustls::ClientConfig {
    (**RUSTLS).clone()
}

/// Returns the AWS SDK's HTTPS client. Its connector, and with it the trust store, is built on the
/// first request, whereas the SDK's own client would build it when a client is constructed.
pub fn aws_http_client() -> SharedHttpClient {
    let inner = Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder = Connector::builder();
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(SDK_TLS.clone())
            .build()
    });
    OnFirstRequest(inner).into_shared()
}

/// This client delegates to the SDK's client but skips its eager connector build at client
/// construction (`validate_base_client_config`), which would read the trust store during INIT.
#[derive(Debug)]
struct OnFirstRequest(SharedHttpClient);

impl HttpClient for OnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

//! This module checks that a request came through the webhook's edge (CloudFront and its WAF rate
//! limit), when the stack has one. It runs before anything else, the method and the signature
//! included, so a request that went around the edge costs no body read, no signature check and no
//! store call.
//!
//! A refusal is a 503, never a 4xx: Ralio drops every 4xx, and a misconfigured edge (a secret
//! rotated but not yet read, a distribution sending an old value) must leave Ralio retrying, not
//! dropping events.

use axum::http::{HeaderMap, StatusCode};
use idv_adapters::http::Problem;
use idv_adapters::origin_secret::ORIGIN_HEADER;

use crate::{Reply, Webhook};

/// This is the problem code of a request that did not come through the edge.
pub const EDGE_HEADER_MISMATCH: &str = "edge_header_mismatch";

impl Webhook {
    /// Returns the answer to a request that did not come through the edge, or `None` when it did
    /// or when there is no edge to come through.
    pub(crate) async fn refused_at_the_edge(&self, headers: &HeaderMap) -> Option<Reply> {
        let origin = self.parts.origin.as_ref()?;
        let presented = headers.get(ORIGIN_HEADER).map(|value| value.as_bytes());
        let refusal = origin.verify(presented).await.err()?;
        // The header's value is never logged: a near miss could be the secret itself.
        tracing::warn!(
            reason = refusal.as_str(),
            "webhook request did not come through the edge"
        );
        idv_adapters::metrics::edge_refused(refusal.as_str());
        Some(Reply::refused(
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                EDGE_HEADER_MISMATCH,
                "Not received through the edge",
                "Deliveries are accepted through the webhook's edge only; send it again shortly.",
            )
            .retry_after(60),
        ))
    }
}

//! This module puts the HTTP functions on one router, each built through its `Parts` from the
//! options' settings, over one store, one Ralio client and one clock.

use std::sync::Arc;

use axum::Router;
use idv_account_gate::AccountGate;
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::ralio::RalioClient;
use idv_adapters::signing_keys::SigningKeys;
use idv_adapters::store::Store;
use idv_create_session::CreateSession;
use idv_model::{LearntSpellings, WebhookSecrets};
use idv_webhook::Webhook;

use crate::LocalOptions;

pub(crate) struct Functions {
    /// Serves every route of create-session and the account gate, and the webhook at
    /// `/webhooks/ralio`.
    pub router: Router,
    /// It is kept for what an operator does with `idv-admin accounts resolve`.
    pub gate: Arc<AccountGate>,
}

pub(crate) fn wire(
    options: &LocalOptions,
    store: &Arc<dyn Store>,
    scheduler: Arc<ExpiryScheduler>,
    ralio: Arc<RalioClient>,
    secrets: WebhookSecrets,
) -> Functions {
    let clock = options.clock.clone();
    let create = CreateSession::new(idv_create_session::Parts {
        users: store.clone(),
        leases: store.clone(),
        scheduler: scheduler.clone(),
        ralio: ralio.clone(),
        clock: clock.clone(),
        settings: options.create_session,
    });
    let gate = AccountGate::new(idv_account_gate::Parts {
        users: store.clone(),
        accounts: store.clone(),
        audit: store.clone(),
        eraser: store.clone(),
        ralio,
        clock: clock.clone(),
        settings: options.account_gate,
    });
    let webhook = Webhook::new(idv_webhook::Parts {
        store: store.clone(),
        keys: SigningKeys::fixed(secrets),
        // idv-local has no edge in front of the webhook: the simulator posts straight to it, so
        // the edge's header is not checked (WEBHOOK_ORIGIN_SECRET_ARN is not read).
        origin: None,
        clock,
        scheduler: Some(scheduler),
        settings: options.webhook,
        spellings: LearntSpellings::default(),
    });
    let router = Router::new()
        .merge(idv_create_session::router(create))
        .merge(idv_account_gate::router(gate.clone()))
        .nest_service("/webhooks/ralio", idv_webhook::router(webhook));
    Functions { router, gate }
}

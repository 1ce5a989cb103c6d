//! This module serves the hosted verification page, which is plain HTML with one form per
//! outcome.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};

use crate::control::Decision;
use crate::state::Simulator;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn button(id: &str, outcome: &str, label: &str) -> String {
    format!(
        r#"<form method="post" action="/hosted/{id}/decide"><input type="hidden" name="outcome" value="{outcome}"><button id="{outcome}" type="submit">{label}</button></form>"#
    )
}

pub fn render(
    id: &str,
    uid: &str,
    state: &str,
    expires_at: DateTime<Utc>,
    message: Option<&str>,
) -> String {
    let id = escape(id);
    let open = matches!(state, "NOT_STARTED" | "STARTED");
    let decidable = open || state == "REVIEW";
    let mut actions = String::new();
    if state == "NOT_STARTED" {
        actions += &button(&id, "start", "Start");
    }
    if decidable {
        actions += &button(&id, "approve", "Approve");
    }
    if open {
        actions += &button(&id, "review", "Send to review");
    }
    if decidable {
        let options: String = crate::payloads::REASONS
            .iter()
            .map(|r| {
                format!(
                    r#"<option value="{}">{}</option>"#,
                    r.key,
                    escape(r.message)
                )
            })
            .collect();
        actions += &format!(
            r#"<form method="post" action="/hosted/{id}/decide"><input type="hidden" name="outcome" value="reject"><select name="reason" id="reason">{options}</select> <button id="reject" type="submit">Reject</button></form>"#
        );
    }
    if open {
        actions += &button(&id, "expire", "Expire");
    }
    if actions.is_empty() {
        actions = "<p>This session is finished.</p>".into();
    }
    let notice = message
        .map(|m| format!(r#"<p class="notice">{}</p>"#, escape(m)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ralio simulator: identity verification</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}form{{display:inline-block;margin:.25rem}}button{{padding:.5rem 1rem}}.notice{{color:#a00}}dt{{font-weight:bold}}</style>
</head><body>
<h1>Identity verification <small>(Ralio simulator)</small></h1>
{notice}
<dl><dt>Session</dt><dd id="session">{id}</dd><dt>User</dt><dd>{uid}</dd><dt>State</dt><dd id="state">{state}</dd><dt>Expires</dt><dd>{expires}</dd></dl>
<div id="actions">{actions}</div>
<p>Each outcome sends the signed webhooks Ralio would send.</p>
</body></html>"#,
        uid = escape(uid),
        state = escape(state),
        expires = expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
    )
}

pub fn not_found() -> String {
    "<!doctype html><html><body><h1>No such session</h1></body></html>".into()
}

pub(crate) async fn hosted_page(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
) -> Response {
    let session = sim.state().sessions.get(&id).cloned();
    match session {
        Some(s) => Html(render(&s.id, &s.uid, s.state, s.expires_at, None)).into_response(),
        None => (StatusCode::NOT_FOUND, Html(not_found())).into_response(),
    }
}

pub(crate) async fn hosted_decide(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
    Form(decision): Form<Decision>,
) -> Response {
    match sim.decide(&id, &decision.outcome, decision.reason.as_deref()) {
        Ok(_) => Redirect::to(&format!("/hosted/{id}")).into_response(),
        Err(message) => {
            let session = sim.state().sessions.get(&id).cloned();
            match session {
                Some(s) => (
                    StatusCode::CONFLICT,
                    Html(render(&s.id, &s.uid, s.state, s.expires_at, Some(&message))),
                )
                    .into_response(),
                None => (StatusCode::NOT_FOUND, Html(not_found())).into_response(),
            }
        }
    }
}

//! This test records the local server's answers on every route and the statuses reachable
//! without breaking Ralio, for `scripts/check_openapi.py` to check against `infra/openapi.yaml`
//! (run by `make test` after the test suite). The test itself asserts the statuses.

use std::io::Write;

use idv_e2e::{Stack, Store, new_uid, start};
use serde_json::{Value, json};

struct Recorder {
    lines: Vec<String>,
}

impl Recorder {
    async fn call(
        &mut self,
        stack: &Stack,
        method: &str,
        route: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> (u16, Value) {
        let mut request = stack.http.request(method.parse().unwrap(), stack.api(path));
        if let Some(body) = &body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        self.lines.push(json!({ "method": method, "route": route, "status": status, "contentType": content_type, "body": body }).to_string());
        (status, body)
    }
}

fn output_path() -> std::path::PathBuf {
    match std::env::var_os("IDV_EXCHANGES") {
        Some(path) => path.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tmp/exchanges.jsonl"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_answers_for_the_openapi_check() {
    let stack = start(Store::Memory, |_| {}).await;
    let mut r = Recorder { lines: Vec::new() };
    let sessions = "/users/{uid}/idv-sessions";
    let kyc = "/users/{uid}/kyc";
    let accounts = "/users/{uid}/accounts";
    let webhook = "/webhooks/ralio";
    let uid = new_uid();

    assert_eq!(
        r.call(&stack, "GET", kyc, &format!("/users/{uid}/kyc"), None, &[])
            .await
            .0,
        200
    );
    assert_eq!(
        r.call(&stack, "GET", kyc, "/users/nope/kyc", None, &[])
            .await
            .0,
        400
    );
    assert_eq!(
        r.call(
            &stack,
            "POST",
            sessions,
            "/users/nope/idv-sessions",
            None,
            &[]
        )
        .await
        .0,
        400
    );
    let (status, session) = r
        .call(
            &stack,
            "POST",
            sessions,
            &format!("/users/{uid}/idv-sessions"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        r.call(
            &stack,
            "POST",
            sessions,
            &format!("/users/{uid}/idv-sessions"),
            None,
            &[]
        )
        .await
        .0,
        200
    );
    assert_eq!(
        r.call(&stack, "GET", kyc, &format!("/users/{uid}/kyc"), None, &[])
            .await
            .0,
        200
    );
    let account = json!({ "alias": "Main", "currency": "EUR" });
    assert_eq!(
        r.call(
            &stack,
            "POST",
            accounts,
            &format!("/users/{uid}/accounts"),
            Some(account.clone()),
            &[]
        )
        .await
        .0,
        403
    );
    assert_eq!(
        r.call(
            &stack,
            "POST",
            accounts,
            &format!("/users/{uid}/accounts"),
            Some(json!({ "alias": "Main", "currency": "GBP" })),
            &[]
        )
        .await
        .0,
        400
    );

    stack
        .outcome(
            session["sessionId"].as_str().unwrap(),
            "reject",
            Some("deteriorated"),
        )
        .await;
    stack
        .kyc_until(&uid, "REJECTED", |k| {
            k["latestSession"]["state"] == "REJECTED"
        })
        .await;
    assert_eq!(
        r.call(&stack, "GET", kyc, &format!("/users/{uid}/kyc"), None, &[])
            .await
            .0,
        200
    );
    let (_, second) = r
        .call(
            &stack,
            "POST",
            sessions,
            &format!("/users/{uid}/idv-sessions"),
            None,
            &[],
        )
        .await;
    stack
        .outcome(second["sessionId"].as_str().unwrap(), "approve", None)
        .await;
    stack
        .kyc_until(&uid, "REGULAR", |k| k["canCreateAccount"] == true)
        .await;
    assert_eq!(
        r.call(
            &stack,
            "POST",
            sessions,
            &format!("/users/{uid}/idv-sessions"),
            None,
            &[]
        )
        .await
        .0,
        409
    );
    assert_eq!(
        r.call(
            &stack,
            "POST",
            accounts,
            &format!("/users/{uid}/accounts"),
            Some(account.clone()),
            &[]
        )
        .await
        .0,
        201
    );
    assert_eq!(
        r.call(
            &stack,
            "POST",
            accounts,
            &format!("/users/{uid}/accounts"),
            Some(account),
            &[]
        )
        .await
        .0,
        200
    );
    assert_eq!(
        r.call(&stack, "GET", kyc, &format!("/users/{uid}/kyc"), None, &[])
            .await
            .0,
        200
    );

    let history = "/users/{uid}/history";
    let (status, page) = r
        .call(
            &stack,
            "GET",
            history,
            &format!("/users/{uid}/history?limit=2"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let cursor = page["nextCursor"].as_str().expect("more than one page");
    assert_eq!(
        r.call(
            &stack,
            "GET",
            history,
            &format!("/users/{uid}/history?limit=2&cursor={cursor}"),
            None,
            &[]
        )
        .await
        .0,
        200
    );
    assert_eq!(
        r.call(
            &stack,
            "GET",
            history,
            &format!("/users/{uid}/history?limit=0"),
            None,
            &[]
        )
        .await
        .0,
        400
    );

    // Ralio opens an account and then answers 502, so the creation is uncertain, then found in
    // Ralio's list.
    stack.fail_next("create-account", "act-then-5xx").await;
    let savings = json!({ "alias": "Savings", "currency": "USD" });
    let (status, uncertain) = r
        .call(
            &stack,
            "POST",
            accounts,
            &format!("/users/{uid}/accounts"),
            Some(savings.clone()),
            &[],
        )
        .await;
    assert_eq!(
        (status, uncertain["code"].as_str()),
        (409, Some("creation_uncertain"))
    );
    let (_, status_view) = r
        .call(&stack, "GET", kyc, &format!("/users/{uid}/kyc"), None, &[])
        .await;
    assert!(
        status_view["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["status"] == "uncertain"),
        "{status_view}"
    );
    assert_eq!(
        r.call(
            &stack,
            "POST",
            accounts,
            &format!("/users/{uid}/accounts"),
            Some(savings),
            &[]
        )
        .await
        .0,
        200
    );

    // The webhook is called unsigned, signed, oversized and with the wrong method.
    let body = json!({ "id": uuid::Uuid::new_v4().to_string(), "event": "payin_completed", "timestamp": "2026-05-04T09:00:00Z", "data": {} });
    assert_eq!(
        r.call(&stack, "POST", webhook, webhook, Some(body.clone()), &[])
            .await
            .0,
        401
    );
    let bytes = serde_json::to_vec(&body).unwrap();
    let signature = idv_model::WebhookSecret::new(idv_local::LOCAL_WEBHOOK_SECRET).sign_hex(&bytes);
    assert_eq!(
        r.call(
            &stack,
            "POST",
            webhook,
            webhook,
            Some(body),
            &[("x-signature", signature)]
        )
        .await
        .0,
        200
    );
    // An activation for an account not recorded (yet) is kept.
    let activation = json!({ "id": uuid::Uuid::new_v4().to_string(), "event": "account_activated", "timestamp": "2026-05-04T09:00:00Z", "data": { "accountId": uuid::Uuid::new_v4().to_string() } });
    let bytes = serde_json::to_vec(&activation).unwrap();
    let signature = idv_model::WebhookSecret::new(idv_local::LOCAL_WEBHOOK_SECRET).sign_hex(&bytes);
    let (status, kept) = r
        .call(
            &stack,
            "POST",
            webhook,
            webhook,
            Some(activation),
            &[("x-signature", signature)],
        )
        .await;
    assert_eq!((status, kept["outcome"].as_str()), (200, Some("deferred")));
    // A verdict for a session nobody stored, naming no user, makes the service ask Ralio to
    // send it again.
    let orphan = json!({ "id": uuid::Uuid::new_v4().to_string(), "event": "kyc_session_verified", "timestamp": chrono::Utc::now().to_rfc3339(), "data": { "sessionId": uuid::Uuid::new_v4().to_string() } });
    let bytes = serde_json::to_vec(&orphan).unwrap();
    let signature = idv_model::WebhookSecret::new(idv_local::LOCAL_WEBHOOK_SECRET).sign_hex(&bytes);
    let (status, pending) = r
        .call(
            &stack,
            "POST",
            webhook,
            webhook,
            Some(orphan),
            &[("x-signature", signature)],
        )
        .await;
    assert_eq!(
        (status, pending["code"].as_str()),
        (503, Some("attribution_pending"))
    );
    // This body is over Lambda's own request limit, because anything smaller has its signature
    // checked first.
    let big = json!({ "padding": "x".repeat(idv_webhook::MAX_BODY_BYTES) });
    assert_eq!(
        r.call(&stack, "POST", webhook, webhook, Some(big), &[])
            .await
            .0,
        413
    );

    // Erasure, last, because it is final: 202 twice the same, then 410 on every user route.
    let erasure = "/users/{uid}/erasure";
    let erased_uid = new_uid();
    let erase = format!("/users/{erased_uid}/erasure");
    let (status, first) = r.call(&stack, "POST", erasure, &erase, None, &[]).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(
        r.call(&stack, "POST", erasure, &erase, None, &[]).await,
        (202, first)
    );
    assert_eq!(
        r.call(&stack, "POST", erasure, "/users/nope/erasure", None, &[])
            .await
            .0,
        400
    );
    let history = "/users/{uid}/history";
    let body = json!({ "alias": "Main", "currency": "EUR" });
    for (method, route, body) in [
        ("GET", kyc, None),
        ("GET", history, None),
        ("POST", accounts, Some(body)),
        ("POST", sessions, None),
    ] {
        let path = route.replace("{uid}", &erased_uid);
        let (status, gone) = r.call(&stack, method, route, &path, body, &[]).await;
        assert_eq!((status, gone["code"].as_str()), (410, Some("user_erased")));
    }

    let path = output_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = std::fs::File::create(&path).unwrap();
    for line in &r.lines {
        writeln!(file, "{line}").unwrap();
    }
    stack.stop().await;
}

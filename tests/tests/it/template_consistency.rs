//! These tests check that `template.yaml` follows the code. The table is the one the store
//! defines, and every function gets exactly the environment variables its code reads, and
//! exactly the IAM permissions its requests were seen to need, on named resources only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use idv_adapters::config::Env;
use idv_adapters::store::dynamo::schema::TABLE;
use idv_adapters::testing::{OPERATIONS_DIR_VAR, Permission};
use idv_adapters::wiring::Wiring;
use idv_model::AuditOutcome;
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the test venv's Python on `args` and reads the JSON it prints.
fn python_json(args: &[&std::ffi::OsStr]) -> Value {
    let python = std::env::var("IDV_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run the tests through `make test` (it installs cfn-lint into .venv)",
        python.display()
    );
    let output = std::process::Command::new(&python)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn template() -> Value {
    python_json(&[
        root().join("scripts/template_json.py").as_os_str(),
        root().join("template.yaml").as_os_str(),
    ])
}

/// Resolves a value under the given parameters, for the intrinsic functions the template's
/// conditions and rules use (`Ref`, `Condition`, `Fn::If`, `Fn::Not`, `Fn::Equals`, `Fn::And`),
/// inside lists and objects too; `None` is `AWS::NoValue`, which a list or an object drops. A
/// parameter not given has its default; a `Ref` to anything else (a resource, a pseudo parameter
/// not given) stays as it is.
fn resolve(template: &Value, parameters: &Value, value: &Value) -> Option<Value> {
    let condition = |name: &Value| {
        let name = name.as_str().unwrap();
        resolve(template, parameters, &template["Conditions"][name]) == Some(json!(true))
    };
    let intrinsic = |name: &str| {
        value
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.get(name))
    };
    let arguments = |name: &str| intrinsic(name).and_then(Value::as_array).map(Vec::as_slice);
    if let Some(name) = intrinsic("Ref").and_then(Value::as_str) {
        return match name {
            "AWS::NoValue" => None,
            _ if !parameters[name].is_null() => Some(parameters[name].clone()),
            _ if template["Parameters"][name].is_object() => {
                Some(template["Parameters"][name]["Default"].clone())
            }
            _ => Some(value.clone()),
        };
    }
    if let Some(name) = intrinsic("Condition") {
        return Some(json!(condition(name)));
    }
    if let Some([name, then, otherwise]) = arguments("Fn::If") {
        return resolve(
            template,
            parameters,
            if condition(name) { then } else { otherwise },
        );
    }
    if let Some([inner]) = arguments("Fn::Not") {
        return Some(json!(
            resolve(template, parameters, inner) != Some(json!(true))
        ));
    }
    if let Some([a, b]) = arguments("Fn::Equals") {
        return Some(json!(
            resolve(template, parameters, a) == resolve(template, parameters, b)
        ));
    }
    if let Some(all) = arguments("Fn::And") {
        return Some(json!(
            all.iter()
                .all(|c| resolve(template, parameters, c) == Some(json!(true)))
        ));
    }
    Some(match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| resolve(template, parameters, item))
            .collect(),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), resolve(template, parameters, v)?)))
                .collect(),
        ),
        other => other.clone(),
    })
}

/// Returns the names of the resources a stack with `parameters` creates: those without a
/// `Condition`, and those whose condition holds.
fn deployed(template: &Value, parameters: &Value) -> BTreeSet<String> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| {
            r["Condition"].is_null()
                || resolve(
                    template,
                    parameters,
                    &json!({ "Condition": r["Condition"] }),
                ) == Some(json!(true))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

fn resource<'a>(template: &'a Value, name: &str) -> &'a Value {
    let r = &template["Resources"][name];
    assert!(!r.is_null(), "template has no resource {name}");
    r
}

#[test]
fn the_table_is_the_one_the_store_defines() {
    let template = template();
    let table = &resource(&template, "Table")["Properties"];
    let mut expected_attributes: BTreeSet<&str> = [TABLE.hash_key, TABLE.range_key].into();
    for index in TABLE.indexes {
        expected_attributes.insert(index.hash_key);
        expected_attributes.extend(index.range_key);
    }
    let attributes: BTreeSet<&str> = table["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["AttributeType"], "S");
            a["AttributeName"].as_str().unwrap()
        })
        .collect();
    assert_eq!(attributes, expected_attributes);
    let keys = |schema: &Value| -> Vec<(String, String)> {
        schema
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap().to_owned(),
                    k["KeyType"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        keys(&table["KeySchema"]),
        [
            (TABLE.hash_key.to_owned(), "HASH".to_owned()),
            (TABLE.range_key.to_owned(), "RANGE".to_owned())
        ]
    );
    let indexes = table["GlobalSecondaryIndexes"].as_array().unwrap();
    assert_eq!(indexes.len(), TABLE.indexes.len());
    for expected in TABLE.indexes {
        let index = indexes
            .iter()
            .find(|i| i["IndexName"] == expected.name)
            .unwrap_or_else(|| panic!("index {} missing", expected.name));
        let mut want = vec![(expected.hash_key.to_owned(), "HASH".to_owned())];
        if let Some(range) = expected.range_key {
            want.push((range.to_owned(), "RANGE".to_owned()));
        }
        assert_eq!(keys(&index["KeySchema"]), want, "{}", expected.name);
        if expected.included.is_empty() {
            assert_eq!(
                index["Projection"]["ProjectionType"], "KEYS_ONLY",
                "{}",
                expected.name
            );
        } else {
            assert_eq!(index["Projection"]["ProjectionType"], "INCLUDE");
            assert_eq!(
                index["Projection"]["NonKeyAttributes"],
                serde_json::json!(expected.included),
                "{}",
                expected.name
            );
        }
    }
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        TABLE.ttl_attribute
    );
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"],
        TABLE.stream_view_type
    );
}

/// Returns whether a Lambda event filter `pattern` matches `event`. It reads only the subset
/// the template uses: nested objects, lists of exact values, and `{"exists": true}`.
fn filter_matches(pattern: &Value, event: &Value) -> bool {
    pattern.as_object().unwrap().iter().all(|(key, want)| {
        let got = &event[key];
        match want {
            Value::Object(_) => filter_matches(want, got),
            Value::Array(options) => options.iter().any(|option| match option {
                Value::Object(rule) if rule.get("exists") == Some(&Value::Bool(true)) => {
                    !got.is_null()
                }
                exact => exact == got,
            }),
            other => panic!("unsupported pattern {other}"),
        }
    })
}

#[test]
fn the_publisher_is_fed_exactly_the_audit_items_of_applied_changes() {
    use idv_adapters::store::dynamo::items::AuditItem;
    use idv_model::audit::AppliedChange;
    use idv_model::{AuditEntry, Owner, Phase, Uid};

    let template = template();
    let events = &resource(&template, "EventPublisherFunction")["Properties"]["Events"];
    let mapping = &events["Changes"]["Properties"];
    assert_eq!(events["Changes"]["Type"], "DynamoDB");
    assert_eq!(
        mapping["Stream"]["Fn::GetAtt"],
        serde_json::json!(["Table", "StreamArn"])
    );
    assert_eq!(
        mapping["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    assert_eq!(mapping["BisectBatchOnFunctionError"], true);
    let retries = mapping["MaximumRetryAttempts"].as_u64().unwrap();
    assert!((1..=10_000).contains(&retries), "bounded retries");
    let age = mapping["MaximumRecordAgeInSeconds"].as_u64().unwrap();
    assert!(
        age < 24 * 3600,
        "given up before the stream's 24 h retention trims the records the failure names"
    );
    assert_eq!(
        mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0],
        "EventPublisherFailureQueue"
    );
    let filters = mapping["FilterCriteria"]["Filters"].as_array().unwrap();
    assert_eq!(filters.len(), 1);
    let pattern: Value = serde_json::from_str(filters[0]["Pattern"].as_str().unwrap()).unwrap();

    // The stream records hold items as the store writes them.
    let record = |name: &str, image: Value| serde_json::json!({ "eventName": name, "dynamodb": { "NewImage": image } });
    let image = |entry: &AuditEntry| {
        let owner = Owner::User(Uid::from_uuid(uuid::Uuid::new_v4()));
        let item: serde_dynamo::Item = serde_dynamo::to_item(AuditItem::new(owner, entry)).unwrap();
        serde_json::to_value(item).unwrap()
    };
    let applied = AuditEntry::new(
        chrono::Utc::now(),
        "kyc_session_verified",
        AuditOutcome::Applied,
    )
    .with_applied(AppliedChange::session_move(Phase::Verified, Vec::new()));
    assert!(applied.is_publishable());
    assert!(filter_matches(&pattern, &record("INSERT", image(&applied))));
    assert!(!filter_matches(
        &pattern,
        &record("MODIFY", image(&applied))
    ));
    let mut stale = applied.clone();
    stale.outcome = AuditOutcome::Stale;
    assert!(!filter_matches(&pattern, &record("INSERT", image(&stale))));
    let refusal = AuditEntry::new(chrono::Utc::now(), "account_refused", AuditOutcome::Refused);
    assert!(!filter_matches(
        &pattern,
        &record("INSERT", image(&refusal))
    ));
    let mut factless = applied.clone();
    factless.applied = None;
    assert!(!factless.is_publishable());
    assert!(!filter_matches(
        &pattern,
        &record("INSERT", image(&factless))
    ));
    let session =
        serde_json::json!({ "entity": { "S": "session" }, "outcome": { "S": "applied" } });
    assert!(!filter_matches(&pattern, &record("INSERT", session)));
}

/// Maps each function crate to its template resource.
const FUNCTIONS: &[(&str, &str)] = &[
    ("create-session", "CreateSessionFunction"),
    ("webhook", "WebhookFunction"),
    ("account-gate", "AccountGateFunction"),
    ("expiry-watcher", "ExpiryWatcherFunction"),
    ("event-publisher", "EventPublisherFunction"),
    ("reconciler", "ReconcilerFunction"),
];

/// Lists the local-only alternatives. In AWS these come from the Secrets Manager secret, so the
/// template must not set them as plain variables.
const SECRET_ALTERNATIVES: &[&str] = &["WEBHOOK_SECRETS", "RALIO_API_CODE", "RALIO_API_KEY"];

/// Lists the variables the Lambda runtime sets itself, which a function reads and the template
/// never sets.
const SET_BY_LAMBDA: &[&str] = &["AWS_LAMBDA_FUNCTION_NAME"];

/// Lists what a start cannot do without, as the template and Lambda provide it, in harmless
/// values. Nothing here is ever called, since without `PRIME_CONNECTIONS` a start sends no
/// request.
const DEPLOYED: &[(&str, &str)] = &[
    ("AWS_LAMBDA_FUNCTION_NAME", "ralio-idv-recording"),
    ("TABLE_NAME", "ralio-idv-recording"),
    (
        "QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/ralio-idv-recording",
    ),
    ("EVENT_BUS_NAME", "ralio-idv-recording"),
    ("RALIO_BASE_URL", "https://ralio.invalid"),
    (
        "RALIO_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:ralio-idv-api",
    ),
    (
        "WEBHOOK_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:ralio-idv-webhook",
    ),
];

/// An environment that records the name of every variable asked for. It answers [`DEPLOYED`]
/// and leaves everything else unset, so a start takes the path it takes in Lambda and every
/// setting its default.
#[derive(Default)]
struct RecordingEnv {
    asked: std::sync::Mutex<BTreeSet<String>>,
}

impl Env for RecordingEnv {
    fn get(&self, name: &str) -> Option<String> {
        self.asked.lock().unwrap().insert(name.to_owned());
        DEPLOYED
            .iter()
            .find(|(deployed, _)| *deployed == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

/// Returns every environment variable a function reads: the names its `from_env` asks for,
/// started on a [`RecordingEnv`] as Lambda starts it.
async fn variables_read(crate_name: &str) -> BTreeSet<String> {
    let env = RecordingEnv::default();
    // The clients are built on first use, which never comes, so any AWS configuration does.
    let wiring = Wiring::with_config(&env, aws_config::SdkConfig::builder().build(), Vec::new());
    let started = match crate_name {
        "create-session" => idv_create_session::CreateSession::from_env(&wiring)
            .await
            .map(drop),
        "webhook" => idv_webhook::Webhook::from_env(&wiring).await.map(drop),
        "account-gate" => idv_account_gate::AccountGate::from_env(&wiring)
            .await
            .map(drop),
        "expiry-watcher" => idv_expiry_watcher::Watcher::from_env(&wiring)
            .await
            .map(drop),
        "event-publisher" => idv_event_publisher::EventPublisher::from_env(&wiring)
            .await
            .map(drop),
        "reconciler" => idv_reconciler::Reconciler::from_env(&wiring)
            .await
            .map(drop),
        other => panic!("no function {other}"),
    };
    // A start that stops early has not asked for everything yet, so it fails the test.
    if let Err(error) = started {
        panic!(
            "{crate_name} does not start on the recording environment ({error}): DEPLOYED needs a harmless value for it"
        );
    }
    let mut vars = env.asked.into_inner().unwrap();
    // telemetry::init reads LOG_LEVEL in every main, outside `from_env`.
    vars.insert("LOG_LEVEL".into());
    vars
}

fn variables_set(template: &Value, resource_name: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for vars in [
        &template["Globals"]["Function"]["Environment"]["Variables"],
        &resource(template, resource_name)["Properties"]["Environment"]["Variables"],
    ] {
        if let Some(map) = vars.as_object() {
            set.extend(map.keys().cloned());
        }
    }
    set
}

#[tokio::test]
async fn every_variable_a_function_reads_is_set_and_nothing_else() {
    let template = template();
    for (crate_name, resource_name) in FUNCTIONS {
        let read: BTreeSet<String> = variables_read(crate_name)
            .await
            .into_iter()
            .filter(|v| !SECRET_ALTERNATIVES.contains(&v.as_str()))
            .filter(|v| !SET_BY_LAMBDA.contains(&v.as_str()))
            .collect();
        let set = variables_set(&template, resource_name);
        assert_eq!(
            set, read,
            "{crate_name}: template variables vs variables read by the code"
        );
        for secret in SECRET_ALTERNATIVES {
            assert!(
                !set.contains(*secret),
                "{crate_name}: {secret} must come from Secrets Manager, not the template"
            );
        }
    }
    // The test checks that the recording itself finds what it should.
    assert!(
        variables_read("create-session")
            .await
            .contains("EXPIRY_BUCKET")
    );
    assert!(variables_read("webhook").await.contains("WEBHOOK_SECRETS"));
}

/// Maps each function crate to its role in the template.
const ROLES: &[(&str, &str)] = &[
    ("create-session", "CreateSessionRole"),
    ("webhook", "WebhookRole"),
    ("account-gate", "AccountGateRole"),
    ("expiry-watcher", "ExpiryWatcherRole"),
    ("event-publisher", "EventPublisherRole"),
    ("reconciler", "ReconcilerRole"),
];

/// Lists what Lambda's SQS event source mapping does with the watcher's role, which are not
/// calls of our code.
const EVENT_SOURCE_MAPPING: &[&str] = &[
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
];

/// Lists what Lambda's DynamoDB stream event source mapping does with the publisher's role: it
/// reads the stream, and sends what it gives up on to the failure queue.
const STREAM_SOURCE_MAPPING: &[(&str, &str)] = &[
    ("dynamodb:DescribeStream", "TableStream"),
    ("dynamodb:GetRecords", "TableStream"),
    ("dynamodb:GetShardIterator", "TableStream"),
    ("dynamodb:ListStreams", "TableStream"),
    ("sqs:SendMessage", "EventPublisherFailureQueue"),
];

/// Returns the template's name for what a recorded permission acts on.
fn template_label(resource: &str) -> String {
    match resource {
        "table" => "Table".into(),
        "queue" => "TickQueue".into(),
        "secret/api" => "RalioSecret".into(),
        "secret/webhook" => "WebhookSecret".into(),
        "secret/origin" => "WebhookOriginSecret".into(),
        "bus" => "EventBus".into(),
        index if index.starts_with("index/") => index.into(),
        other => panic!("a permission on an unknown resource: {other}"),
    }
}

/// Returns the permissions each function's tests saw its requests need. Every DynamoDB, SQS and
/// Secrets Manager client a function's tests build records into `$IDV_OPERATIONS_DIR`.
fn permissions_used(function: &str) -> BTreeSet<(String, String)> {
    let dir = std::env::var(OPERATIONS_DIR_VAR).unwrap_or_else(|_| {
        panic!(
            "{OPERATIONS_DIR_VAR} is not set: `make test` runs this check after every \
             function's tests have recorded the permissions they used"
        )
    });
    let file = Path::new(&dir).join(format!("{function}.txt"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}: did {function}'s tests run?", file.display()));
    let mut used: BTreeSet<(String, String)> = text
        .lines()
        .filter_map(Permission::parse_line)
        .map(|p| (p.action, template_label(&p.resource)))
        .collect();
    if function == "expiry-watcher" {
        for action in EVENT_SOURCE_MAPPING {
            used.insert(((*action).to_owned(), "TickQueue".to_owned()));
        }
    }
    if function == "event-publisher" {
        for (action, resource) in STREAM_SOURCE_MAPPING {
            used.insert(((*action).to_owned(), (*resource).to_owned()));
        }
    }
    used
}

/// Names the resource a policy statement points at: a template resource or a table index.
fn resource_label(resource: &Value) -> String {
    if let Some(name) = resource.get("Ref").and_then(Value::as_str) {
        return name.to_owned();
    }
    if let Some(get_att) = resource.get("Fn::GetAtt").and_then(Value::as_array) {
        if get_att[0] == "Table" && get_att[1] == "StreamArn" {
            return "TableStream".to_owned();
        }
        return get_att[0].as_str().unwrap().to_owned();
    }
    if let Some(sub) = resource.get("Fn::Sub").and_then(Value::as_str)
        && let Some(index) = sub.strip_prefix("${Table.Arn}/")
    {
        return index.to_owned();
    }
    panic!("resource not named precisely: {resource}")
}

/// Returns the statement itself, or the one a `Fn::If` around it grants when its condition holds
/// (the webhook's origin secret, behind the edge). Such a statement must otherwise be absent
/// (`AWS::NoValue`), so the role never grants more than the statement, and it must be the one
/// condition of the resource it names. The functions' tests record what they need with every
/// option on, so the comparison reads the role with them on too.
fn granted_when_its_condition_holds<'a>(
    template: &Value,
    role: &str,
    statement: &'a Value,
) -> &'a Value {
    let Some([condition, then, otherwise]) = statement
        .get("Fn::If")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    else {
        return statement;
    };
    assert_eq!(
        otherwise,
        &json!({ "Ref": "AWS::NoValue" }),
        "{role}: a conditional statement grants nothing otherwise"
    );
    assert!(
        template["Conditions"][condition.as_str().unwrap()].is_object(),
        "{role}: unknown condition {condition}"
    );
    let named = resource_label(&then["Resource"]);
    assert_eq!(
        &resource(template, &named)["Condition"],
        condition,
        "{role}: a conditional grant names a resource of the same condition"
    );
    then
}

/// `make test` runs this after every other test, because they record what it checks.
#[test]
fn each_role_allows_exactly_what_its_function_was_seen_to_need() {
    let template = template();
    for (function, role) in ROLES {
        let expected = permissions_used(function);
        let role_resource = resource(&template, role);
        assert!(
            role_resource["Properties"]["ManagedPolicyArns"].is_null(),
            "{role}: no managed policies"
        );
        let mut granted = BTreeSet::new();
        for policy in role_resource["Properties"]["Policies"].as_array().unwrap() {
            for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                let statement = granted_when_its_condition_holds(&template, role, statement);
                assert_eq!(statement["Effect"], "Allow");
                // Conditions are refused, because they would narrow a grant in ways this
                // comparison does not read.
                assert!(
                    statement["Condition"].is_null(),
                    "{role}: unexpected Condition"
                );
                let resources: Vec<Value> = match &statement["Resource"] {
                    Value::Array(list) => list.clone(),
                    single => vec![single.clone()],
                };
                for action in statement["Action"].as_array().unwrap() {
                    let action = action.as_str().unwrap().to_owned();
                    assert!(!action.contains('*'), "{role}: wildcard action {action}");
                    for r in &resources {
                        assert_ne!(r, "*", "{role}: wildcard resource");
                        let label = resource_label(r);
                        if action.starts_with("logs:") {
                            assert!(
                                label.ends_with("Logs"),
                                "{role}: logs only on its own log group"
                            );
                            continue;
                        }
                        granted.insert((action.clone(), label));
                    }
                }
            }
        }
        let missing: Vec<_> = expected.difference(&granted).collect();
        let unused: Vec<_> = granted.difference(&expected).collect();
        assert!(
            missing.is_empty() && unused.is_empty(),
            "{role}: the code needs but the template does not grant {missing:?}; \
             the template grants but no test saw the code use {unused:?}"
        );
    }
}

#[test]
fn functions_are_arm64_rust_with_json_logs_and_the_dlq_outlasts_a_week_of_receives() {
    let template = template();
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"][0], "arm64");
    // One cargo-lambda build makes the one binary every function ships.
    assert!(
        makefile.contains(
            "cargo lambda build --release --arm64 --locked -p idv-lambda --bin idv-lambda "
        )
    );
    let dispatched: BTreeSet<&str> = idv_lambda::FUNCTIONS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    let deployed: BTreeSet<&str> = FUNCTIONS
        .iter()
        .map(|(crate_name, _)| *crate_name)
        .collect();
    assert_eq!(
        dispatched, deployed,
        "idv-lambda runs exactly the deployed functions"
    );
    for (crate_name, resource_name) in FUNCTIONS {
        // cargo lambda watch runs a function by a binary of its name.
        let own_binary = root().join(format!("functions/lambda/src/bin/{crate_name}.rs"));
        assert!(own_binary.exists(), "{} is missing", own_binary.display());
        let function = resource(&template, resource_name);
        // The binary runs the function its Handler names (Lambda passes it as _HANDLER).
        assert_eq!(function["Properties"]["Handler"], *crate_name);
        // Each function is packaged from the one cargo-lambda build. The Makefile target SAM
        // calls only copies the binary, which that build made before sam build ran, and it has
        // no prerequisite, so sam's parallel targets never start builds of their own.
        assert_eq!(function["Metadata"]["BuildMethod"], "makefile");
        let target = format!("build-{resource_name}:\n\t$(copy-binary)\n");
        assert!(makefile.contains(&target), "Makefile: {target:?}");
        assert_eq!(function["Properties"]["LoggingConfig"]["LogFormat"], "JSON");
    }
    assert_eq!(
        resource(&template, "WebhookFunction")["Properties"]["FunctionUrlConfig"]["AuthType"],
        "NONE"
    );
    let queue = &resource(&template, "TickQueue")["Properties"];
    // A tick is received at most 16 times over 7 days (expiry-watcher tests), and the count
    // leaves room for failures.
    assert!(queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() >= 50);
    assert_eq!(queue["MessageRetentionPeriod"], 1_209_600);
    let events = &resource(&template, "ExpiryWatcherFunction")["Properties"]["Events"]["Ticks"]["Properties"];
    assert_eq!(
        events["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
}

/// The reconciler runs on the schedule `SweepInterval` sets, one run at a time, with the sweep's
/// settings from the template's parameters; the account gate reads the same `LEVEL_WAIT`.
#[test]
fn the_reconciler_sweeps_on_a_schedule_with_the_template_settings() {
    let template = template();
    let reconciler = &resource(&template, "ReconcilerFunction")["Properties"];
    let schedule = &reconciler["Events"]["Sweep"];
    assert_eq!(schedule["Type"], "Schedule");
    assert_eq!(
        schedule["Properties"]["Schedule"]["Fn::Sub"],
        "rate(${SweepInterval} minutes)"
    );
    assert_eq!(template["Parameters"]["SweepInterval"]["Default"], 15);
    assert_eq!(reconciler["ReservedConcurrentExecutions"], 1);
    let env = &reconciler["Environment"]["Variables"];
    for (variable, parameter) in [
        ("SWEEP_AFTER", "SweepAfter"),
        ("LEVEL_WAIT", "LevelWait"),
        ("SWEEP_MAX_USERS", "SweepMaxUsers"),
    ] {
        assert_eq!(env[variable]["Ref"], parameter, "{variable}");
    }
    let defaults = idv_adapters::sweep::SweepSettings::default();
    assert_eq!(
        template["Parameters"]["SweepAfter"]["Default"],
        format!("{}m", defaults.sweep_after.num_minutes())
    );
    assert_eq!(
        template["Parameters"]["LevelWait"]["Default"],
        format!("{}m", defaults.level_wait.num_minutes())
    );
    assert_eq!(
        template["Parameters"]["SweepMaxUsers"]["Default"],
        defaults.max_users
    );
    let gate = &resource(&template, "AccountGateFunction")["Properties"];
    assert_eq!(
        gate["Environment"]["Variables"]["LEVEL_WAIT"]["Ref"],
        "LevelWait"
    );
}

#[tokio::test]
async fn a_handler_that_names_no_function_fails_at_start_naming_the_variable() {
    for (handler, says) in [
        (None, "_HANDLER is not set"),
        (Some("bootstrap"), "_HANDLER is \"bootstrap\""),
    ] {
        let error = idv_lambda::run(handler).await.unwrap_err().to_string();
        assert!(error.starts_with(says), "{error}");
        assert!(
            error.contains("create-session, webhook, account-gate"),
            "{error}"
        );
    }
}

/// Returns the alarms on `metric` (namespace `namespace`), as (dimension name, dimension value)
/// lists.
fn alarms_on(template: &Value, namespace: &str, metric: &str) -> Vec<Value> {
    template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|r| &r["Properties"])
        .filter(|p| p["Namespace"] == namespace && p["MetricName"] == metric)
        .map(|p| p["Dimensions"].clone())
        .collect()
}

#[test]
fn quiet_failures_are_alarmed_and_the_webhook_reserves_no_concurrency_unless_asked() {
    let template = template();
    // Every function's throttles are alarmed.
    let throttles = alarms_on(&template, "AWS/Lambda", "Throttles");
    for (_, function) in FUNCTIONS {
        assert!(
            throttles.iter().any(|d| d[0]["Value"]["Ref"] == *function),
            "{function}: no Throttles alarm"
        );
    }
    // The webhook's 5xx alarm leaves out what signature_unverified answered.
    let server = &resource(&template, "WebhookServerErrorAlarm")["Properties"];
    let metrics = server["Metrics"].as_array().unwrap();
    let stat = |id: &str| {
        let m = metrics.iter().find(|m| m["Id"] == id).unwrap();
        m["MetricStat"]["Metric"]["MetricName"].clone()
    };
    assert_eq!(stat("server"), "Url5xxCount");
    assert_eq!(stat("unverified"), "WebhookSignatureUnverified");
    let returned: Vec<_> = metrics.iter().filter(|m| m["ReturnData"] == true).collect();
    assert_eq!(returned.len(), 1);
    assert_eq!(stat("edge"), "WebhookEdgeRefused");
    assert_eq!(
        returned[0]["Expression"],
        "FILL(server, 0) - FILL(unverified, 0) - FILL(edge, 0)"
    );
    let webhook_4xx = alarms_on(&template, "AWS/Lambda", "Url4xxCount");
    assert_eq!(webhook_4xx[0][0]["Value"]["Ref"], "WebhookFunction");
    let api_5xx = alarms_on(&template, "AWS/ApiGateway", "5xx");
    assert_eq!(api_5xx[0][0]["Value"]["Ref"], "HttpApi");
    // The service's own counts are alarmed as totals, because every EMF line also carries an
    // empty dimension set.
    for metric in [
        "QuarantinedEvents",
        "EventsUnpublished",
        "WebhookSignatureRejected",
        "WebhookSignatureUnverified",
        "AccountCreationUnresolved",
        "SessionCreationUnresolved",
        "LevelOverdue",
        "SweepFailed",
        "SweepGaveUp",
        "WebhookEdgeRefused",
    ] {
        let found = alarms_on(&template, idv_adapters::metrics::NAMESPACE, metric);
        assert!(
            found.iter().any(Value::is_null),
            "{metric}: no alarm on its total"
        );
    }
    for alarm in template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
    {
        assert!(
            alarm["Properties"]["AlarmActions"]["Fn::If"][0] == "HasAlarmTopic",
            "every alarm notifies the topic when there is one"
        );
    }
    // The webhook reserves no concurrency unless a figure is given: a reservation caps the
    // door, and Lambda's own 429 above it is an event Ralio drops.
    let webhook = &resource(&template, "WebhookFunction")["Properties"];
    let reservation = |figure: &str| {
        let parameters = json!({ "WebhookConcurrencyReservation": figure });
        resolve(
            &template,
            &parameters,
            &webhook["ReservedConcurrentExecutions"],
        )
    };
    let default = template["Parameters"]["WebhookConcurrencyReservation"]["Default"]
        .as_str()
        .unwrap();
    assert_eq!(reservation(default), None, "no reservation by default");
    assert_eq!(reservation("200"), Some(json!("200")));
    let ticks = &resource(&template, "ExpiryWatcherFunction")["Properties"]["Events"]["Ticks"];
    assert!(
        ticks["Properties"]["ScalingConfig"]["MaximumConcurrency"]
            .as_u64()
            .unwrap()
            >= 2
    );
    let api = &resource(&template, "HttpApi")["Properties"];
    let format = api["AccessLogSettings"]["Format"].as_str().unwrap();
    for who in [
        "$context.identity.userArn",
        "$context.authorizer.claims.sub",
    ] {
        assert!(format.contains(who), "access logs name the caller: {who}");
    }
    assert_eq!(
        resource(&template, "Dashboard")["Type"],
        "AWS::CloudWatch::Dashboard"
    );
}

/// The webhook's edge is off unless asked for: no distribution, web ACL or origin secret, and
/// the webhook is given no origin secret and may read none. Asked for, CloudFront sends the
/// secret to the function URL with nothing cached, the web ACL limits each source address with a
/// 503 and Retry-After (never the 403 Ralio would drop), and the webhook reads that one secret.
#[test]
fn the_webhook_edge_is_off_unless_asked_and_refuses_with_503_when_on() {
    use idv_adapters::origin_secret::{ORIGIN_HEADER, ORIGIN_SECRET_ARN_VAR};
    const EDGE: [&str; 4] = [
        "WebhookDistribution",
        "WebhookWebAcl",
        "WebhookOriginSecret",
        "WebhookEdgeRefusedAlarm",
    ];
    let template = template();
    let webhook = &resource(&template, "WebhookFunction")["Properties"];
    let role = &resource(&template, "WebhookRole")["Properties"]["Policies"];
    let environment = |parameters: &Value| {
        resolve(&template, parameters, &webhook["Environment"]["Variables"]).unwrap()
    };
    let role_text = |parameters: &Value| resolve(&template, parameters, role).unwrap().to_string();

    let off = json!({});
    assert_eq!(template["Parameters"]["WebhookEdge"]["Default"], "none");
    let created = deployed(&template, &off);
    for name in EDGE {
        assert!(!created.contains(name), "{name} without the edge");
    }
    for name in &created {
        let kind = resource(&template, name)["Type"].as_str().unwrap();
        assert!(
            !kind.starts_with("AWS::CloudFront::") && !kind.starts_with("AWS::WAFv2::"),
            "{name}: {kind} without the edge"
        );
    }
    assert!(environment(&off)[ORIGIN_SECRET_ARN_VAR].is_null());
    assert!(!role_text(&off).contains("WebhookOriginSecret"));
    assert!(
        resolve(
            &template,
            &off,
            &json!({ "Condition": template["Outputs"]["WebhookEdgeUrl"]["Condition"] })
        ) == Some(json!(false))
    );

    let on = json!({ "WebhookEdge": "cloudfront-waf" });
    let created = deployed(&template, &on);
    for name in EDGE {
        assert!(created.contains(name), "{name} with the edge");
    }
    // The webhook is given the secret's ARN and may read that secret, and no other new one.
    assert_eq!(
        environment(&on)[ORIGIN_SECRET_ARN_VAR],
        json!({ "Ref": "WebhookOriginSecret" })
    );
    let statements: Vec<Value> =
        resolve(&template, &on, role).unwrap()[0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s.to_string().contains("WebhookOriginSecret"))
            .cloned()
            .collect();
    assert_eq!(
        statements,
        [json!({
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": { "Ref": "WebhookOriginSecret" }
        })]
    );
    let secret = &resource(&template, "WebhookOriginSecret")["Properties"]["GenerateSecretString"];
    assert_eq!(secret["ExcludePunctuation"], true, "a header-safe value");
    assert!(
        secret["PasswordLength"].as_u64().unwrap()
            >= idv_adapters::secrets::MIN_WEBHOOK_SECRET_BYTES as u64
    );

    // CloudFront's one origin is the function URL, over HTTPS, sent the secret in the header the
    // webhook checks, with nothing cached and every header but Host passed on.
    let config = &resource(&template, "WebhookDistribution")["Properties"]["DistributionConfig"];
    let origins = config["Origins"].as_array().unwrap();
    assert_eq!(origins.len(), 1);
    assert_eq!(
        origins[0]["DomainName"],
        json!({ "Fn::Select": [2, { "Fn::Split": ["/", { "Fn::GetAtt": ["WebhookFunctionUrl", "FunctionUrl"] }] }] })
    );
    assert_eq!(
        origins[0]["CustomOriginConfig"]["OriginProtocolPolicy"],
        "https-only"
    );
    assert_eq!(
        origins[0]["OriginCustomHeaders"],
        json!([{
            "HeaderName": ORIGIN_HEADER,
            "HeaderValue": { "Fn::Sub": "{{resolve:secretsmanager:${WebhookOriginSecret}:SecretString}}" }
        }])
    );
    let behaviour = &config["DefaultCacheBehavior"];
    assert_eq!(behaviour["TargetOriginId"], origins[0]["Id"]);
    assert_eq!(behaviour["ViewerProtocolPolicy"], "https-only");
    // The managed CachingDisabled and AllViewerExceptHostHeader policies.
    assert_eq!(
        behaviour["CachePolicyId"],
        "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    );
    assert_eq!(
        behaviour["OriginRequestPolicyId"],
        "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    );
    assert_eq!(behaviour["AllowedMethods"].as_array().unwrap().len(), 7);
    assert!(behaviour["AllowedMethods"].to_string().contains("\"POST\""));

    // The web ACL is created here, and the distribution uses it, unless one is named.
    let web_acl = |parameters: &Value| resolve(&template, parameters, &config["WebACLId"]);
    assert_eq!(
        web_acl(&on),
        Some(json!({ "Fn::GetAtt": ["WebhookWebAcl", "Arn"] }))
    );
    let named = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/shared/0f1e2d3c";
    let elsewhere = json!({ "WebhookEdge": "cloudfront-waf", "WebhookWebAclArn": named });
    assert!(!deployed(&template, &elsewhere).contains("WebhookWebAcl"));
    assert!(deployed(&template, &elsewhere).contains("WebhookDistribution"));
    assert_eq!(web_acl(&elsewhere), Some(json!(named)));

    // Its one rule limits each source address to WebhookRatePerIp and answers 503 with
    // Retry-After. A block without a custom response would be a 403, which Ralio drops.
    let acl = &resource(&template, "WebhookWebAcl")["Properties"];
    assert_eq!(acl["Scope"], "CLOUDFRONT");
    assert_eq!(acl["DefaultAction"], json!({ "Allow": {} }));
    let rules = acl["Rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    let rate = &rules[0]["Statement"]["RateBasedStatement"];
    assert_eq!(rate["Limit"], json!({ "Ref": "WebhookRatePerIp" }));
    assert_eq!(rate["AggregateKeyType"], "IP");
    assert_eq!(rate["EvaluationWindowSec"], 300);
    let limit = &template["Parameters"]["WebhookRatePerIp"];
    assert_eq!(limit["MinValue"], 10, "WAF's lowest limit");
    assert!(limit["Default"].as_u64().unwrap() >= 1000);
    for rule in rules {
        let response = &rule["Action"]["Block"]["CustomResponse"];
        assert_eq!(response["ResponseCode"], 503, "{rule}");
        assert!(
            response["ResponseHeaders"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["Name"] == "Retry-After"
                    && h["Value"].as_str().unwrap().parse::<u32>().is_ok()),
            "{rule}"
        );
        let key = response["CustomResponseBodyKey"].as_str().unwrap();
        let body: Value = serde_json::from_str(
            acl["CustomResponseBodies"][key]["Content"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(body["status"], 503);
    }

    // A stack that creates its web ACL must be in us-east-1, the only Region where CloudFront
    // web ACLs are made; one that names a web ACL may be anywhere.
    let rule = &template["Rules"]["WebhookEdgeWebAclNeedsUsEast1"];
    let applies = |parameters: &Value| resolve(&template, parameters, &rule["RuleCondition"]);
    assert_eq!(applies(&on), Some(json!(true)));
    assert_eq!(applies(&elsewhere), Some(json!(false)));
    assert_eq!(applies(&off), Some(json!(false)));
    let holds = |region: &str| {
        let parameters = json!({ "WebhookEdge": "cloudfront-waf", "AWS::Region": region });
        resolve(&template, &parameters, &rule["Assertions"][0]["Assert"])
    };
    assert_eq!(holds("us-east-1"), Some(json!(true)));
    assert_eq!(holds("eu-west-1"), Some(json!(false)));

    // Ralio is given the distribution's address when there is one.
    let output = &template["Outputs"]["WebhookEdgeUrl"];
    assert_eq!(output["Condition"], "HasWebhookEdge");
    assert_eq!(
        output["Value"],
        json!({ "Fn::Sub": "https://${WebhookDistribution.DomainName}/" })
    );
}

#[test]
fn production_cannot_be_deployed_on_the_sandbox_ralio() {
    let template = template();
    let rule = &template["Rules"]["ProdNeedsProductionRalio"];
    let assertion = &rule["Assertions"][0]["Assert"];
    let sandbox = template["Parameters"]["RalioBaseUrl"]["Default"]
        .as_str()
        .unwrap();
    assert!(sandbox.contains("sandbox"), "{sandbox}");
    let holds = |expression: &Value, parameters: &Value| {
        resolve(&template, parameters, expression) == Some(json!(true))
    };
    let production = "https://ralio.example/production";
    for (stage, url, refused) in [
        ("prod", sandbox, true),
        ("prod", production, false),
        ("dev", sandbox, false),
    ] {
        let parameters = json!({ "Stage": stage, "RalioBaseUrl": url });
        let applies = holds(&rule["RuleCondition"], &parameters);
        assert_eq!(
            applies && !holds(assertion, &parameters),
            refused,
            "Stage={stage} RalioBaseUrl={url}"
        );
    }
    // Left at its default, a production stack is refused.
    assert!(!holds(assertion, &json!({ "Stage": "prod" })));
}

#[test]
fn production_cannot_be_deployed_without_an_alarm_topic() {
    let template = template();
    let rule = &template["Rules"]["ProdNeedsAlarmTopic"];
    assert_eq!(
        rule["RuleCondition"]["Fn::Equals"],
        serde_json::json!([{ "Ref": "Stage" }, "prod"])
    );
    assert_eq!(
        rule["Assertions"][0]["Assert"]["Fn::Not"][0]["Fn::Equals"],
        serde_json::json!([{ "Ref": "AlarmTopicArn" }, ""])
    );
    let config = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
    let section = |name: &str| -> String {
        let start = config
            .find(&format!("[{name}]"))
            .unwrap_or_else(|| panic!("samconfig.toml has no [{name}]"));
        let rest = &config[start + name.len() + 2..];
        rest[..rest.find("\n[").unwrap_or(rest.len())].to_owned()
    };
    let prod = section("prod.deploy.parameters");
    assert!(prod.contains("Stage=prod"), "{prod}");
    assert!(prod.contains("AlarmTopicArn=arn:"), "{prod}");
    let dev = section("default.deploy.parameters");
    assert!(
        !dev.contains("Stage=prod"),
        "the default environment is dev"
    );
}

/// Returns `METHOD /path` of every route a function's HTTP API events declare, by function.
fn template_routes(template: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (crate_name, resource_name) in FUNCTIONS {
        let events = &resource(template, resource_name)["Properties"]["Events"];
        for event in events.as_object().into_iter().flat_map(|e| e.values()) {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let properties = &event["Properties"];
            assert_eq!(properties["ApiId"]["Ref"], "HttpApi", "{resource_name}");
            assert_eq!(properties["PayloadFormatVersion"], "2.0", "{resource_name}");
            routes.insert((
                crate_name.to_string(),
                format!(
                    "{} {}",
                    properties["Method"].as_str().unwrap().to_uppercase(),
                    properties["Path"].as_str().unwrap()
                ),
            ));
        }
    }
    routes
}

/// Returns `METHOD /path` of every route a function serves, as its `ROUTES` declares them.
fn routes_served(crate_name: &str) -> BTreeSet<String> {
    let routes: &[(&str, &str)] = match crate_name {
        "create-session" => idv_create_session::ROUTES,
        "account-gate" => idv_account_gate::ROUTES,
        // These functions are fed by SQS, the table's stream and a schedule, never over HTTP.
        "expiry-watcher" | "event-publisher" | "reconciler" => &[],
        other => panic!("no routes known for {other}"),
    };
    routes
        .iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect()
}

fn openapi_routes() -> BTreeSet<String> {
    let spec = python_json(&[
        "-c".as_ref(),
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))".as_ref(),
        root().join("infra/openapi.yaml").as_os_str(),
    ]);
    let mut routes = BTreeSet::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            routes.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    routes
}

#[test]
fn the_api_routes_are_the_same_in_the_template_the_spec_and_the_routers() {
    let template = template();
    let declared = template_routes(&template);
    // Each function's events name exactly the routes its router serves.
    for (crate_name, resource_name) in FUNCTIONS {
        let in_template: BTreeSet<String> = declared
            .iter()
            .filter(|(owner, _)| owner == crate_name)
            .map(|(_, route)| route.clone())
            .collect();
        if *crate_name == "webhook" {
            // The webhook is a function URL (any path), not a route of the merchant API.
            assert!(in_template.is_empty());
            assert_eq!(
                resource(&template, resource_name)["Properties"]["FunctionUrlConfig"]["AuthType"],
                "NONE"
            );
            continue;
        }
        let served = routes_served(crate_name);
        assert_eq!(
            in_template, served,
            "{resource_name}: template events vs router"
        );
    }
    // The spec documents exactly the merchant API plus the webhook delivery.
    let mut documented = openapi_routes();
    assert!(
        documented.remove("POST /webhooks/ralio"),
        "the spec documents the webhook"
    );
    let in_template: BTreeSet<String> = declared.into_iter().map(|(_, route)| route).collect();
    assert_eq!(documented, in_template, "openapi.yaml vs template events");
    assert!(in_template.len() >= 4, "{in_template:?}");
}

#[test]
fn the_api_is_iam_by_default_or_jwt_with_scopes() {
    let template = template();
    let auth = &resource(&template, "HttpApi")["Properties"]["Auth"];
    assert_eq!(template["Parameters"]["ApiAuth"]["Default"], "IAM");
    // SAM needs literals here, and AWS::LanguageExtensions resolves the choice before SAM runs.
    let transforms = template["Transform"].as_array().expect("a transform list");
    assert_eq!(transforms[0], "AWS::LanguageExtensions");
    assert_eq!(
        auth["DefaultAuthorizer"]["Fn::If"],
        serde_json::json!(["UseJwt", "MerchantJwt", "AWS_IAM"])
    );
    let jwt = &auth["Authorizers"]["MerchantJwt"];
    assert_eq!(jwt["AuthorizationScopes"]["Ref"], "JwtScopes");
    assert_eq!(
        jwt["JwtConfiguration"]["issuer"]["Fn::If"],
        serde_json::json!(["UseJwt", { "Ref": "JwtIssuer" }, "https://unused.invalid"])
    );
    assert_eq!(
        template["Parameters"]["JwtScopes"]["Type"],
        "CommaDelimitedList"
    );
    let rule = &template["Rules"]["JwtNeedsIssuerAudienceAndScopes"];
    assert_eq!(
        rule["RuleCondition"]["Fn::Equals"],
        serde_json::json!([{ "Ref": "ApiAuth" }, "JWT"])
    );
    assert_eq!(rule["Assertions"].as_array().map(Vec::len), Some(4));
    // No function event overrides the API's authorizer, so every route is protected the same
    // way, except erasure, which needs its own scopes (JWT) or its own policy (IAM).
    for (_, resource_name) in FUNCTIONS {
        let events = &resource(&template, resource_name)["Properties"]["Events"];
        for (name, event) in events.as_object().into_iter().flatten() {
            if name == "Erasure" {
                continue;
            }
            assert!(event["Properties"]["Auth"].is_null(), "{resource_name}");
        }
    }
    let erasure = &resource(&template, "AccountGateFunction")["Properties"]["Events"]["Erasure"];
    assert_eq!(erasure["Properties"]["Path"], "/users/{uid}/erasure");
    let auth = &erasure["Properties"]["Auth"];
    assert_eq!(
        auth["Authorizer"]["Fn::If"],
        serde_json::json!(["UseJwt", "MerchantJwt", "AWS_IAM"])
    );
    assert_eq!(
        auth["AuthorizationScopes"]["Fn::If"],
        serde_json::json!(["UseJwt", { "Ref": "JwtErasureScopes" }, { "Ref": "AWS::NoValue" }])
    );
    assert_eq!(
        template["Parameters"]["JwtErasureScopes"]["Default"],
        "ralio-idv/erasure"
    );
    let everyday = resource(&template, "MerchantApiPolicy").to_string();
    assert!(
        !everyday.contains("erasure"),
        "the everyday policy cannot erase"
    );
    let erasing = resource(&template, "MerchantErasurePolicy").to_string();
    assert!(erasing.contains("/POST/users/*/erasure"));
}

/// Returns the codes of the OpenAPI `Problem` schema.
fn problem_codes() -> Vec<String> {
    let spec = python_json(&[
        "-c".as_ref(),
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))".as_ref(),
        root().join("infra/openapi.yaml").as_os_str(),
    ]);
    spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_problem_code_is_in_the_integration_guide_with_what_to_do() {
    let guide = std::fs::read_to_string(root().join("docs/integration.md")).unwrap();
    let section = guide
        .split("### Every problem code")
        .nth(1)
        .expect("docs/integration.md has a section for every problem code");
    let section = section.split("\n#").next().unwrap();
    let actions = ["retry", "final", "fix the request", "ask an operator"];
    let codes = problem_codes();
    assert!(codes.len() >= 20, "{codes:?}");
    for code in codes {
        let row = section
            .lines()
            .find(|line| line.starts_with(&format!("| `{code}` |")))
            .unwrap_or_else(|| panic!("docs/integration.md does not list `{code}`"));
        let action = row.trim_end_matches('|').rsplit('|').next().unwrap().trim();
        assert!(
            actions.iter().any(|a| action.starts_with(a)),
            "`{code}`: the action {action:?} is not one of {actions:?}"
        );
    }
}

#[test]
fn the_readme_is_a_short_page_and_each_guide_says_whom_it_is_for() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.lines().count() <= 250, "README.md is over 250 lines");
    assert!(
        readme.contains("```mermaid"),
        "the journey's sequence diagram"
    );
    for guide in [
        "integration",
        "operations",
        "architecture",
        "development",
        "data-map",
    ] {
        let path = format!("docs/{guide}.md");
        let text = std::fs::read_to_string(root().join(&path)).unwrap();
        assert!(
            text.contains("**For:**"),
            "{path} opens with whom it is for"
        );
        assert!(readme.contains(&path), "README.md links {path}");
    }
}

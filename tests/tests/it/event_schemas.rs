//! `infra/events/schemas/` holds one JSON Schema per detail-type of the catalogue, naming the
//! values the model can emit. Every event the tests see emitted is validated against these
//! schemas after the run (`scripts/check_events.py`).

use std::path::{Path, PathBuf};

use idv_model::domain_events::{DetailType, SOURCE};
use idv_model::{NextActionCode, SessionState};
use serde_json::Value;

fn schema(kind: DetailType) -> Value {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/events/schemas")
        .join(kind.schema_file());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_detail_type_has_its_schema_and_nothing_else_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/events/schemas");
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, DetailType::ALL.len());
    for kind in DetailType::ALL {
        let schema = schema(kind);
        assert_eq!(schema["properties"]["detail-type"]["const"], kind.name());
        assert_eq!(schema["properties"]["source"]["const"], SOURCE);
        let required = schema["properties"]["detail"]["required"]
            .as_array()
            .unwrap();
        for common in ["eventId", "occurredAt", "schemaVersion", "uid"] {
            assert!(required.contains(&Value::from(common)), "{common}");
        }
    }
}

#[test]
fn the_schemas_name_the_models_vocabularies() {
    let states: Vec<Value> = SessionState::ALL
        .iter()
        .map(|s| Value::from(s.name()))
        .collect();
    let session = schema(DetailType::SessionStateChanged);
    assert_eq!(
        session["properties"]["detail"]["properties"]["state"]["enum"],
        Value::from(states)
    );
    let codes: Vec<Value> = NextActionCode::ALL
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    let level = schema(DetailType::KycLevelChanged);
    assert_eq!(
        level["properties"]["detail"]["properties"]["nextAction"]["properties"]["code"]["enum"],
        Value::from(codes)
    );
}

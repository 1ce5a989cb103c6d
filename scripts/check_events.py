"""Checks every domain event the tests saw emitted against its JSON Schema.

Usage: python scripts/check_events.py infra/events/schemas EVENTS.jsonl

Each line of EVENTS.jsonl is one EventBridge entry ({id, source, detail-type, time, detail})
recorded by a test. The schema is infra/events/schemas/<detail-type, lower-case, dashed>.json. Every
schema must have been exercised by at least one event.
"""

import json
import os
import sys

from jsonschema import Draft202012Validator


def main():
    schemas_dir, events_path = sys.argv[1], sys.argv[2]
    schemas = {}
    for name in sorted(os.listdir(schemas_dir)):
        if name.endswith(".json"):
            with open(os.path.join(schemas_dir, name)) as f:
                schema = json.load(f)
            Draft202012Validator.check_schema(schema)
            schemas[schema["properties"]["detail-type"]["const"]] = schema
    with open(events_path) as f:
        events = [json.loads(line) for line in f if line.strip()]
    if not events:
        sys.exit("events: no recorded events to check")
    failures, seen = [], {}
    for event in events:
        kind = event.get("detail-type")
        schema = schemas.get(kind)
        if schema is None:
            failures.append(f"{kind!r}: no schema")
            continue
        seen[kind] = seen.get(kind, 0) + 1
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        for error in sorted(validator.iter_errors(event), key=str):
            failures.append(f"{kind} {event.get('id')}: {error.message} at {list(error.absolute_path)}")
    for kind in schemas:
        if kind not in seen:
            failures.append(f"{kind}: no test emitted one")
    counts = ", ".join(f"{k} {n}" for k, n in sorted(seen.items()))
    print(f"events: {len(events)} events checked against {len(schemas)} schemas ({counts}); {len(failures)} failures")
    for failure in failures:
        print("  " + failure)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

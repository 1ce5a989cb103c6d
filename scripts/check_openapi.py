"""Validates infra/openapi.yaml and checks that recorded answers of the local server conform.

Usage: python scripts/check_openapi.py infra/openapi.yaml EXCHANGES.jsonl

Each exchange line is {"method", "route", "status", "contentType", "body"}, written by the
end-to-end test tests/tests/it/api_contract.rs. Every exchange must be a documented status of a
documented operation, with the documented content type, and its body must match the schema.
"""

import json
import sys

import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate


def deref(node, spec):
    """Inlines local $refs (the spec has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node and len(node) == 1:
            target = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return deref(target, spec)
        return {k: deref(v, spec) for k, v in node.items()}
    if isinstance(node, list):
        return [deref(v, spec) for v in node]
    return node


def main():
    spec_path, exchanges_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        raw = yaml.safe_load(f)
    validate(raw)
    spec = deref(raw, raw)
    failures, seen = [], set()
    # Every answer documents an example that its own schema accepts, and every operation names
    # how it is called (its own security, or the document's).
    for route, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {route}"
            if "security" not in operation and "security" not in raw:
                failures.append(f"{where}: no security")
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    if "example" not in content:
                        failures.append(f"{where} -> {status} {media}: no example")
                        continue
                    for error in Draft202012Validator(content["schema"]).iter_errors(content["example"]):
                        path = "/".join(str(p) for p in error.absolute_path)
                        failures.append(f"{where} -> {status} example/{path}: {error.message}")
    with open(exchanges_path) as f:
        exchanges = [json.loads(line) for line in f if line.strip()]
    if not exchanges:
        sys.exit("openapi: no recorded exchanges to check")
    for ex in exchanges:
        where = f"{ex['method']} {ex['route']} -> {ex['status']}"
        operation = spec["paths"].get(ex["route"], {}).get(ex["method"].lower())
        if operation is None:
            failures.append(f"{where}: operation not documented")
            continue
        response = operation["responses"].get(str(ex["status"]))
        if response is None:
            failures.append(f"{where}: status not documented")
            continue
        seen.add(where)
        content = response.get("content", {})
        media = (ex.get("contentType") or "").split(";")[0].strip()
        if media not in content:
            failures.append(f"{where}: content type {media!r} not documented ({list(content)})")
            continue
        errors = sorted(Draft202012Validator(content[media]["schema"]).iter_errors(ex["body"]), key=str)
        for error in errors:
            path = "/".join(str(p) for p in error.absolute_path)
            failures.append(f"{where}: body/{path}: {error.message}")
    for failure in failures:
        print("openapi FAIL:", failure)
    print(f"openapi: spec valid; {len(exchanges)} answers checked, {len(seen)} distinct route/status pairs, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

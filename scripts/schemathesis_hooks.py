"""schemathesis hooks for idv-local: Ralio's side of the webhook.

Every generated webhook request goes out either signed, as Ralio signs (HMAC-SHA256 of the
exact bytes sent, with the secret in IDV_WEBHOOK_SECRET), or with the signature schemathesis
generated. Which one is decided per request from its body, so a case replays the same way.
Each answer is then judged on what was actually sent: a request whose signature does not match
its bytes must get 401, and one that does must never get 401 (the schema cannot say so: 200
and 401 are both documented answers). At exit the counts go to IDV_WEBHOOK_COUNTS; the run
fails if either kind is missing or any answer broke that rule.
"""

import atexit
import hashlib
import hmac
import json
import os

import schemathesis

SECRET = os.environ["IDV_WEBHOOK_SECRET"].encode()
COUNTS = {"signed": 0, "unsigned": 0, "wrong_answers": []}


def _write_counts() -> None:
    path = os.environ.get("IDV_WEBHOOK_COUNTS")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(COUNTS, out)


atexit.register(_write_counts)


def _body_bytes(case) -> bytes | None:
    """The bytes the transport would send for this case's body (its JSON serialiser)."""
    body = case.body
    if isinstance(body, bytes):
        return body
    try:
        return json.dumps(body).encode()
    except (TypeError, ValueError):
        return None


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/webhooks/ralio" or case.method.upper() != "POST":
        return
    if type(case.body).__name__ == "NotSet":
        COUNTS["unsigned"] += 1
        return
    body = _body_bytes(case)
    # Three in four signed: the signed path reaches the parser, the store and the model.
    if body is None or hashlib.sha256(body).digest()[0] % 4 == 0:
        COUNTS["unsigned"] += 1
        return
    kwargs["data"] = body
    headers = dict(case.headers or {})
    headers["X-Signature"] = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    case.headers = headers
    COUNTS["signed"] += 1


def _signed(body: bytes | str | None, signature: str | None) -> bool:
    if signature is None:
        return False
    if isinstance(body, str):
        body = body.encode()
    expected = hmac.new(SECRET, body or b"", hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature.encode(), expected.encode())


@schemathesis.hook
def after_call(context, case, response):
    if case.operation.path != "/webhooks/ralio" or case.method.upper() != "POST":
        return
    sent = response.request
    signed = _signed(sent.body, sent.headers.get("X-Signature"))
    status = response.status_code
    # 413 (over 256 KiB) is checked before the signature.
    if (signed and status == 401) or (not signed and status not in (401, 413) and status < 500):
        if len(COUNTS["wrong_answers"]) < 20:
            COUNTS["wrong_answers"].append(
                {"signed": signed, "status": status, "body": response.text[:200]}
            )

"""schemathesis hooks for idv-local: Ralio's side of the webhook.

Every generated webhook request goes out either signed, as Ralio signs (HMAC-SHA256 of the
exact bytes sent, with the secret in IDV_WEBHOOK_SECRET), or with the signature schemathesis
generated, which the service must refuse. Which one is decided per request from its body, so a
case replays the same way. At exit the counts go to IDV_WEBHOOK_COUNTS, so the run can show
that both kinds were exercised.
"""

import atexit
import hashlib
import hmac
import json
import os

import schemathesis

SECRET = os.environ["IDV_WEBHOOK_SECRET"].encode()
COUNTS = {"signed": 0, "unsigned": 0}


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

"""The golden story against a running stack: what a merchant's backend does, end to end.

Usage: python scripts/smoke.py BASE_URL

1. create a verification session for a new user (201);
2. approve it: through the Ralio simulator (SMOKE_SIM_URL), or, for a deployed dev stage, by
   sending Ralio's signed webhooks itself (SMOKE_WEBHOOK_URL and SMOKE_WEBHOOK_SECRET);
3. read the KYC status until the level is REGULAR;
4. open an account (201);
5. read the history;
6. read the domain events, where the stack serves them (idv-local's GET /events).

With SMOKE_SIGV4=1 every API call is signed with SigV4 (service execute-api) from the standard
AWS credential chain and AWS_REGION, as a merchant's backend calls a stack with ApiAuth=IAM.
SMOKE_UID chooses the user (default: a new UUID, which only the simulator accepts). Against a
deployed stage it must be a sandbox user Ralio already holds at REGULAR, because the account is
opened at Ralio. Exits non-zero, saying which step failed.
"""

import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from datetime import datetime, timezone

import requests

BASE = sys.argv[1].rstrip("/")
UID = os.environ.get("SMOKE_UID") or str(uuid.uuid4())
TIMEOUT = 30


def fail(step: str, detail: str) -> None:
    sys.exit(f"smoke: {step} failed: {detail}")


def signed(method: str, url: str, body: bytes | None) -> dict:
    """Returns the headers of a SigV4-signed request, when SMOKE_SIGV4=1."""
    headers = {"content-type": "application/json"} if body is not None else {}
    if os.environ.get("SMOKE_SIGV4") != "1":
        return headers
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        fail("signing", "SMOKE_SIGV4=1 but no AWS credentials were found")
    region = os.environ.get("AWS_REGION") or session.get_config_variable("region")
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def call(method: str, path: str, payload=None) -> tuple[int, dict]:
    url = f"{BASE}{path}"
    body = json.dumps(payload).encode() if payload is not None else None
    response = requests.request(
        method, url, data=body, headers=signed(method, url, body), timeout=TIMEOUT
    )
    try:
        answer = response.json()
    except ValueError:
        answer = {"text": response.text[:200]}
    return response.status_code, answer


def webhook(event: str, data: dict) -> None:
    """Sends one webhook as Ralio would: the body signed with HMAC-SHA256 in X-Signature."""
    url, secret = os.environ["SMOKE_WEBHOOK_URL"], os.environ["SMOKE_WEBHOOK_SECRET"]
    body = json.dumps(
        {
            "id": str(uuid.uuid4()),
            "event": event,
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "data": data,
        }
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    response = requests.post(
        url,
        data=body,
        headers={"content-type": "application/json", "x-signature": signature},
        timeout=TIMEOUT,
    )
    if response.status_code != 200:
        fail(f"webhook {event}", f"{response.status_code} {response.text[:200]}")


def approve(session_id: str) -> None:
    sim = os.environ.get("SMOKE_SIM_URL")
    if sim:
        response = requests.post(
            f"{sim.rstrip('/')}/sim/sessions/{session_id}/outcome",
            json={"outcome": "approve"},
            timeout=TIMEOUT,
        )
        if response.status_code != 200:
            fail("approve at the simulator", f"{response.status_code} {response.text[:200]}")
        return
    if os.environ.get("SMOKE_WEBHOOK_SECRET"):
        webhook("kyc_session_verified", {"sessionId": session_id, "userId": UID})
        webhook(
            "kyc_state_updated",
            {"kycId": int(uuid.UUID(UID)) % 2**31, "userId": UID, "entityType": "user", "state": "REGULAR"},
        )
        return
    fail(
        "approve",
        "set SMOKE_SIM_URL (the simulator) or SMOKE_WEBHOOK_URL and SMOKE_WEBHOOK_SECRET (a dev stage)",
    )


def main() -> None:
    started = time.monotonic()
    status, session = call("POST", f"/users/{UID}/idv-sessions")
    if status != 201 or not session.get("sessionId"):
        fail("create a session", f"{status} {session}")
    print(f"smoke: session {session['sessionId']} created (201)")

    approve(session["sessionId"])
    deadline = time.monotonic() + 60
    while True:
        status, kyc = call("GET", f"/users/{UID}/kyc")
        if status != 200:
            fail("read the KYC status", f"{status} {kyc}")
        if kyc.get("kycLevel") == "REGULAR" and kyc.get("canCreateAccount"):
            break
        if time.monotonic() > deadline:
            fail("wait for REGULAR", f"still {kyc.get('kycLevel')}: {kyc.get('nextAction')}")
        time.sleep(0.5)
    print("smoke: the user is REGULAR and may open an account")

    status, account = call("POST", f"/users/{UID}/accounts", {"alias": "Smoke test", "currency": "EUR"})
    if status != 201:
        fail("open an account", f"{status} {account}")
    print(f"smoke: account {account.get('accountId')} opened (201)")

    status, history = call("GET", f"/users/{UID}/history?limit=50")
    actions = [entry.get("action") for entry in history.get("entries", [])]
    if status != 200 or "account_created" not in actions:
        fail("read the history", f"{status} {actions}")
    print(f"smoke: history has {len(actions)} entries")

    response = requests.get(f"{BASE}/events", params={"uid": UID}, timeout=TIMEOUT)
    if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
        kinds = {event.get("detail-type") for event in response.json()}
        for wanted in ("Session State Changed", "KYC Level Changed", "Account Created"):
            if wanted not in kinds:
                fail("read the domain events", f"no {wanted!r} among {sorted(kinds)}")
        print(f"smoke: events {sorted(kinds)}")
    else:
        print("smoke: this stack serves no event list (in AWS, events go to EventBridge)")
    print(f"smoke: the golden story passed in {time.monotonic() - started:.1f} s for user {UID}")


if __name__ == "__main__":
    main()

"""Drives headless Chromium through WebDriver (chromedriver) with the standard library only:
create a session, open its hosted page, click Approve, wait for the user to be REGULAR, then
open the event console and check it shows the session's VERIFIED and the level's REGULAR.

Usage: python3 scripts/browser_check.py API_URL WEBDRIVER_URL
"""

import json
import sys
import time
import urllib.request
import uuid


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


def wait_until(what, probe, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            value = probe()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"browser check FAILED: gave up waiting for {what}")


def main():
    api, driver = sys.argv[1], sys.argv[2]
    wait_until("idv-local", lambda: call("GET", f"{api}/users/{uuid.uuid4()}/kyc"))
    wait_until("chromedriver", lambda: call("GET", f"{driver}/status")["value"]["ready"])

    uid = str(uuid.uuid4())
    session = call("POST", f"{api}/users/{uid}/idv-sessions")
    print(f"created session {session['sessionId']}; opening {session['hostedUrl']}")

    options = {"binary": "/usr/bin/chromium", "args": [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir=/tmp/idv-browser-check-{uuid.uuid4()}",
    ]}
    created = call("POST", f"{driver}/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}})
    browser = f"{driver}/session/{created['value']['sessionId']}"
    try:
        call("POST", f"{browser}/url", {"url": session["hostedUrl"]})
        state = call("POST", f"{browser}/element", {"using": "css selector", "value": "#state"})["value"]
        print("page shows state:", call("GET", f"{browser}/element/{list(state.values())[0]}/text")["value"])
        approve = call("POST", f"{browser}/element", {"using": "css selector", "value": "#approve"})["value"]
        call("POST", f"{browser}/element/{list(approve.values())[0]}/click", {})
        state = call("POST", f"{browser}/element", {"using": "css selector", "value": "#state"})["value"]
        print("after clicking Approve:", call("GET", f"{browser}/element/{list(state.values())[0]}/text")["value"])

        kyc = wait_until("the user to become REGULAR", lambda: (lambda k: k if k["kycLevel"] == "REGULAR" else None)(call("GET", f"{api}/users/{uid}/kyc")))
        print(f"kycLevel={kyc['kycLevel']} canCreateAccount={kyc['canCreateAccount']} nextAction={kyc['nextAction']['code']}")

        check_console(api, browser, uid)
    finally:
        call("DELETE", browser)
    print("browser check passed")


def element_id(found):
    return list(found.values())[0]


def check_console(api, browser, uid):
    """The event console lists the user's events live; clicking one shows its detail."""
    call("POST", f"{browser}/url", {"url": f"{api}/"})
    search = element_id(call("POST", f"{browser}/element", {"using": "css selector", "value": "#uid"})["value"])
    call("POST", f"{browser}/element/{search}/value", {"text": uid})

    def shown():
        rows = call("POST", f"{browser}/elements", {"using": "css selector", "value": "#events li"})["value"]
        kinds = [call("GET", f"{browser}/element/{element_id(r)}/attribute/data-detail-type")["value"] for r in rows]
        return (rows, kinds) if {"Session State Changed", "KYC Level Changed"} <= set(kinds) else None

    rows, kinds = wait_until("the console to show both events", shown)
    print("console shows:", ", ".join(kinds))
    details = []
    for row in rows:
        button = element_id(call("POST", f"{browser}/element/{element_id(row)}/element", {"using": "css selector", "value": "button"})["value"])
        call("POST", f"{browser}/element/{button}/click", {})
        pre = element_id(call("POST", f"{browser}/element/{element_id(row)}/element", {"using": "css selector", "value": "pre"})["value"])
        details.append(call("GET", f"{browser}/element/{pre}/text")["value"])
    text = "\n".join(details)
    for expected in ['"state": "VERIFIED"', '"level": "REGULAR"', '"canCreateAccount": true', uid]:
        if expected not in text:
            sys.exit(f"browser check FAILED: the expanded events do not show {expected}")
    print("console details show VERIFIED and REGULAR for", uid)


if __name__ == "__main__":
    main()

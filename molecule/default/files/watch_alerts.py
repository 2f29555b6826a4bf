#!/usr/bin/env python3
"""Wait until Alertmanager shows (``fire``) or no longer shows (``resolve``) the expected alerts.

``watch_alerts.py URL fire|resolve SINCE TIMEOUT EXPECT_JSON``: polls ``URL/api/v2/alerts`` (the
alerts Alertmanager holds as active: resolved ones are left out) every 0.5 s. EXPECT_JSON is a list
of label sets; an alert matches one when it carries every label of the set. SINCE is when the
conditions were induced (or fixed), as Unix time: the figures are seconds from then. Prints one
JSON object: each expected alert's delay, and ``others``, the alerts Alertmanager held that were
not expected. Exit 1 when an alert did not fire (or resolve) within TIMEOUT seconds of SINCE.
"""

import json
import sys
import time
import urllib.request


def alerts(url):
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as resp:
        return [a["labels"] for a in json.loads(resp.read())]


def matches(labels, expect):
    return all(labels.get(key) == value for key, value in expect.items())


def main():
    url, mode, since, timeout, expect = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    expected = json.loads(expect)
    done = {}
    held = []
    while True:
        now = time.time()
        held = alerts(url)
        for item in expected:
            key = json.dumps(item, sort_keys=True)
            present = any(matches(labels, item) for labels in held)
            if key not in done and present == (mode == "fire"):
                done[key] = round(now - since, 1)
        if len(done) == len(expected) or now - since > timeout:
            break
        time.sleep(0.5)
    others = sorted({json.dumps(labels, sort_keys=True) for labels in held
                     if not any(matches(labels, item) for item in expected)})
    missing = [item for item in expected if json.dumps(item, sort_keys=True) not in done]
    print(json.dumps({"mode": mode, "seconds": done, "missing": missing, "others": [json.loads(o) for o in others]}))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

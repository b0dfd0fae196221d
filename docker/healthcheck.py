"""The Docker HEALTHCHECK: exit 0 when the broker's /healthz answers {"status":"ok"}, else 1.
Runs with the image's Python alone (no curl in a slim image); usable outside Docker too:
`python docker/healthcheck.py [URL]`."""

import json
import sys
import urllib.request

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8222/healthz"
try:
    with urllib.request.urlopen(url, timeout=3) as resp:
        sys.exit(0 if json.loads(resp.read()).get("status") == "ok" else 1)
except (OSError, ValueError):
    sys.exit(1)

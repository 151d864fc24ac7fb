"""HTTPS and plain HTTP without a redirect; HTTP/3 through the VIP."""

import json
import os
import sys

from vlab import VIP
from vlab.web import LAB_DIR

from .measure import item, not_available, percentile, verdict

H3_REQUESTS = 20


def https_and_http(inst, seconds=None):
    lab = inst.lab
    res = {}
    for scheme in ("http", "https"):
        status, body = lab.curl("c", f"{scheme}://{VIP}/ping")   # curl -k: the lab's self-signed certificate
        res[scheme] = (status, body.strip())
    ok = res["http"] == (200, "pong") and res["https"] == (200, "pong")
    return item("https-and-http", verdict(ok), f"http {res['http'][0]} {res['http'][1]!r}, "
                f"https {res['https'][0]} {res['https'][1]!r}",
                "GET /ping through the VIP; curl does not follow redirects, so a 3xx would show as such")


def http3(inst, seconds=None):
    if not inst.nginx:
        return not_available("http3", f"trixie's nginx 1.26 unavailable: {inst.nginx_why}")
    out = inst.lab.nsexec("c", sys.executable, os.path.join(LAB_DIR, "h3get.py"), "--insecure", "--json",
                          "--count", str(H3_REQUESTS), "--timeout", "5", f"https://{VIP}/ping", check=False,
                          timeout=120)
    answers = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    good = [a for a in answers if a.get("status") == 200 and a.get("body", "").strip() == "pong"]
    errors = sorted({a.get("error") for a in answers if a.get("error")})
    return item("http3", verdict(len(good) == H3_REQUESTS),
                f"{len(good)}/{H3_REQUESTS} GET /ping over HTTP/3 answered pong, "
                f"p50 {percentile([a['ms'] for a in good], 0.5)} ms",
                f"lab/h3get.py (aioquic, QUIC only) to the VIP; nginx {inst.nginx}; errors {errors[:3]}")


ITEMS = {"https-and-http": https_and_http, "http3": http3}

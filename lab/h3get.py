#!/usr/bin/env python3
"""A small HTTP/3 client (GET only) for the lab and the acceptance suite.

    python3 lab/h3get.py [--insecure] [--timeout S] [--count N] [--json] URL

Makes N GET requests to an https:// URL over HTTP/3 -- QUIC on UDP (port 443
unless the URL names one), all on one QUIC connection -- and prints each
answer's status and body, or with --json one JSON object per request:
    {"status": int|null, "body": str, "ms": float, "error": str|null}
"ms" is the request's wall time; the first request of a connection includes
the QUIC handshake. Exit status 0 only if every request got a status.

From Python:  get(url, insecure=True, timeout=5.0) -> that dict (plus
"headers", a dict of the response headers, lower-case names) for one request
on a fresh connection.

An answer here is an HTTP/3 answer by construction: the client speaks only
QUIC (aioquic, no TCP fallback), offers only the ALPN protocol "h3", checks
that "h3" was negotiated, and reads the status and body from aioquic's
H3Connection frames on the request's own QUIC stream. There is no way for an
HTTP/1.1 or HTTP/2 response to reach the caller.

Needs aioquic (lab/requirements-http3.txt; scripts/deps.sh installs it).
Modelled on aioquic's examples/http3_client.py, much reduced.
"""

import argparse
import asyncio
import json
import ssl
import sys
import time
from urllib.parse import urlsplit

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated


class _H3Client(QuicConnectionProtocol):
    """A QUIC connection carrying HTTP/3: one future per request stream."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._http = H3Connection(self._quic)
        self._pending = {}     # stream id -> (future, {"headers": [...], "body": bytearray})

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated):
            for fut, _ in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError(f"QUIC connection closed: error {event.error_code} "
                                                      f"{event.reason_phrase!r}"))
            self._pending.clear()
        for h3 in self._http.handle_event(event):
            entry = self._pending.get(getattr(h3, "stream_id", None))
            if entry is None:
                continue
            fut, acc = entry
            if isinstance(h3, HeadersReceived):
                acc["headers"].extend(h3.headers)
            elif isinstance(h3, DataReceived):
                acc["body"] += h3.data
            if getattr(h3, "stream_ended", False):
                del self._pending[h3.stream_id]
                if not fut.done():
                    fut.set_result(acc)

    async def get(self, authority, path):
        alpn = self._quic.tls.alpn_negotiated
        if alpn not in H3_ALPN:
            raise ConnectionError(f"server negotiated ALPN {alpn!r}, not HTTP/3")
        stream_id = self._quic.get_next_available_stream_id()
        fut = self._loop.create_future()
        self._pending[stream_id] = (fut, {"headers": [], "body": bytearray()})
        self._http.send_headers(stream_id, [
            (b":method", b"GET"), (b":scheme", b"https"),
            (b":authority", authority.encode()), (b":path", path.encode()),
            (b"user-agent", b"vipd-lab-h3get"),
        ], end_stream=True)
        self.transmit()
        return await fut


def _result(acc=None, ms=0.0, error=None):
    headers = {}
    status = None
    if acc is not None:
        for name, value in acc["headers"]:
            name, value = name.decode(), value.decode(errors="replace")
            if name == ":status":
                status = int(value)
            else:
                headers[name] = value if name not in headers else headers[name] + ", " + value
    return {"status": status, "body": bytes(acc["body"]).decode(errors="replace") if acc else "",
            "ms": round(ms, 2), "error": error, "headers": headers}


async def _run(url, insecure, timeout, count):
    u = urlsplit(url)
    if u.scheme != "https" or not u.hostname:
        raise ValueError(f"not an https:// URL: {url}")
    port = u.port or 443
    authority = u.netloc.rsplit("@", 1)[-1]
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=u.hostname,
                               idle_timeout=max(timeout, 1.0))
    if insecure:
        config.verify_mode = ssl.CERT_NONE
    results = []
    start = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            cm = connect(u.hostname, port, configuration=config, create_protocol=_H3Client)
            client = await cm.__aenter__()
    except Exception as e:  # noqa: BLE001 -- every failure becomes an "error" entry
        msg = f"timeout after {timeout}s connecting" if isinstance(e, TimeoutError) else f"connect: {e!r}"
        return [_result(ms=(time.monotonic() - start) * 1000, error=msg) for _ in range(count)]
    try:
        for _ in range(count):
            try:
                async with asyncio.timeout(timeout):
                    acc = await client.get(authority, path)
                results.append(_result(acc, (time.monotonic() - start) * 1000))
            except Exception as e:  # noqa: BLE001
                msg = f"timeout after {timeout}s" if isinstance(e, TimeoutError) else repr(e)
                results.append(_result(ms=(time.monotonic() - start) * 1000, error=msg))
            start = time.monotonic()
    finally:
        client.close()
        try:
            async with asyncio.timeout(1.0):
                await cm.__aexit__(None, None, None)
        except Exception:  # noqa: BLE001 -- closing is best effort
            pass
    return results


def get_many(url, insecure=True, timeout=5.0, count=1):
    """COUNT sequential GETs on one HTTP/3 connection; a list of result dicts."""
    return asyncio.run(_run(url, insecure, timeout, count))


def get(url, insecure=True, timeout=5.0):
    """One GET over HTTP/3 on a fresh connection:
    {"status", "body", "ms", "error", "headers"}; status None on failure."""
    return get_many(url, insecure, timeout, 1)[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description="GET a URL over HTTP/3 (QUIC, aioquic).")
    ap.add_argument("--insecure", "-k", action="store_true", help="do not verify the server's certificate")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds for connecting and for each request (5)")
    ap.add_argument("--count", type=int, default=1, help="number of requests, on one connection (1)")
    ap.add_argument("--json", action="store_true", help="one JSON object per request")
    ap.add_argument("url")
    args = ap.parse_args(argv)
    try:
        results = get_many(args.url, args.insecure, args.timeout, max(args.count, 1))
    except ValueError as e:
        ap.error(str(e))
    for r in results:
        if args.json:
            print(json.dumps({k: r[k] for k in ("status", "body", "ms", "error")}), flush=True)
        elif r["status"] is not None:
            print(f"HTTP/3 {r['status']} ({r['ms']} ms)\n{r['body']}", flush=True)
        else:
            print(f"error: {r['error']} ({r['ms']} ms)", file=sys.stderr, flush=True)
    return 0 if all(r["status"] is not None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A lab HTTP server that answers every request after a fixed delay: `GET /`
-> "200, <name>\\n" (with Content-Length, then close), as the lab's nginx does
(vlab's start_http), but each answer waits --delay-ms first, so
requests are still being served when the VIP moves (Tests/lab/
test_planned_failover.py). Threaded: one thread per connection.

Listens on 0.0.0.0 (so it answers on the VIP the moment the address appears)
inside the node's namespace: ip netns exec <P>-a python3 lab/slowhttp.py --name a
"""

import argparse
import http.server
import socketserver
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True)
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--delay-ms", type=float, default=50.0)
    a = p.parse_args()
    body = f"{a.name}\n".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            time.sleep(a.delay_ms / 1000)
            # One write, so the whole answer leaves in one segment, as nginx's does.
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 1024

    Server(("0.0.0.0", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

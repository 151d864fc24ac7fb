"""A client that sends one request and waits for an answer that never comes
(a query in flight when the address it talks to moves): prints one JSON line
{"outcome": "aborted"|"timeout"|..., "after_s": seconds since the request}.

    hangclient.py HOST PORT TIMEOUT_S
"""

import json
import socket
import sys
import time

host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), timeout=5)
s.settimeout(timeout)
s.sendall(b"query\n")
t0 = time.monotonic()
print(json.dumps({"outcome": "sent", "local": s.getsockname()[0]}), flush=True)
try:
    data = s.recv(10)
    outcome = "answered" if data else "closed"
except socket.timeout:
    outcome = "timeout"
except ConnectionAbortedError:
    outcome = "aborted"
except ConnectionResetError:
    outcome = "reset"
print(json.dumps({"outcome": outcome, "after_s": round(time.monotonic() - t0, 3)}), flush=True)

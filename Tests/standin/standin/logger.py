"""main.log: JSON, one object per line, as the real binary writes it.

Opened O_WRONLY|O_CREAT|O_APPEND: the directory must already exist and be
writable, otherwise the caller panics with "failed to build logger". Every
record repeats the environment, which is why the real log grows fast.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from datetime import datetime, timezone


class JsonLog:
    def __init__(self, path: str, email: str, seed: int) -> None:
        # No O_CREAT of the directory, on purpose: that is the real failure.
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self.path = path
        self._lock = threading.Lock()
        self._env = {"hostname": socket.gethostname(), "pid": os.getpid(),
                     "student_email": email, "version": "20231121T1537",
                     "seed": seed}

    def write(self, level: str, msg: str, **fields) -> None:
        record = {"level": level,
                  "timestamp": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
                  "msg": msg, **fields, "environment": self._env}
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)

    def info(self, msg: str, **fields) -> None:
        self.write("info", msg, **fields)

    def warn(self, msg: str, **fields) -> None:
        self.write("warn", msg, **fields)

    def error(self, msg: str, **fields) -> None:
        self.write("error", msg, **fields)

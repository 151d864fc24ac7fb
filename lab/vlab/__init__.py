"""vipd's one lab harness: network namespaces, a registry of processes, and the
node API, shared by Tests/lab, the acceptance suite, the demo, the benchmarks
and the soak. See lab.py."""

from .lab import Lab
from .topology import ADDR, PREFIXLEN, PRIORITY, VIP
from .util import LabError, interval_ms, ms_to_interval, read, say, sh, wait_for

__all__ = ["Lab", "LabError", "ADDR", "PREFIXLEN", "PRIORITY", "VIP", "interval_ms", "ms_to_interval", "read",
           "say", "sh", "wait_for"]

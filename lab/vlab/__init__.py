"""vipd's one lab harness: network namespaces, a registry of processes, and the
node API, shared by Tests/lab, the acceptance suite, the demo, the benchmarks
and the soak. See lab.py."""

from .lab import Lab
from .instances import Instance
from .topology import ADDR, PREFIXLEN, PRIORITY, SERVICE_ADDR, SERVICE_VIP, VIP
from .util import LabError, interval_ms, ms_to_interval, read, say, sh, wait_for

__all__ = ["Lab", "LabError", "Instance", "ADDR", "PREFIXLEN", "PRIORITY", "SERVICE_ADDR", "SERVICE_VIP", "VIP",
           "interval_ms", "ms_to_interval", "read", "say", "sh", "wait_for"]

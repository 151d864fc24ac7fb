"""Names shared by lab/bench.py and its helpers: the scenarios (interval
spelling is vlab's: interval_ms, ms_to_interval)."""

SCENARIOS = ["hard-kill", "graceful-stop", "planned-failover", "cpu-starvation", "idle", "load-120rps-master-kill",
             "active-active", "link-down", "idle-instances", "api-120rps", "db-failover", "loss"]
# Those of benchinstances.py (several instances, a second link): their own labs and tables.
INSTANCE_SCENARIOS = ["active-active", "link-down", "idle-instances"]

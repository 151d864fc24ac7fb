"""vipd-pg: the PostgreSQL role agent beside vipd (pg-agent-spec.md).
decide.py holds the rules (pure), system.py the effects, agent.py the loop
and HTTP, cli.py the commands."""

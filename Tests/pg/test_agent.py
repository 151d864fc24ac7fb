"""The agent's loop (agent.py) and config (config.py) with a fake System:
which effects run, what /eligible says meanwhile, what the state file keeps."""

import json
import threading

import pytest

from vipd_pg import config
from vipd_pg.agent import Agent
from vipd_pg.decide import Local, Remote, Vipd

CONF = """[vipd]
instance = db
control_socket = /run/vipd/control.sock
[postgresql]
data_directory = /var/lib/postgresql/15/main
start = systemctl start postgresql@15-main    ; a comment
[replication]
db_address = 198.18.0.200
application_name = node-a
[agent]
state_file = {state}
"""


class FakeSystem:
    def __init__(self):
        self.vipd_view = Vipd(True, node="node-a", state="master", master="node-a")
        self.local_view = Local("standby", receiver_status="streaming", receipt_age=0.1, receiver_session=(1, "0/1"))
        self.remote_view = Remote(True, "sync")
        self.calls = []
        self.fail = {}
        self.during = None     # called inside an action (to look at /eligible meanwhile)
        self.reports = []      # (event, reason) handed to vipd

    def report(self, event, reason):
        self.reports.append((event, reason))

    def vipd(self):
        return self.vipd_view

    def local(self):
        return self.local_view

    def postmaster_pid(self):
        return None

    def remote(self):
        self.calls.append("remote")
        return self.remote_view

    def __getattr__(self, name):
        def effect(*args):
            self.calls.append(name)
            if self.during:
                self.during(name)
            if name in self.fail:
                raise RuntimeError(self.fail[name])
            return "pg_rewind: Done!"
        return effect


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "pg.conf"
    path.write_text(CONF.format(state=tmp_path / "state.json"))
    return config.load(str(path))


def test_config_defaults_and_inline_comments(cfg):
    assert cfg.start == ("systemctl", "start", "postgresql@15-main")
    assert (cfg.alone_after, cfg.promotable_within, cfg.fence_after, cfg.interval) == (2.0, 1.0, 3.0, 0.2)
    assert (cfg.listen_host, cfg.listen_port, cfg.port) == ("127.0.0.1", 8009, 5432)


def test_config_errors_name_file_section_key_and_why(tmp_path):
    path = tmp_path / "bad.conf"
    path.write_text("[replication]\ndb_address = db.example\nalone_after = 1s\n[agent]\ninterval = fast\nlisten = x\n"
                    "colour = red\n")
    with pytest.raises(config.ConfigError) as e:
        config.load(str(path))
    text = str(e.value)
    for expected in (f"{path}: [replication] application_name: required",
                     f"{path}: [replication] db_address: 'db.example' does not appear to be an IPv4 or IPv6",
                     f"{path}: [agent] interval: 'fast' is not a duration",
                     f"{path}: [agent] listen: HOST:PORT", f"{path}: [agent] colour: unknown key",
                     f"{path}: [replication] alone_after: must be longer than promotable_within"):
        assert expected in text


def test_promotion_runs_and_is_counted_and_eligible_meanwhile(cfg):
    fake = FakeSystem()
    agent = Agent(cfg, fake)
    seen = []
    fake.during = lambda name: seen.append((name, agent.eligibility()))
    agent.round()
    assert fake.calls == ["remote", "promote"]
    assert seen == [("promote", (True, "eligible: promoting"))]
    assert agent.status()["promotions"] == 1
    assert [e for e, _ in fake.reports] == ["db_promoted"]
    assert json.load(open(cfg.state_file))["promotions"] == 1


def test_fence_then_rejoin(cfg):
    fake = FakeSystem()
    fake.vipd_view = Vipd(True, node="node-a", state="backup", master="node-b")
    fake.local_view = Local("primary", sync_names="*")
    agent = Agent(cfg, fake)
    agent.round()
    assert fake.calls == ["fence"] and agent.status()["fences"] == 1
    fake.local_view = Local("stopped")
    fake.calls.clear()
    agent.round()
    assert fake.calls == ["remote", "rewind", "start"]
    assert agent.status()["rejoins"] == 1
    assert [e for e, _ in fake.reports] == ["db_fenced", "db_rejoined"]
    assert "node-b is master" in fake.reports[0][1]


def test_failed_rewind_is_kept_across_restarts_and_not_retried(cfg):
    fake = FakeSystem()
    fake.vipd_view = Vipd(True, node="node-a", state="backup", master="node-b")
    fake.local_view = Local("stopped")
    fake.fail["rewind"] = "could not find common ancestor of the source and target cluster's timelines"
    agent = Agent(cfg, fake)
    agent.round()
    assert agent.status()["rejoin_failures"] == 1
    assert fake.reports[-1][0] == "db_rejoin_failed" and "common ancestor" in fake.reports[-1][1]
    again = Agent(cfg, fake)          # a restarted agent
    fake.calls.clear()
    again.round()
    assert fake.calls == []
    st = again.status()
    assert st["role"] == "fenced" and "common ancestor" in st["fenced_reason"] and not st["eligible"]


def test_a_stalled_loop_is_not_eligible(cfg):
    now = [0.0]
    fake = FakeSystem()
    fake.vipd_view = Vipd(True, node="node-a", state="master", master="node-a")
    fake.local_view = Local("primary", sync_names="")
    agent = Agent(cfg, fake, clock=lambda: now[0])
    agent.round()
    assert agent.eligibility() == (True, "eligible: primary")
    now[0] = 3.5
    ok, text = agent.eligibility()
    assert not ok and "stalled for 3.5 s" in text


def test_http_endpoints(cfg, tmp_path):
    import urllib.request
    import dataclasses
    cfg = dataclasses.replace(cfg, listen_port=0)
    fake = FakeSystem()
    fake.vipd_view = Vipd(True, node="node-a", state="backup", master="node-b")
    agent = Agent(cfg, fake)
    server = agent.serve()
    port = server.server_address[1]
    try:
        agent.round()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/eligible") as r:
            assert r.status == 200 and r.read().decode().startswith("eligible: standby streaming, heard 0.1 s ago")
        status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/status"))
        assert status["role"] == "standby" and status["vipd_state"] == "backup"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        assert 'vipd_pg_role{role="standby"} 1' in metrics and "vipd_pg_promotions_total 0" in metrics
        fake.local_view = Local("stopped", standby_signal=False)
        agent.round()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/eligible")
        assert e.value.code == 503
    finally:
        server.shutdown()

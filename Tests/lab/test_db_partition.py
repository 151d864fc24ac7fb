"""Partitions of the replicated database (issue 15, `db-partition`): the pair
of lab/vlab/pgcluster.py plus a witness, node D (198.18.0.3), running vipd
with node.witness: true; the db instance has quorum: true on all three
(docs/protocol.md, "Quorum"). Two writers in the client namespace insert
into each node's own server (its node address, whatever its role): what a
server acknowledges there, it accepted as a primary. lab/pgload.py records
every acknowledged id and when.

1. The A-B link cut for 30 s (every packet, heartbeats and replication; the
   witness and the client reach both): the witness still hears A and votes
   for it, so B never takes the DB address and never accepts a write; A
   commits alone after alone_after. After the heal B streams again and has
   every write A acknowledged.
2. A (the primary) cut off from B and the witness for 30 s, the client still
   reaching it: A loses quorum and is fenced, so A acknowledges nothing after
   the cut; B takes over with the witness's consent and accepts writes.
   After the heal A is rewound and streams from B; every acknowledged write
   of either writer is on B.
At no sample do two servers both acknowledge writes. About 2 minutes.
"""

import time

import pytest

from conftest import running_lab
from vlab import wait_for
from vlab.pgcluster import PgCluster

CUT_S = 30.0


@pytest.fixture(scope="module")
def db(request):
    with running_lab(request, nodes=("a", "b", "d"), start=False) as lab:
        cluster = PgCluster(lab, witness="d")
        try:
            cluster.up()
            yield cluster
        except Exception:
            print(cluster.diag())
            raise
        finally:
            cluster.close()


def primary_and_standby(db):
    roles = {n: db.role(n) for n in ("a", "b")}
    primary = next(n for n, r in roles.items() if r == "primary")
    return primary, next(n for n in ("a", "b") if n != primary)


def acks_between(load, start, end):
    return [t for t in load["ack_times"] if start <= t <= end]


def start_writers(db, tag):
    """One writer per node's own address; returns {node: table}."""
    tables = {n: f"{tag}_{n}" for n in ("a", "b")}
    for n, table in tables.items():
        db.start_load(table, rate=20, via=primary_and_standby(db)[0], host=db.lab.addr(n))
    return tables


def stop_writers(db, tables):
    return {n: db.stop_load(t) for n, t in tables.items()}


def all_present(db, node, tables, loads):
    return {n: db.missing(node, tables[n], loads[n]["acked"]) for n in tables}


def test_a_cut_between_the_nodes_leaves_one_primary(db):
    primary, standby = primary_and_standby(db)
    tables = start_writers(db, "cut")
    time.sleep(2)
    t0 = time.time()
    db.cut_link(primary, standby)
    try:
        samples = []
        while time.time() - t0 < CUT_S:
            samples.append((db.role(standby), db.db_holders()))
            time.sleep(0.5)
    finally:
        db.cut_link(primary, standby, on=False)
    t1 = time.time()
    wait_for(lambda: db.agent_status(standby) and db.agent_status(standby).get("eligible"), 60,
             f"{standby} streaming again", 0.2)
    loads = stop_writers(db, tables)
    on_primary = acks_between(loads[primary], t0, t1)
    on_standby = acks_between(loads[standby], t0, t1)
    print(f"\ncut {primary}-{standby} {CUT_S:.0f} s: {primary} acknowledged {len(on_primary)} writes during it "
          f"(first {min(on_primary, default=t0) - t0:.2f} s after the cut), {standby} {len(on_standby)}")
    assert not on_standby, f"{standby} accepted writes during the cut"
    assert {r for r, _ in samples} == {"standby"}, samples
    assert all(h == [primary] for _, h in samples), samples
    assert on_primary, f"{primary} never committed alone"
    missing = all_present(db, standby, tables, loads)
    assert not any(missing.values()), f"acknowledged writes missing on {standby}: {missing}"


def test_an_isolated_primary_is_fenced_and_the_standby_takes_over(db):
    primary, standby = primary_and_standby(db)
    tables = start_writers(db, "iso")
    time.sleep(2)
    t0 = time.time()
    db.cut_link(primary, standby)
    db.lab.nsexec(primary, "nft", "-f", "-", stdin=f"""table netdev pgwit {{
    chain in {{ type filter hook ingress device "eth0" priority 0; ip saddr {db.lab.addr('d')} drop; }}
    chain out {{ type filter hook egress device "eth0" priority 0; ip daddr {db.lab.addr('d')} drop; }}
}}""")
    try:
        wait_for(lambda: db.role(standby) == "primary", 15, f"{standby} promoted", 0.2)
        promoted = time.time() - t0
        time.sleep(max(0.0, CUT_S - (time.time() - t0)))
        role_isolated = db.role(primary)
    finally:
        db.lab.nsexec(primary, "nft", "delete", "table", "netdev", "pgwit", check=False)
        db.cut_link(primary, standby, on=False)
    t1 = time.time()
    db.wait_role(primary, "standby", 60)
    rejoined = time.time() - t1
    loads = stop_writers(db, tables)
    old = acks_between(loads[primary], t0 + 0.1, t1)
    new = acks_between(loads[standby], t0, t1)
    print(f"\n{primary} isolated {CUT_S:.0f} s: {standby} promoted after {promoted:.2f} s; "
          f"{primary} acknowledged {len(old)} writes after the cut (role then: {role_isolated}), "
          f"{standby} {len(new)}; {primary} a standby again {rejoined:.1f} s after the heal")
    assert not old, f"the isolated {primary} acknowledged {len(old)} writes after the cut"
    assert new, f"{standby} accepted no write"
    missing = all_present(db, standby, tables, loads)
    assert not any(missing.values()), f"acknowledged writes missing on {standby}: {missing}"

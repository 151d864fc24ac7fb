"""Deaths: after the lifetime (each kind), by POST /operation (the nibble
rule), and replayed from a seed."""

from __future__ import annotations

import http.client
import time

import pytest

SICK = (500, b"I feel bad")


def sick_everywhere(b) -> None:
    for method, path in (("GET", "/ping"), ("GET", "/"), ("GET", "/db_dummy"),
                         ("GET", "/api/movie/1"), ("GET", "/api/session"), ("DELETE", "/api/session/1"),
                         ("POST", "/operation")):
        status, _, body = b.request(method, path, body={"operation": 1} if method == "POST" else None)
        assert (status, body) == SICK, (method, path, status, body)


def test_lifetime_exit(spawn):
    b = spawn("--lifetime", "1.5", "--deaths", "exit")
    assert b.request("GET", "/ping")[2] == b"pong"
    assert b.wait_exit(10) == 0
    assert time.monotonic() - b.started_at >= 1.5


def test_lifetime_exit_status_knob(spawn):
    b = spawn("--lifetime", "1", "--deaths", "exit", "--exit-status", "3")
    assert b.wait_exit(10) == 3


def test_lifetime_panic(spawn):
    b = spawn("--lifetime", "1", "--deaths", "panic")
    assert b.wait_exit(10) == 2
    assert "panic: We all gonna die" in b.stderr()


def test_lifetime_sick_until_restarted(spawn):
    b = spawn("--lifetime", "1", "--deaths", "sick")
    assert b.request("GET", "/ping")[2] == b"pong"
    time.sleep(1.5)
    sick_everywhere(b)
    time.sleep(0.5)
    sick_everywhere(b)   # it does not get better by itself
    assert b.proc.poll() is None


def rss_growth_mib(b, seconds: float) -> float:
    before = b.rss_kib()
    time.sleep(seconds)
    return (b.rss_kib() - before) / 1024


def ping_ms(b) -> float:
    t0 = time.monotonic()
    assert b.request("GET", "/ping")[2] == b"pong"
    return (time.monotonic() - t0) * 1000


def test_lifetime_leak_grows_and_slows(spawn):
    b = spawn("--lifetime", "1", "--deaths", "leak", "--leak-mb-per-s", "8", "--leak-ms-per-mb", "5")
    calm = ping_ms(b)
    time.sleep(1.2)
    growth = rss_growth_mib(b, 2.0)
    assert 8 <= growth <= 40, growth          # ~16 MiB in 2 s: really resident
    assert ping_ms(b) > calm + 50             # >= 20 MiB leaked x 5 ms
    assert b.proc.poll() is None              # it leaks until something kills it


def test_default_leak_rate_is_a_few_mb_per_second(spawn):
    b = spawn("--lifetime", "0.5", "--deaths", "leak")
    time.sleep(1)
    assert 4 <= rss_growth_mib(b, 3.0) <= 24


def test_lifetime_default_is_22_to_25_minutes(make_root, spawn):
    root = make_root()
    lifetimes = []
    for seed in (1, 2, 3):
        spawn("--seed", str(seed), "--lifetime", "1320-1500", root=root).stop()
    for r in root.log_records():
        if r["msg"] == "Prepare app.":
            lifetimes.append(r["lifetime_s"])
    assert len(lifetimes) == 3 and all(1320 <= t <= 1500 for t in lifetimes), lifetimes
    assert len(set(lifetimes)) == 3


def test_default_lifetime_without_the_knob(make_root, spawn):
    root = make_root()
    b = spawn(root=root, quick=False, wait=False)
    # quick=False: no knobs at all; the start-up is still waiting (30 s
    # here), but the fate is drawn and logged before that.
    deadline = time.monotonic() + 10
    while not any(r["msg"] == "Prepare app." for r in root.log_records()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    b.stop()
    rec = next(r for r in root.log_records() if r["msg"] == "Prepare app.")
    assert 1320 <= rec["lifetime_s"] <= 1500 and rec["death"] in ("exit", "panic", "sick", "leak")


def test_seed_replays_lifetime_and_death(make_root, spawn):
    root = make_root()
    for _ in range(2):
        spawn("--seed", "12345", "--lifetime", "10-100", root=root).stop()
    spawn("--seed", "54321", "--lifetime", "10-100", root=root).stop()
    fates = [(r["lifetime_s"], r["death"]) for r in root.log_records() if r["msg"] == "Prepare app."]
    assert fates[0] == fates[1] and fates[0] != fates[2]
    # Over many seeds every death kind comes up.
    for seed in range(12):
        spawn("--seed", str(seed), root=root).stop()
    kinds = {r["death"] for r in root.log_records() if r["msg"] == "Prepare app."}
    assert kinds == {"exit", "panic", "sick", "leak"}


def operation(b, value: int):
    return b.request("POST", "/operation", body={"operation": value})


@pytest.mark.parametrize("value", [0, 1, 0x100000000, 0x200000000, 0x600000000, 0xF00000000,
                                   0x3FFFFFFF, 0x1300000000, -1])
def test_operation_harmless_values(spawn, value):
    b = spawn()
    first = operation(b, value)
    assert first[0] == 200
    assert first[2] == operation(b, 7)[2]      # the same fixed answer for every value
    assert b.request("GET", "/ping")[2] == b"pong"
    assert b.rss_kib() < 60 * 1024


def test_operation_nibble_3_leaks(spawn):
    b = spawn("--leak-mb-per-s", "8")
    assert operation(b, 0x300000000 | 12345)[0] == 200
    assert rss_growth_mib(b, 2.0) >= 8


def test_operation_nibble_4_panics(spawn):
    b = spawn()
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        operation(b, 0x400000000)
    assert b.wait_exit(5) == 2 and "panic: We all gonna die" in b.stderr()


def test_operation_nibble_5_sick(spawn):
    b = spawn()
    status, _, body = operation(b, 0x500000000 + 99)
    assert (status, body) == SICK
    sick_everywhere(b)


def test_operation_rejects_non_integers(spawn):
    b = spawn()
    for bad in (b"", b"{", b"[]", b'{"operation": "x"}', b'{"operation": true}', b'{"operation": 1.5}'):
        assert b.request("POST", "/operation", body=bad)[0] == 400, bad
    assert b.request("GET", "/operation")[0] == 405

"""What the agent does, as one pure function: `decide(now, settings, vipd,
local, remote, memory) -> Decision`. No sockets, no clock reads, no files:
the loop (agent.py) observes, calls decide, and runs the returned actions
(system.py). Everything time-dependent is measured with `now`, the agent's
own monotonic clock, so tests feed a virtual one.

The rules are those of the spec (pg-agent-spec.md, "The loop"), level-
triggered: each call looks at the whole picture again, so a lost action is
simply decided again on the next round.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# --- inputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The timing of pg.conf, in seconds."""
    alone_after: float = 2.0         # standby silent this long -> the primary commits without it
    promotable_within: float = 1.0   # a standby heard the primary this recently may be promoted
    fence_after: float = 3.0         # a primary without vipd mastership this long is fenced
    vipd_grace: float = 1.0          # vipd unanswered this long -> fenced (the spec's 1 s)
    start_retry: float = 5.0         # a stopped standby is started at most this often


@dataclass(frozen=True)
class Vipd:
    """The vipd instance holding the DB address, as GET /v1/status shows it."""
    reachable: bool
    node: str | None = None      # this node's id
    state: str | None = None     # master, backup, fault, maintenance, ...
    master: str | None = None    # the node it follows (itself when master)
    quorum_held: bool = True     # instances[].quorum.held; absent field = held
    advert_interval: float = 0.0  # the instance's advert interval, seconds (0: not reported)
    error: str = ""

    @property
    def is_master(self) -> bool:
        return self.reachable and self.state == "master" and self.quorum_held

    @property
    def other_master(self) -> str | None:
        """A peer's id when vipd follows another master."""
        if self.reachable and self.master and self.master != self.node:
            return self.master
        return None


@dataclass(frozen=True)
class Sender:
    """One row of pg_stat_replication on the local primary."""
    application_name: str
    state: str                    # startup, catchup, streaming, ...
    sync_state: str               # async, potential, sync, quorum
    reply_time: str | None        # the standby's own send time of its last reply (text: compared only)
    flush_lsn: int | None
    lag_bytes: int | None         # pg_current_wal_lsn() - replay_lsn


@dataclass(frozen=True)
class Local:
    """The local PostgreSQL. role: primary, standby, stopped (no live
    postmaster), or unknown (a postmaster lives but does not answer)."""
    role: str
    error: str = ""
    timeline: int | None = None
    sync_names: str | None = None             # primary: synchronous_standby_names
    senders: tuple[Sender, ...] = ()          # primary
    receiver_status: str | None = None        # standby: pg_stat_wal_receiver.status (None: no receiver)
    receipt_age: float | None = None          # standby: now - last_msg_receipt_time, on its own clock
    receiver_session: tuple | None = None     # standby: (receiver pid, receive_start_lsn)
    standby_signal: bool = False              # stopped: the data directory has standby.signal


@dataclass(frozen=True)
class Remote:
    """The server answering on the DB address, seen from here (only looked at
    when `needs_remote` says so). sync_state_of_me: its pg_stat_replication
    sync_state for this node's application_name."""
    primary: bool
    sync_state_of_me: str | None = None
    # Its last checkpoint is on its current timeline: pg_rewind reads the
    # timeline from there, so before that it would see no divergence.
    checkpointed: bool = True
    error: str = ""


@dataclass(frozen=True)
class Memory:
    """What the agent carries from one round to the next."""
    vipd_lost_at: float | None = None       # first round vipd did not answer
    not_master_at: float | None = None      # first round vipd was not master
    primary_since: float | None = None      # set while the local PG is a primary
    fresh_until: float | None = None        # a fresh primary counts as heard-from until then
    seen: tuple = ()                        # ((application_name, (reply_time, flush_lsn), t), ...)
    confirmed: tuple | None = None          # receiver session the primary lists as sync
    heard_at: float | None = None           # standby: last message from the primary, in a confirmed session
    fenced: str | None = None               # why we stopped the local primary
    rewind_failed: str | None = None        # pg_rewind's error: stay fenced, hands needed
    start_tried_at: float | None = None
    promoted: bool = False                  # we promoted it: a fresh primary
    stuck_since: float | None = None        # standby: not streaming since
    answered_since: float | None = None     # standby, not streaming: a primary answers there since
    sync_asked: tuple | None = None         # (value, t) of the last ALTER SYSTEM
    was_master: bool = False                # vipd was master with quorum last round
    quorum_lost: bool = False               # ... and has lost the quorum since


# --- outputs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Promote:
    pass


@dataclass(frozen=True)
class SetSync:
    value: str          # '*' or ''


@dataclass(frozen=True)
class Fence:
    reason: str


@dataclass(frozen=True)
class Rejoin:
    pass


@dataclass(frozen=True)
class StartStandby:
    pass


@dataclass(frozen=True)
class Decision:
    actions: tuple
    memory: Memory
    eligible: bool
    reason: str                     # the /eligible body ("eligible: ..." or why not)
    synchronous: bool | None = None  # primary: what synchronous_standby_names should be
    last_reply_age: float | None = None
    notes: tuple = field(default=())


SYNC_STATES = ("sync", "quorum")


# A standby that cannot stream for this long, the last half of it while a
# primary answers at the DB address, is rewound. Only the time a primary
# answers counts: after a cut the receiver reconnects by itself within
# seconds of the heal, and a running standby needs no rewind.
STUCK_AFTER = 30.0


def needs_remote(now: float, local: Local, memory: Memory) -> bool:
    """Whether the next round should look at the DB address: a stopped
    primary waits for a primary there to rejoin it; a streaming standby
    waits for that primary to list it as synchronous before it calls itself
    eligible (see _standby)."""
    if local.role == "stopped":
        return not local.standby_signal and memory.rewind_failed is None
    if local.role == "standby":
        if local.receiver_status == "streaming":
            return memory.confirmed != local.receiver_session
        # Not streaming for long: can it follow the primary at all? Not asked
        # sooner, so a dead primary's address never slows the rounds that
        # matter (connecting there can take seconds).
        return memory.stuck_since is not None and now - memory.stuck_since >= STUCK_AFTER / 2
    return False


def decide(now: float, s: Settings, vipd: Vipd, local: Local, remote: Remote | None, m: Memory) -> Decision:
    m = _timers(now, vipd, local, m)
    if local.role == "primary":
        return _primary(now, s, vipd, local, m)
    m = replace(m, primary_since=None, fresh_until=None, seen=(), sync_asked=None, promoted=False)
    if local.role != "standby":
        m = replace(m, confirmed=None, heard_at=None, stuck_since=None)
    if local.role == "standby":
        return _standby(now, s, vipd, local, remote, m)
    if local.role == "stopped":
        return _stopped(now, s, local, remote, m)
    # A postmaster that does not answer (starting, stuck): it may still be a
    # primary, so the fencing rules hold; stopping it is always safe.
    reason = _fence_reason(now, s, vipd, m)
    if reason:
        return Decision((Fence(reason),), replace(m, fenced=reason), False, f"fencing: {reason}")
    return Decision((), m, False, f"PostgreSQL not answering: {local.error}")


def _timers(now: float, vipd: Vipd, local: Local, m: Memory) -> Memory:
    lost = None if vipd.reachable else (m.vipd_lost_at if m.vipd_lost_at is not None else now)
    not_master = None if vipd.is_master else (m.not_master_at if m.not_master_at is not None else now)
    # A master that stops hearing a majority is cut off (or everyone else is
    # down): it is fenced at once, not after fence_after, so its commits,
    # which wait for a standby it cannot reach, never outlast alone_after.
    # Only a lost quorum it had: at a cold start quorum forms within a
    # second or two, and fence_after covers that.
    lost_quorum = vipd.reachable and not vipd.quorum_held and (m.was_master or m.quorum_lost)
    m = replace(m, vipd_lost_at=lost, not_master_at=not_master, was_master=vipd.is_master, quorum_lost=lost_quorum)
    if local.role in ("primary", "standby"):
        # A running server clears a fence: it was started again (by us, or by hand).
        m = replace(m, fenced=None, rewind_failed=None if local.role == "standby" else m.rewind_failed)
    return m


def _fence_reason(now: float, s: Settings, vipd: Vipd, m: Memory) -> str | None:
    if vipd.other_master:
        return f"{vipd.other_master} is master of the DB address"
    if m.quorum_lost:
        return "vipd lost the quorum it held as master (cut off from the majority)"
    if not vipd.reachable and now - m.vipd_lost_at >= s.vipd_grace:
        return f"vipd unreachable for {now - m.vipd_lost_at:.1f} s ({vipd.error})"
    if m.not_master_at is not None and now - m.not_master_at >= s.fence_after:
        why = "quorum not held" if vipd.reachable and vipd.state == "master" else f"state {vipd.state}"
        return f"vipd not master for {now - m.not_master_at:.1f} s ({why})"
    return None


def alone_after(s: Settings, vipd: Vipd) -> float:
    """alone_after, but never less than vipd's quorum loss (3 intervals)
    plus a second: an isolated master must be fenced before it would
    commit alone (docs/architecture.md, "What protects a partition")."""
    return max(s.alone_after, 3 * vipd.advert_interval + 1.0)


def _primary(now: float, s: Settings, vipd: Vipd, local: Local, m: Memory) -> Decision:
    if m.primary_since is None:
        # A primary found synchronous (the agent restarted) waits alone_after
        # for its standby to speak; one found alone stays alone. One we just
        # promoted commits alone at once: its standby was the old primary,
        # which must rewind, stream and be listed as synchronous before it
        # is eligible again (_standby), so waiting for it protects nothing
        # and only stalled every write for alone_after after each failover.
        fresh = now + alone_after(s, vipd) if local.sync_names not in ("", None) and not m.promoted else None
        m = replace(m, primary_since=now, fresh_until=fresh)
    reason = _fence_reason(now, s, vipd, m)
    if reason:
        return Decision((Fence(reason),), replace(m, fenced=reason), False, f"fencing: {reason}")

    # When each streaming standby last said something new, by our clock: its
    # reply_time or flush_lsn changed (it replies every wal_receiver_status_interval).
    seen = {name: (key, t) for name, key, t in m.seen}
    for row in local.senders:
        if row.state != "streaming":
            continue
        key = (row.reply_time, row.flush_lsn)
        if row.application_name not in seen or seen[row.application_name][0] != key:
            seen[row.application_name] = (key, now)
    m = replace(m, seen=tuple((n, k, t) for n, (k, t) in sorted(seen.items())))
    last = max((t for _, t in seen.values()), default=None)
    heard = last is not None and now - last < alone_after(s, vipd)
    fresh = m.fresh_until is not None and now < m.fresh_until
    want = "*" if heard or fresh else ""

    actions = []
    # ALTER SYSTEM again only when the server still shows the old value a
    # second later (the reload is asynchronous; a lost one is retried).
    if local.sync_names != want and not (m.sync_asked and m.sync_asked[0] == want and now - m.sync_asked[1] < 1.0):
        actions.append(SetSync(want))
        m = replace(m, sync_asked=(want, now))
    age = None if last is None else now - last
    return Decision(tuple(actions), m, True, "eligible: primary", synchronous=want == "*", last_reply_age=age)


def _standby(now: float, s: Settings, vipd: Vipd, local: Local, remote: Remote | None, m: Memory) -> Decision:
    session = local.receiver_session
    streaming = local.receiver_status == "streaming"
    m = replace(m, stuck_since=None if streaming else (m.stuck_since if m.stuck_since is not None else now))
    answering = not streaming and remote is not None and remote.primary
    m = replace(m, answered_since=(m.answered_since if m.answered_since is not None else now) if answering else None)
    if streaming and remote is not None and remote.primary and remote.sync_state_of_me in SYNC_STATES:
        m = replace(m, confirmed=session)
    if streaming and m.confirmed == session and local.receipt_age is not None:
        # When we last heard the primary, by our clock, in a session it waits
        # for. Kept after the receiver stops: vipd taking the DB address here
        # ends the receiver's connection (the address becomes local) at the
        # very moment the standby must be promoted.
        heard = now - local.receipt_age
        m = replace(m, heard_at=heard if m.heard_at is None else max(m.heard_at, heard))
    age = None if m.heard_at is None else now - m.heard_at
    if age is not None and age < s.promotable_within:
        how = "streaming" if streaming else f"receiver {local.receiver_status or 'stopped'}"
        text = f"eligible: standby {how}, heard {age:.1f} s ago"
        if vipd.is_master:
            return Decision((Promote(),), replace(m, promoted=True), True, text)
        return Decision((), m, True, text)
    if not streaming:
        why = f"standby not streaming (receiver {local.receiver_status or 'not running'})"
        if (now - m.stuck_since >= STUCK_AFTER and m.answered_since is not None
                and now - m.answered_since >= STUCK_AFTER / 2 and remote.checkpointed):
            # A primary answers but we cannot follow it (diverged history,
            # missing WAL): the same path as an old primary's.
            return Decision((Rejoin(),), replace(m, stuck_since=None, answered_since=None), False,
                            f"{why} for {now - m.stuck_since:.0f} s: rejoining the primary")
    elif m.confirmed != session:
        # Until the primary waits for us, a commit it acknowledged may be
        # missing here: the window between our connecting and its agent
        # turning synchronous on.
        detail = f"; {remote.error}" if remote is not None and remote.error else ""
        why = f"standby streaming, not yet synchronous on the primary{detail}"
    else:
        why = "standby streaming but last heard the primary " + ("never" if age is None else f"{age:.1f} s ago")
    note = (f"vipd is master but not promoting: {why}",) if vipd.is_master else ()
    return Decision((), m, False, why, notes=note)


def _stopped(now: float, s: Settings, local: Local, remote: Remote | None, m: Memory) -> Decision:
    if m.rewind_failed:
        return Decision((), m, False, f"fenced: pg_rewind failed ({m.rewind_failed}); rebuild by hand")
    if local.standby_signal:
        # A stopped standby accepts no writes: starting it is always safe.
        if m.start_tried_at is None or now - m.start_tried_at >= s.start_retry:
            return Decision((StartStandby(),), replace(m, start_tried_at=now), False, "stopped standby: starting")
        return Decision((), m, False, "stopped standby: start did not take, retrying")
    if remote is not None and remote.primary and remote.checkpointed:
        return Decision((Rejoin(),), m, False, "fenced: rejoining the primary at the DB address")
    why = m.fenced or "stopped"
    if remote is not None and remote.primary:
        seen = "it has not checkpointed its new timeline yet"
    else:
        seen = remote.error if remote is not None and remote.error else "no primary answers there"
    return Decision((), m, False, f"fenced ({why}); waiting for a primary at the DB address: {seen}")

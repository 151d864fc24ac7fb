"""decide(): the agent's rules fed with virtual time and made-up views of
vipd and PostgreSQL. No PostgreSQL, no sockets, no sleeping."""

from dataclasses import replace

import pytest

from vipd_pg.decide import (STUCK_AFTER, Fence, Local, Memory, Promote, Rejoin, Remote, Sender, SetSync, Settings,
                            StartStandby, Vipd, decide, needs_remote)

S = Settings(alone_after=5.0, promotable_within=3.0, fence_after=3.0, vipd_grace=1.0, start_retry=5.0)
MASTER = Vipd(True, node="node-a", state="master", master="node-a")
BACKUP_OF_B = Vipd(True, node="node-a", state="backup", master="node-b")
BACKUP_NO_MASTER = Vipd(True, node="node-a", state="backup", master=None)
GONE = Vipd(False, error="ConnectionRefusedError")


def sender(reply="t0", flush=100, state="streaming", sync="sync"):
    return Sender("node-b", state, sync, reply, flush, 0)


def primary(sync="*", senders=()):
    return Local("primary", timeline=1, sync_names=sync, senders=tuple(senders))


def standby(status="streaming", age=0.2, session=(42, "0/3000000")):
    return Local("standby", timeline=1, receiver_status=status, receipt_age=age, receiver_session=session)


def kinds(decision):
    return [type(a) for a in decision.actions]


class Run:
    """Feeds rounds to decide() and carries the memory, as the loop does."""

    def __init__(self, memory=Memory()):
        self.m = memory

    def __call__(self, now, vipd, local, remote=None):
        dec = decide(now, S, vipd, local, remote, self.m)
        self.m = dec.memory
        return dec


# --- the primary: synchronous while the standby replies, alone after alone_after -------

def test_primary_turns_synchronous_when_a_standby_streams():
    run = Run()
    dec = run(0.0, MASTER, primary(sync="", senders=[sender()]))
    assert dec.actions == (SetSync("*"),) and dec.eligible and dec.reason == "eligible: primary"


def test_primary_commits_alone_only_after_alone_after_of_silence():
    run = Run()
    run(0.0, MASTER, primary(senders=[sender("t0", 100)]))
    run(1.0, MASTER, primary(senders=[sender("t1", 100)]))      # a reply: heard at 1.0
    for t in (2.0, 4.0, 5.9):                                      # the same row, no news
        assert SetSync not in kinds(run(t, MASTER, primary(senders=[sender("t1", 100)])))
    assert run(6.0, MASTER, primary(senders=[])).actions == (SetSync(""),)   # row gone, 5 s after 1.0


def test_a_catching_up_standby_does_not_make_the_primary_wait():
    run = Run()
    dec = run(0.0, MASTER, primary(sync="", senders=[sender(state="catchup", sync="async")]))
    assert dec.actions == () and dec.synchronous is False


def test_a_returning_standby_makes_it_synchronous_again():
    run = Run()
    run(0.0, MASTER, primary(sync="", senders=[]))
    assert run(0.2, MASTER, primary(sync="", senders=[sender("t9", 500, sync="async")])).actions == (SetSync("*"),)


def test_fresh_primary_starts_synchronous_one_already_alone_stays_alone():
    fresh = Run()
    for t in (0.0, 2.0, 4.9):
        assert fresh(t, MASTER, primary(sync="*")).actions == ()
    assert fresh(5.0, MASTER, primary(sync="*")).actions == (SetSync(""),)
    alone = Run()
    assert alone(0.0, MASTER, primary(sync="")).actions == ()


def test_set_sync_is_not_repeated_while_the_reload_lands():
    run = Run()
    assert run(0.0, MASTER, primary(sync="", senders=[sender()])).actions == (SetSync("*"),)
    assert run(0.2, MASTER, primary(sync="", senders=[sender()])).actions == ()
    assert run(1.1, MASTER, primary(sync="", senders=[sender()])).actions == (SetSync("*"),)


# --- fencing -------------------------------------------------------------------------------

def test_fenced_at_once_when_a_peer_is_master():
    dec = Run()(0.0, BACKUP_OF_B, primary())
    assert kinds(dec) == [Fence] and "node-b is master" in dec.actions[0].reason
    assert not dec.eligible and dec.memory.fenced


def test_fenced_when_vipd_is_unreachable_for_one_second():
    run = Run()
    run(0.0, MASTER, primary())
    assert run(0.1, GONE, primary()).actions == ()
    assert run(1.0, GONE, primary()).actions == ()
    dec = run(1.1, GONE, primary())
    assert kinds(dec) == [Fence] and "unreachable" in dec.actions[0].reason


def test_fenced_when_not_master_for_fence_after():
    run = Run()
    run(0.0, MASTER, primary())
    for t in (0.2, 1.0, 3.1):
        assert Fence not in kinds(run(t, BACKUP_NO_MASTER, primary()))
    assert kinds(run(3.2, BACKUP_NO_MASTER, primary())) == [Fence]


def test_master_again_resets_the_fence_clock():
    run = Run()
    run(0.0, BACKUP_NO_MASTER, primary())
    run(2.9, MASTER, primary())
    assert Fence not in kinds(run(5.0, BACKUP_NO_MASTER, primary()))


def test_quorum_never_held_counts_as_not_master():
    # A cold start: vipd has not heard a majority yet; fence_after applies.
    run = Run()
    no_quorum = replace(MASTER, quorum_held=False)
    assert Fence not in kinds(run(0.0, no_quorum, primary()))
    assert Fence not in kinds(run(2.9, no_quorum, primary()))
    dec = run(3.0, no_quorum, primary())
    assert kinds(dec) == [Fence] and "quorum" in dec.actions[0].reason


def test_a_master_that_loses_its_quorum_is_fenced_at_once():
    # Cut off from the majority: no waiting for fence_after, so the primary
    # is stopped long before it would commit alone (alone_after).
    run = Run()
    run(0.0, MASTER, primary())
    dec = run(0.2, replace(MASTER, quorum_held=False), primary())
    assert kinds(dec) == [Fence] and "lost the quorum" in dec.actions[0].reason
    # Also when the resignation shows first as FAULT without quorum.
    run = Run()
    run(0.0, MASTER, primary())
    dec = run(0.2, replace(MASTER, state="fault", master=None, quorum_held=False), primary())
    assert kinds(dec) == [Fence] and "lost the quorum" in dec.actions[0].reason


def test_alone_after_is_never_shorter_than_the_quorum_loss_plus_a_second():
    # 1 s adverts: quorum is lost after 3 s, so the primary waits at least 4 s.
    slow = replace(MASTER, advert_interval=1.0)
    short = replace(S, alone_after=2.0, promotable_within=1.0)
    m = decide(0.0, short, slow, primary(senders=[sender("t0")]), None, Memory()).memory
    for t in (1.0, 2.5, 3.9):
        dec = decide(t, short, slow, primary(senders=[sender("t0")]), None, m)
        m = dec.memory
        assert dec.synchronous is True, t
    dec = decide(4.1, short, slow, primary(senders=[sender("t0")]), None, m)
    assert dec.synchronous is False


def test_a_postmaster_that_does_not_answer_is_fenced_by_the_same_rules():
    assert kinds(Run()(0.0, BACKUP_OF_B, Local("unknown", error="starting up"))) == [Fence]
    assert Run()(0.0, MASTER, Local("unknown", error="starting up")).actions == ()


# --- the standby: eligible, promoted --------------------------------------------------------

def confirmed_run():
    run = Run()
    run(0.0, BACKUP_NO_MASTER, standby(), Remote(True, "sync"))
    return run


def test_streaming_standby_is_eligible_only_once_the_primary_waits_for_it():
    run = Run()
    assert needs_remote(0.0, standby(), run.m)
    dec = run(0.0, BACKUP_NO_MASTER, standby(), Remote(True, "async"))
    assert not dec.eligible and "not yet synchronous" in dec.reason
    dec = run(0.2, BACKUP_NO_MASTER, standby(), Remote(True, "sync"))
    assert dec.eligible and dec.reason == "eligible: standby streaming, heard 0.2 s ago"
    assert not needs_remote(0.0, standby(), run.m)


def test_a_new_receiver_session_is_not_heard_until_confirmed():
    run = confirmed_run()                      # heard at -0.2 (age 0.2 at 0.0)
    new = standby(session=(43, "0/4000000"), age=0.1)
    assert run(1.0, BACKUP_NO_MASTER, new).eligible          # still the old session's 1.2 s
    assert needs_remote(1.0, new, run.m)
    dec = run(2.9, BACKUP_NO_MASTER, new)
    assert not dec.eligible and "not yet synchronous" in dec.reason
    assert run(3.0, BACKUP_NO_MASTER, new, Remote(True, "sync")).eligible


def test_standby_that_has_not_heard_the_primary_is_not_eligible_nor_promoted():
    run = confirmed_run()
    assert run(1.0, BACKUP_NO_MASTER, standby(age=1.2)).eligible
    dec = run(2.8, MASTER, standby(age=3.0))
    assert not dec.eligible and dec.actions == () and "last heard the primary 3.0 s ago" in dec.reason
    assert dec.notes and "not promoting" in dec.notes[0]


def test_promoted_when_the_receiver_just_stopped_the_db_address_ending_its_connection():
    """vipd adds the DB address here as it becomes master: the receiver's
    connection to that address breaks at once, before the agent's next round."""
    run = confirmed_run()
    dec = run(0.6, MASTER, Local("standby", timeline=1))      # no receiver row
    assert dec.actions == (Promote(),) and dec.reason == "eligible: standby receiver stopped, heard 0.8 s ago"


def test_standby_not_streaming_is_eligible_only_within_promotable_within():
    run = confirmed_run()
    assert run(2.7, BACKUP_NO_MASTER, standby(status="waiting")).eligible
    dec = run(2.8, MASTER, standby(status="waiting"))
    assert not dec.eligible and dec.actions == () and "not streaming (receiver waiting)" in dec.reason


def test_vipd_master_promotes_an_eligible_standby_which_commits_alone_at_once():
    run = confirmed_run()
    b_master = replace(MASTER, node="node-b", master="node-b")
    dec = run(1.0, b_master, standby())
    assert dec.actions == (Promote(),) and dec.eligible
    # No standby to wait for: the old primary must rejoin and be confirmed first.
    assert run(1.2, b_master, primary(sync="*")).actions == (SetSync(""),)
    # It comes back and streams: synchronous again.
    assert run(9.0, b_master, primary(sync="", senders=(sender(),))).actions == (SetSync("*"),)


def test_a_standby_that_cannot_stream_is_rewound_once_a_primary_answers():
    run = confirmed_run()
    assert not needs_remote(5.0, standby(status="waiting"), run.m)   # a dead primary's address: not asked soon
    run(5.0, BACKUP_OF_B, standby(status="waiting"))
    assert needs_remote(5.0 + STUCK_AFTER, standby(status="waiting"), run.m)
    # A primary answers from t=20 on: rewound once it has for STUCK_AFTER / 2.
    for t in (20.0, 30.0, 34.9):
        assert run(t, BACKUP_OF_B, standby(status="waiting"), Remote(True)).actions == ()
    assert run(35.0, BACKUP_OF_B, standby(status="waiting"), Remote(True)).actions == (Rejoin(),)


def test_a_standby_cut_off_for_long_is_not_rewound_when_the_link_returns():
    # The lab's 30 s cut: no primary answers during it; at the heal one does,
    # and the receiver reconnects by itself within seconds.
    run = confirmed_run()
    for t in (5.0, 20.0, 34.0):
        run(t, BACKUP_OF_B, standby(status="waiting"), Remote(False, error="no route to host"))
    assert run(36.0, BACKUP_OF_B, standby(status="waiting"), Remote(True)).actions == ()
    assert run(40.0, BACKUP_OF_B, standby(status="waiting"), Remote(True)).actions == ()
    assert run(41.0, BACKUP_OF_B, standby(), Remote(True, sync_state_of_me="sync")).actions == ()
    assert run.m.stuck_since is None and run.m.answered_since is None


def test_a_standby_is_never_fenced():
    run = confirmed_run()
    assert run(5.0, GONE, standby()).actions == ()


# --- stopped: start a standby, rejoin a fenced primary -------------------------------------------

def test_stopped_standby_is_started_and_retried_slowly():
    run = Run()
    stopped = Local("stopped", standby_signal=True)
    assert not needs_remote(0.0, stopped, run.m)
    assert run(0.0, BACKUP_OF_B, stopped).actions == (StartStandby(),)
    assert run(1.0, BACKUP_OF_B, stopped).actions == ()
    assert run(5.0, BACKUP_OF_B, stopped).actions == (StartStandby(),)


def test_fenced_primary_rejoins_when_the_db_address_answers_as_a_primary():
    run = Run()
    run(0.0, BACKUP_OF_B, primary())
    stopped = Local("stopped")
    assert needs_remote(0.0, stopped, run.m)
    dec = run(0.2, BACKUP_OF_B, stopped, Remote(False, error="connection refused"))
    assert dec.actions == () and "waiting for a primary" in dec.reason and "node-b is master" in dec.reason
    dec = run(0.4, BACKUP_OF_B, stopped, Remote(True, checkpointed=False))
    assert dec.actions == () and "not checkpointed its new timeline" in dec.reason
    assert run(0.6, BACKUP_OF_B, stopped, Remote(True)).actions == (Rejoin(),)


def test_a_failed_rewind_stays_fenced():
    run = Run(Memory(fenced="node-b is master", rewind_failed="could not find common ancestor"))
    stopped = Local("stopped")
    assert not needs_remote(0.0, stopped, run.m)
    dec = run(0.0, BACKUP_OF_B, stopped, None)
    assert dec.actions == () and "pg_rewind failed" in dec.reason and not dec.eligible


def test_a_running_standby_clears_the_fence():
    run = Run(Memory(fenced="x", rewind_failed="y"))
    run(0.0, BACKUP_OF_B, standby())
    assert run.m.fenced is None and run.m.rewind_failed is None


# --- the safety argument of the spec, over time -----------------------------------------------------

@pytest.mark.parametrize("silence_start", [0.0, 0.1, 0.7, 1.3])
def test_no_moment_with_the_primary_alone_and_the_standby_promotable(silence_start):
    """The standby's last message from the primary and the primary's last
    news from the standby are both at SILENCE_START (the link dies). The
    primary commits alone from silence_start + alone_after; the standby is
    promotable until silence_start + promotable_within. They never overlap."""
    prim, stby = Run(), confirmed_run()
    prim(0.0, MASTER, primary(senders=[sender("t0")]))
    prim(silence_start, MASTER, primary(senders=[sender("t1")]))
    t = silence_start
    while t < silence_start + 10:
        prim(t, MASTER, primary(senders=[]))
        committing_alone = prim.m.sync_asked is not None and prim.m.sync_asked[0] == ""
        promotable = stby(t, BACKUP_NO_MASTER, standby(age=t - silence_start)).eligible
        assert not (promotable and committing_alone), t
        t = round(t + 0.1, 3)
    assert prim.m.sync_asked[0] == ""

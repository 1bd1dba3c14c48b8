"""One leader for the jobs: at no instant do two processes lead, another takes over within
seconds when the leader lets go or its connection dies; SQLite is simply the leader."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from core.db.leader import Leadership
from core.settings import Settings
from testkit.databases import postgres_schema

LEASE = 0.5


def wait_for(leadership: Leadership, within: float = 5.0) -> float:
    """Check until it leads; how long that took."""
    start = time.monotonic()
    while not leadership.check():
        assert time.monotonic() - start < within, "never took the lead"
        time.sleep(0.02)
    return time.monotonic() - start


def terminate_holder(url: str) -> int:
    """End the session holding this schema's jobs lock, as when the leader's host vanishes."""
    admin = create_engine(url)
    try:
        with admin.connect() as conn:
            pid = conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid::int = hashtext('kefu.jobs')"
                    " AND objid::int = hashtext(current_schema())"
                )
            ).scalar_one()
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            return int(pid)
    finally:
        admin.dispose()


def test_sqlite_is_simply_the_leader() -> None:
    leadership = Leadership("sqlite:///x.db")
    assert leadership.check() and leadership.is_leader
    leadership.close()
    assert leadership.is_leader


def test_the_lease_must_outlast_the_check_interval() -> None:
    with pytest.raises(ValueError, match="KEFU_LEADER_LEASE_SECONDS"):
        Settings(leader_check_seconds=2, leader_lease_seconds=2)


def test_one_leader_per_schema_and_a_takeover() -> None:
    with postgres_schema() as url, postgres_schema() as other_url:
        one, two = Leadership(url, lease_seconds=LEASE), Leadership(url, lease_seconds=LEASE)
        elsewhere = Leadership(other_url, lease_seconds=LEASE)
        try:
            assert not one.check()  # the lock is taken, the lead comes a lease later
            assert wait_for(one) >= LEASE * 0.9
            assert not two.check() and not two.check()
            wait_for(elsewhere)  # another installation leads its own jobs
            one.close()
            assert not one.is_leader
            wait_for(two)
            assert not one.check()
        finally:
            for leader in (one, two, elsewhere):
                leader.close()


def test_a_dead_connection_never_makes_two_leaders() -> None:
    """The old leader has not checked since its connection died, the other has already taken
    the lock: only one of them may say it leads, at every instant."""
    with postgres_schema() as url:
        one, two = Leadership(url, lease_seconds=LEASE), Leadership(url, lease_seconds=LEASE)
        try:
            wait_for(one)
            assert not two.check()
            terminate_holder(url)
            # `two` checks often, `one` not at all (its next round is late): `two` takes the lock
            # the moment the server lets go of it.
            start = time.monotonic()
            while not two._held:
                assert time.monotonic() - start < 3, "the lock was never let go"
                two.check()
                time.sleep(0.01)
            while not two.check():
                assert not (one.is_leader and two.is_leader), "two leaders"
                assert time.monotonic() - start < 3 + LEASE * 2
                time.sleep(0.01)
            assert not one.is_leader  # its lease ran out before the other led
            assert not one.check()  # and its check finds the connection gone
            assert two.check()
        finally:
            one.close()
            two.close()


def test_a_leader_whose_checks_stop_stops_leading_within_its_lease() -> None:
    with postgres_schema() as url:
        one = Leadership(url, lease_seconds=LEASE)
        try:
            wait_for(one)
            time.sleep(LEASE * 1.2)  # no check: as a process whose check thread is stuck
            assert not one.is_leader
            assert one.check()  # still holds the lock: leads again at once
        finally:
            one.close()


CHILD = """
import sys, time
from core.db.leader import Leadership
url, every, lease, run = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
leader = Leadership(url, lease_seconds=lease)
was, end, next_check = None, time.monotonic() + run, 0.0
while time.monotonic() < end:
    now = time.monotonic()
    if now >= next_check:
        leader.check()
        next_check = now + every
    leading = leader.is_leader
    if leading != was:
        print(f"{time.monotonic():.4f} {int(leading)}", flush=True)
        was = leading
    time.sleep(0.002)
leader.close()
print(f"{time.monotonic():.4f} 0", flush=True)
"""


def spans(lines: list[str]) -> list[tuple[float, float]]:
    """When a process led, from its transitions (monotonic time is one clock for the machine)."""
    out, since = [], None
    for line in lines:
        at, leading = line.split()
        if leading == "1" and since is None:
            since = float(at)
        elif leading == "0" and since is not None:
            out.append((since, float(at)))
            since = None
    return out


def test_two_processes_never_lead_at_once_when_the_leader_s_connection_is_killed() -> None:
    """A leader that checks every second and another that checks ten times a second: after the
    leader's session is ended, the other takes over within seconds, and their times as leader do
    not overlap."""
    with postgres_schema() as url:
        lease = 1.5

        def child(every: float, run: float) -> subprocess.Popen[str]:
            argv = [sys.executable, "-c", CHILD, url, str(every), str(lease), str(run)]
            return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)

        slow = child(1.0, 12.0)
        assert slow.stdout is not None
        lines_slow = [slow.stdout.readline()]
        while not lines_slow[-1].endswith(" 1\n"):  # it leads
            lines_slow.append(slow.stdout.readline())
            assert lines_slow[-1], "the first process never led"
        fast = child(0.1, 10.0)
        time.sleep(1.5)
        killed_at = time.monotonic()
        terminate_holder(url)
        out_fast, _ = fast.communicate(timeout=30)
        out_slow, _ = slow.communicate(timeout=30)
        led_slow = spans([*lines_slow, *out_slow.splitlines()])
        led_fast = spans(out_fast.splitlines())
        assert led_slow and led_slow[0][1] > killed_at  # it led until after the kill
        assert led_fast, "nobody took over"
        assert led_fast[0][0] - killed_at < 1.0 + 2 * lease  # within seconds
        for a_start, a_end in led_slow:
            for b_start, b_end in led_fast:
                assert a_end <= b_start or b_end <= a_start, ("two leaders", led_slow, led_fast)

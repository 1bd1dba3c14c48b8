"""Renewal and late opening move the service period; bad dates are refused, nothing changed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial

import pytest

from core.chat import conversations as units
from core.chat.conversations import Speaker, UnitPolicy
from core.db.engine import Database
from core.db.tables import KeyKind, LicenceStatus, Licensee
from core.errors import Conflict, InvalidInput, NotFound
from core.licensing.licensees import licence_availability
from core.licensing.renewal import open_late, renew
from core.licensing.service_period import TermState
from core.licensing.suspension import suspend
from testkit.tenants import MakeTenant, Tenant, key_id

NOW = datetime(2026, 1, 10, 4, 0, tzinfo=UTC)


def shop(make_tenant: MakeTenant) -> Tenant:
    return make_tenant("Shop", now=NOW, start=date(2026, 2, 1), end=date(2027, 1, 31))


def row(db: Database, licensee_id: str) -> Licensee:
    with db.read_session() as session:
        licensee = session.get(Licensee, licensee_id)
        assert licensee is not None
        return licensee


def test_renew_sets_a_later_end_and_brings_a_beyond_term_licence_back_in_term(
    db: Database, make_tenant: MakeTenant
) -> None:
    t = shop(make_tenant)
    beyond = datetime(2027, 2, 10, tzinfo=UTC)
    assert licence_availability(row(db, t.licensee.id), beyond) == TermState.BEYOND_TERM
    with db.session() as session:
        renewal = renew(session, t.licensee.id, date(2028, 1, 31), beyond)
        session.commit()
    assert renewal.previous_end == date(2027, 1, 31) and not renewal.lifted
    licensee = row(db, t.licensee.id)
    assert licensee.service_end == date(2028, 1, 31)
    assert licence_availability(licensee, beyond) == TermState.IN_TERM


@pytest.mark.parametrize("end", [date(2027, 1, 31), date(2026, 6, 1)])
def test_renew_to_an_end_not_after_the_current_is_refused(
    db: Database, make_tenant: MakeTenant, end: date
) -> None:
    t = shop(make_tenant)
    with db.session() as session, pytest.raises(InvalidInput, match="must be after"):
        renew(session, t.licensee.id, end, NOW)
    assert row(db, t.licensee.id).service_end == date(2027, 1, 31)


def test_renew_to_an_end_that_leaves_the_licence_lapsed_is_refused(
    db: Database, make_tenant: MakeTenant
) -> None:
    t = shop(make_tenant)
    much_later = datetime(2027, 6, 1, tzinfo=UTC)
    with db.session() as session, pytest.raises(InvalidInput, match="stay revoked"):
        renew(session, t.licensee.id, date(2027, 4, 1), much_later)
    with db.session() as session:  # the same day a month before today is still fine
        renew(session, t.licensee.id, date(2027, 5, 1), much_later)
        session.commit()


def test_renew_keeps_a_suspension_and_an_unknown_licensee_is_not_found(
    db: Database, make_tenant: MakeTenant
) -> None:
    t = shop(make_tenant)
    with db.session() as session:
        suspend(session, t.licensee.id, NOW)
        renew(session, t.licensee.id, date(2028, 1, 31), NOW)
        session.commit()
    assert row(db, t.licensee.id).status == LicenceStatus.SUSPENDED
    with db.session() as session, pytest.raises(NotFound):
        renew(session, "lic_nope", date(2028, 1, 31), NOW)


def test_opening_late_moves_both_dates_by_the_delay(db: Database, make_tenant: MakeTenant) -> None:
    t = shop(make_tenant)
    with db.session() as session:
        licensee = open_late(session, t.licensee.id, date(2026, 2, 15), NOW)
        session.commit()
    assert (licensee.service_start, licensee.service_end) == (date(2026, 2, 15), date(2027, 2, 14))
    assert row(db, t.licensee.id).opened_on == date(2026, 2, 15)
    with db.session() as session, pytest.raises(Conflict, match="already opened"):
        open_late(session, t.licensee.id, date(2026, 3, 1), NOW)
    assert row(db, t.licensee.id).service_end == date(2027, 2, 14)


def test_opening_late_across_a_month_end_and_a_leap_day(
    db: Database, make_tenant: MakeTenant
) -> None:
    t = make_tenant("Leap", now=NOW, start=date(2028, 2, 20), end=date(2029, 2, 19))
    with db.session() as session:
        licensee = open_late(session, t.licensee.id, date(2028, 3, 5), NOW)
        session.commit()
    # 2028-02-20 to 03-05 is 14 days (29 February included): the end moves 14 days too.
    assert licensee.service_end == date(2029, 3, 5)


def test_opening_before_the_start_is_refused(db: Database, make_tenant: MakeTenant) -> None:
    t = shop(make_tenant)
    with db.session() as session, pytest.raises(InvalidInput, match="before the service start"):
        open_late(session, t.licensee.id, date(2026, 1, 31), NOW)
    assert row(db, t.licensee.id).service_start == date(2026, 2, 1)


def test_a_licensee_that_was_served_before_the_day_cannot_open_late(
    db: Database, make_tenant: MakeTenant
) -> None:
    t = shop(make_tenant)
    lic = t.licensee.id
    served_at = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)
    for kind, expect in ((KeyKind.TEST, None), (KeyKind.LIVE, Conflict)):
        who = Speaker(
            lic, f"v-{kind}", key_id(db, lic, kind), kind == KeyKind.TEST, False, UnitPolicy()
        )
        db.writer.run(
            partial(units.record_visitor_message, who=who, client_id="c", text="hi", now=served_at)
        )
        with db.session() as session:
            if expect is None:  # test conversations are not service: still allowed
                open_late(session, lic, date(2026, 2, 10), NOW)
                session.rollback()
            else:
                with pytest.raises(Conflict, match="served 1 billed"):
                    open_late(session, lic, date(2026, 2, 10), NOW)
    with db.session() as session:  # the day it was served on is fine: it opened that day
        assert open_late(session, lic, date(2026, 2, 3), NOW).service_end == date(2027, 2, 2)
        session.commit()
    assert row(db, lic).service_start == date(2026, 2, 3)

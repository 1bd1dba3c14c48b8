"""The reports' hand-off charts of one licensee: the share of conversations that asked for a
person, how long they waited and how soon the agent first wrote, per day, and the conversations
each agent took over the range; all read off the daily figures (``core.reporting.daily``)."""

from __future__ import annotations

from decimal import Decimal

from markupsafe import Markup

from admin.charts import Series, chart, ranked
from admin.i18n import translate
from core.reporting.figures import Report


def _shown(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}"


def handoff_charts(found: Report, lang: str) -> list[Markup]:
    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    days = [d.day for d in found.days]
    seconds = t("reports.seconds")
    return [
        chart(
            t("reports.chart_handoff_rate", overall=_shown(found.handoff_rate)),
            days,
            [Series(t("reports.handoff_rate"), [d.handoff_rate for d in found.days])],
        ),
        chart(
            t(
                "reports.chart_handoff_times",
                wait=_shown(found.mean_wait_seconds),
                first=_shown(found.mean_first_response_seconds),
            ),
            days,
            [
                Series(t("reports.wait"), [d.mean_wait_seconds for d in found.days]),
                Series(
                    t("reports.first_response"),
                    [d.mean_first_response_seconds for d in found.days],
                ),
            ],
            kind="line",
            unit=seconds,
        ),
        ranked(
            t("reports.chart_agents"),
            [(a.name, a.conversations) for a in found.agents],
            unit=t("reports.conversations"),
        ),
    ]

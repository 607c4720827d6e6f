"""Due dates from the definitions' rules, against real dates (PROCEDURES.md §6)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from workflows.calendar import days_after_due, end_of_local_day, fixed_date_due, validity_end_due
from workflows.registry import default_registry
from workflows.schema import Deadline

D = default_registry().get("cdht_xa", "tt25-2023").definition


def rule(kind: str, days: int) -> Deadline:
    return Deadline.model_validate(
        {
            "rule": {"kind": kind, "days": days},
            "opens_in": ["submitted"],
            "closes_on": ["recognize"],
            "on_breach": "flag",
            "citation": "TT25/2023 Điều 19 k2 e",
            "vi": "20 ngày làm việc",
            "en": "20 working days",
        }
    )


def test_cut_off_is_the_end_of_28_february_in_hanoi_when_inclusive() -> None:
    due = fixed_date_due(D.deadlines["submission"], cycle=2025, inclusive=True)
    assert due.at == datetime(2026, 2, 28, 16, 59, 59, 999999, tzinfo=timezone.utc)
    assert due.explanation.startswith("28/02/2026, 23:59 Asia/Ho_Chi_Minh: on or before 28/02/2026")
    assert due.explanation.endswith("TT25/2023 Điều 9 k1 d")


def test_cut_off_is_the_end_of_27_february_when_exclusive() -> None:
    due = fixed_date_due(D.deadlines["submission"], cycle=2025, inclusive=False)
    assert due.at == datetime(2026, 2, 27, 16, 59, 59, 999999, tzinfo=timezone.utc)
    assert "before 28/02/2026" in due.explanation
    assert due.inputs == {"cycle": 2025, "named_date": "2026-02-28", "cutoff_inclusive": False}


def test_twenty_working_days_from_a_dossier_received_the_week_before_tet_2026() -> None:
    # Received Monday 09/02/2026; Tết 16/02–20/02/2026 does not count.
    due = days_after_due(rule("working_days_after", 20), start=date(2026, 2, 9))
    assert due.at == end_of_local_day(date(2026, 3, 16))
    assert "20 working days after 09/02/2026" in due.explanation
    assert "2026 confirmed" in due.explanation
    assert due.calendar_version.startswith("vn-")


def test_twenty_working_days_across_tet_2025() -> None:
    due = days_after_due(rule("working_days_after", 20), start=date(2025, 1, 20))
    assert due.at == end_of_local_day(date(2025, 2, 24))
    assert "2025 confirmed" in due.explanation


def test_working_days_reaching_an_unconfirmed_year_say_so() -> None:
    due = days_after_due(rule("working_days_after", 20), start=date(2026, 12, 20))
    assert "2027 unconfirmed" in due.explanation


def test_calendar_days_count_every_day() -> None:
    due = days_after_due(rule("calendar_days_after", 10), start=date(2026, 2, 13))
    assert due.at == end_of_local_day(date(2026, 2, 23))
    assert due.rule == "calendar_days_after"


def test_validity_runs_to_the_end_of_the_third_year_after_the_decision() -> None:
    due = validity_end_due(D.deadlines["validity"], decided_on=date(2026, 3, 20), years_after=3)
    assert due.at == datetime(2029, 12, 31, 16, 59, 59, 999999, tzinfo=timezone.utc)
    assert due.inputs == {"decided_on": "2026-03-20", "years_after_decision_year": 3}

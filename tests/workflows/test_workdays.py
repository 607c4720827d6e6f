"""Vietnamese working days for legal deadlines (Bộ luật Lao động 2019 Điều 112; TT25/2023 Điều 19 k2 e)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import holidays
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.workdays import DEFAULT_PATH, WorkCalendar, load_calendar

CAL = load_calendar()


def d(text: str) -> date:
    return date.fromisoformat(text)


def write_variant(tmp_path: Path, change: Any) -> Path:
    doc = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    change(doc)
    path = tmp_path / "vn.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# -- loading -----------------------------------------------------------------------------------------------


def test_default_calendar_loaded_twice_is_same_object() -> None:
    assert load_calendar() is load_calendar()
    assert isinstance(CAL, WorkCalendar)


def test_version_names_yaml_and_holidays_package() -> None:
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert CAL.version == f"vn-{raw['version']}+holidays-{holidays.__version__}"


def test_unmodified_copy_loads_same_table(tmp_path: Path) -> None:
    copy = load_calendar(write_variant(tmp_path, lambda doc: None))
    assert copy.years == CAL.years
    assert copy.version == CAL.version


def test_make_up_day_on_tuesday_is_refused(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["years"][2025]["working_days"][0]["date"] = date(2025, 4, 29)  # a Tuesday

    path = write_variant(tmp_path, change)
    with pytest.raises(ValueError, match=r"vn\.yaml.*years\.2025\.working_days\[0\]\.date.*Tuesday"):
        load_calendar(path)


def test_date_filed_under_wrong_year_is_refused(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["years"][2024]["days_off"].append({"date": date(2025, 5, 2), "reason": "wrong year"})

    path = write_variant(tmp_path, change)
    with pytest.raises(ValueError, match=r"vn\.yaml.*years\.2024\.days_off\[1\]\.date.*not in 2024"):
        load_calendar(path)


def test_unknown_key_in_year_is_refused(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["years"][2026]["holidays"] = []

    path = write_variant(tmp_path, change)
    with pytest.raises(ValueError, match=r"vn\.yaml.*years\.2026\.holidays.*unknown key"):
        load_calendar(path)


def test_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    path = write_variant(tmp_path, lambda doc: doc.update(country="VN"))
    with pytest.raises(ValueError, match=r"vn\.yaml: country: unknown key"):
        load_calendar(path)


def test_day_off_on_saturday_is_refused(tmp_path: Path) -> None:
    index = len(CAL.years[2026].days_off)

    def change(doc: dict[str, Any]) -> None:
        doc["years"][2026]["days_off"].append({"date": date(2026, 2, 14), "reason": "Saturday"})

    with pytest.raises(ValueError, match=rf"years\.2026\.days_off\[{index}\]\.date.*Saturday"):
        load_calendar(write_variant(tmp_path, change))


def test_date_both_off_and_working_is_refused(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["years"][2025]["days_off"].append({"date": date(2025, 5, 5), "reason": "x"})
        doc["years"][2025]["working_days"].append({"date": date(2025, 5, 5), "reason": "y"})

    expected = r"vn\.yaml: years\.2025\.working_days\[1\]\.date.*both a day off and a working day"
    with pytest.raises(ValueError, match=expected):
        load_calendar(write_variant(tmp_path, change))


def test_unknown_status_is_refused(tmp_path: Path) -> None:
    path = write_variant(tmp_path, lambda doc: doc["years"][2027].update(status="final"))
    with pytest.raises(ValueError, match=r"vn\.yaml: years\.2027\.status"):
        load_calendar(path)


def test_unconfirmed_year_with_table_is_refused(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["years"][2027]["working_days"] = [{"date": date(2027, 5, 8), "reason": "guess"}]

    with pytest.raises(ValueError, match=r"years\.2027\.working_days.*unconfirmed"):
        load_calendar(write_variant(tmp_path, change))


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vn.yaml"
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    path.write_text(text.replace("timezone: Asia/Ho_Chi_Minh", "timezone: Asia/Ho_Chi_Minh\nversion: '1'"))
    with pytest.raises(ValueError, match=r"vn\.yaml.*duplicate key 'version'"):
        load_calendar(path)


# -- the table and the base ----------------------------------------------------------------------------------

# Tết weekdays the table relies on the base for (it lists no days_off for them).
TET_WEEKDAYS = {
    2024: [d("2024-02-08"), d("2024-02-09"), d("2024-02-12"), d("2024-02-13"), d("2024-02-14")],
    2025: [d("2025-01-27"), d("2025-01-28"), d("2025-01-29"), d("2025-01-30"), d("2025-01-31")],
    2026: [d("2026-02-16"), d("2026-02-17"), d("2026-02-18"), d("2026-02-19"), d("2026-02-20")],
}
NATIONAL_DAY_WEEKDAYS = {
    2024: [d("2024-09-02"), d("2024-09-03")],
    2025: [d("2025-09-01"), d("2025-09-02")],
    2026: [d("2026-09-01"), d("2026-09-02")],
}


def test_table_years_have_expected_status() -> None:
    assert [CAL.status(y) for y in (2024, 2025, 2026, 2027)] == ["confirmed", "confirmed", "confirmed", "unconfirmed"]


def test_year_without_table_is_unconfirmed() -> None:
    assert 2031 not in CAL.years
    assert CAL.status(2031) == "unconfirmed"


@pytest.mark.parametrize("year", sorted(TET_WEEKDAYS))
def test_tet_and_national_day_weekdays_the_table_relies_on_are_base_holidays(year: int) -> None:
    base = holidays.Vietnam(years=year)
    missing = [day for day in TET_WEEKDAYS[year] + NATIONAL_DAY_WEEKDAYS[year] if day not in base]
    assert missing == []
    assert CAL.status(year) in ("confirmed", "provisional")


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_make_up_days_include_every_base_substitution(year: int) -> None:
    # The table may know a swap the package does not yet (New Year 2026); it must not miss one the package has.
    base = holidays.Vietnam(years=year)
    base_make_up = {day for day in getattr(base, "weekend_workdays", ()) if day.year == year}
    assert base_make_up <= set(CAL.years[year].working_days)


def test_no_make_up_day_is_a_base_holiday() -> None:
    for year, table in CAL.years.items():
        base = holidays.Vietnam(years=year)
        assert [day for day in table.working_days if day in base] == []


def test_every_year_names_a_source() -> None:
    short = [year for year, table in CAL.years.items() if len(table.source) < 40]
    assert short == []


# -- Tết ---------------------------------------------------------------------------------------------------


def test_friday_before_tet_2025_next_working_day_is_3_february() -> None:
    assert CAL.add_working_days(d("2025-01-24"), 1) == d("2025-02-03")


def test_friday_before_tet_2026_next_working_day_is_23_february() -> None:
    assert CAL.add_working_days(d("2026-02-13"), 1) == d("2026-02-23")


def test_tet_2026_weekdays_are_not_working_days() -> None:
    span = [d("2026-02-14") + timedelta(days=i) for i in range(9)]  # 14/02–22/02/2026
    assert [CAL.is_working_day(day) for day in span] == [False] * 9
    assert CAL.is_working_day(d("2026-02-13")) and CAL.is_working_day(d("2026-02-23"))


def test_dossier_received_week_before_tet_2025_is_due_24_february() -> None:
    # Received Monday 20/01/2025; working days after it:
    #  1-4: 21, 22, 23, 24/01 (Tue–Fri); 25/01–02/02 off (weekend, Tết 27–31/01, weekend);
    #  5-9: 03–07/02; 10-14: 10–14/02; 15-19: 17–21/02; 20: Monday 24/02/2025.
    assert CAL.add_working_days(d("2025-01-20"), 20) == d("2025-02-24")
    assert CAL.working_days_between(d("2025-01-20"), d("2025-02-24")) == 20


def test_dossier_received_week_before_tet_2026_is_due_16_march() -> None:
    # Received Monday 09/02/2026; working days after it:
    #  1-4: 10, 11, 12, 13/02 (Tue–Fri); 14/02–22/02 off (nine-day Tết break, official days 16–20/02);
    #  5-9: 23–27/02; 10-14: 02–06/03; 15-19: 09–13/03; 20: Monday 16/03/2026.
    assert CAL.add_working_days(d("2026-02-09"), 20) == d("2026-03-16")
    assert CAL.working_days_between(d("2026-02-09"), d("2026-03-16")) == 20


# -- 30/4–1/5 ----------------------------------------------------------------------------------------------


def test_make_up_saturday_26_april_2025_is_worked_and_2_may_is_not() -> None:
    assert CAL.is_working_day(d("2025-04-26"))
    assert not CAL.is_working_day(d("2025-05-02"))
    assert CAL.add_working_days(d("2025-04-25"), 1) == d("2025-04-26")
    assert CAL.add_working_days(d("2025-04-29"), 1) == d("2025-05-05")  # 30/04, 01/05, 02/05, weekend off


def test_make_up_saturday_4_may_2024_is_worked_and_29_april_is_not() -> None:
    assert CAL.is_working_day(d("2024-05-04"))
    assert not CAL.is_working_day(d("2024-04-29"))
    assert CAL.add_working_days(d("2024-04-26"), 1) == d("2024-05-02")  # 27/04–01/05 off
    assert CAL.add_working_days(d("2024-05-03"), 1) == d("2024-05-04")
    assert CAL.add_working_days(d("2024-05-03"), 2) == d("2024-05-06")


def test_ordinary_saturday_is_not_worked() -> None:
    assert not CAL.is_working_day(d("2025-04-19"))
    assert CAL.non_working_reason(d("2025-04-19")) == "Saturday"
    assert CAL.non_working_reason(d("2025-04-20")) == "Sunday"


# -- National Day --------------------------------------------------------------------------------------------


def test_national_day_2025_first_and_second_september_are_off() -> None:
    assert not CAL.is_working_day(d("2025-09-01"))
    assert not CAL.is_working_day(d("2025-09-02"))
    assert CAL.add_working_days(d("2025-08-29"), 1) == d("2025-09-03")


def test_national_day_2026_make_up_22_august_worked_and_31_august_to_2_september_off() -> None:
    assert CAL.is_working_day(d("2026-08-22"))
    assert [CAL.is_working_day(d(x)) for x in ("2026-08-31", "2026-09-01", "2026-09-02")] == [False] * 3
    assert CAL.add_working_days(d("2026-08-21"), 1) == d("2026-08-22")
    assert CAL.add_working_days(d("2026-08-28"), 1) == d("2026-09-03")
    # (21/08, 04/09]: Saturday 22/08, 24–28/08, then 03/09 and 04/09 (31/08–02/09 off) = 1 + 5 + 2
    assert CAL.working_days_between(d("2026-08-21"), d("2026-09-04")) == 8


def test_2026_working_days_across_31_august_and_24_november() -> None:
    # 31/08/2026 (Monday) is off, made up on Saturday 22/08 (provisional: its document was not seen); 24/11/2026
    # (Tuesday, "Vietnam Cultural Day" in the holidays package) is worked: no amendment of BLLĐ Điều 112 is cited.
    assert holidays.Vietnam(years=2026).get(d("2026-11-24"))  # the package counts it; the table does not
    assert CAL.is_working_day(d("2026-11-24"))
    assert CAL.non_working_reason(d("2026-11-24")) is None
    assert "Điều 112" in (CAL.not_counted_reason(d("2026-11-24")) or "")
    assert d("2026-11-24") not in CAL.base_holidays(2026)
    assert CAL.add_working_days(d("2026-11-23"), 1) == d("2026-11-24")
    assert CAL.working_days_between(d("2026-11-20"), d("2026-11-27")) == 5  # 23–27/11, 24/11 included
    assert CAL.working_days_between(d("2026-08-28"), d("2026-09-04")) == 2  # 03/09, 04/09
    expected = 1 + 5 + 2 + 5 * 12  # 22/08, 24–28/08, 03–04/09, then 07/09–27/11 (12 full weeks)
    assert CAL.working_days_between(d("2026-08-21"), d("2026-11-27")) == expected
    assert CAL.add_working_days(d("2026-08-21"), expected) == d("2026-11-27")
    assert "2026 confirmed (provisional: 22/08, 31/08)" in CAL.describe_years(d("2026-08-21"), d("2026-11-27"))
    assert CAL.describe_years(d("2026-11-01"), d("2026-11-30")).endswith("2026 confirmed")


def test_2026_new_year_and_hung_kings() -> None:
    # 01/01–04/01/2026 off, 02/01 made up on Saturday 10/01 (12729/VPCP-KGVX of 25/12/2025); Giỗ Tổ on Sunday
    # 26/04, Monday 27/04 off (BLLĐ Điều 111 k3).
    assert [CAL.is_working_day(d(x)) for x in ("2026-01-01", "2026-01-02", "2026-01-05", "2026-01-10")] == [
        False,
        False,
        True,
        True,
    ]
    assert not CAL.is_working_day(d("2026-04-27"))
    assert CAL.add_working_days(d("2026-04-24"), 1) == d("2026-04-28")


def test_entry_confirmed_in_provisional_year_is_refused(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["years"][2026]["status"] = "provisional"
        doc["years"][2026]["days_off"][0]["status"] = "confirmed"

    with pytest.raises(ValueError, match=r"years\.2026\.days_off\[0\]\.status.*provisional year"):
        load_calendar(write_variant(tmp_path, change))


def test_base_not_counted_without_reason_is_refused(tmp_path: Path) -> None:
    path = write_variant(tmp_path, lambda doc: doc["base_not_counted"][0].pop("reason"))
    with pytest.raises(ValueError, match=r"base_not_counted\[0\]\.reason: missing"):
        load_calendar(path)


def test_removing_the_not_counted_entry_counts_24_november_again(tmp_path: Path) -> None:
    # What citing an enacted amendment would do: remove the entry; the package's day then counts.
    path = write_variant(tmp_path, lambda doc: doc.update(base_not_counted=[]))
    assert not load_calendar(path).is_working_day(d("2026-11-24"))


# -- counting rules ------------------------------------------------------------------------------------------


def test_start_day_itself_is_never_counted() -> None:
    assert CAL.add_working_days(d("2025-03-03"), 1) == d("2025-03-04")  # Monday -> Tuesday
    assert CAL.working_days_between(d("2025-03-03"), d("2025-03-03")) == 0


def test_start_on_non_working_day_counts_from_next_working_day() -> None:
    assert CAL.add_working_days(d("2025-01-29"), 1) == d("2025-02-03")  # from mùng 1 Tết 2025


@pytest.mark.parametrize("count", [0, -1])
def test_count_below_one_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        CAL.add_working_days(d("2025-03-03"), count)


def test_end_before_start_is_refused() -> None:
    with pytest.raises(ValueError, match="before start"):
        CAL.working_days_between(d("2025-03-03"), d("2025-03-02"))


def test_datetime_instead_of_date_is_refused() -> None:
    with pytest.raises(TypeError, match="local date"):
        CAL.is_working_day(datetime(2025, 3, 3, 9, 0))


def test_year_outside_base_range_is_refused() -> None:
    with pytest.raises(ValueError, match="2000–2100"):
        CAL.is_working_day(d("1999-06-01"))


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)),
    count=st.integers(min_value=1, max_value=60),
)
def test_working_days_between_inverts_add_working_days(start: date, count: int) -> None:
    end = CAL.add_working_days(start, count)
    assert CAL.working_days_between(start, end) == count
    assert CAL.is_working_day(end)
    assert CAL.working_days_between(start, end - timedelta(days=1)) == count - 1


# -- explanations ------------------------------------------------------------------------------------------


def test_span_into_2027_is_described_as_unconfirmed() -> None:
    text = CAL.describe_years(d("2026-12-15"), d("2027-01-20"))
    assert text == f"calendar {CAL.version}: 2026 confirmed, 2027 unconfirmed: Labour Code holidays only"


def test_span_over_2025_is_described_as_confirmed() -> None:
    text = CAL.describe_years(d("2025-01-20"), d("2025-02-24"))
    assert text == f"calendar {CAL.version}: 2025 confirmed"


def test_span_over_three_years_mentions_each_year() -> None:
    text = CAL.describe_years(d("2025-12-01"), d("2027-01-10"))
    assert "2025 confirmed" in text and "2026 confirmed (provisional: 22/08, 31/08)" in text
    assert "2027 unconfirmed" in text


def test_tet_day_reason_names_lunar_new_year() -> None:
    reason = CAL.non_working_reason(d("2025-01-29"))
    assert reason is not None and "Lunar New Year" in reason


def test_swapped_day_off_reason_comes_from_table() -> None:
    reason = CAL.non_working_reason(d("2025-05-02"))
    assert reason is not None and reason.startswith("Day off: ") and "26/04/2025" in reason


def test_make_up_saturday_has_no_non_working_reason() -> None:
    assert CAL.non_working_reason(d("2026-08-22")) is None
    assert CAL.non_working_reason(d("2026-08-24")) is None

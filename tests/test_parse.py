"""Text to typed values: every timestamp notation the exports use, numbers and yes/no."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from etl.parse import parse_bool, parse_int, parse_timestamp


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    "text,zone,expected",
    [
        (
            "2011-10-11 13:45:40.276000+02:00",
            "Europe/Amsterdam",
            _utc(2011, 10, 11, 11, 45, 40, 276000),
        ),
        ("2011-11-24T15:36:51Z", "Asia/Shanghai", _utc(2011, 11, 24, 15, 36, 51)),
        ("2024-01-05T08:00:00+0800", "Europe/Amsterdam", _utc(2024, 1, 5, 0, 0)),
        ("2025-03-05T09:30:00.123456789+08:00", "UTC", _utc(2025, 3, 5, 1, 30, 0, 123456)),
        ("2025-03-05 09:30:15", "Asia/Shanghai", _utc(2025, 3, 5, 1, 30, 15)),
        ("2025/3/5 9:05", "Asia/Shanghai", _utc(2025, 3, 5, 1, 5)),
        ("2025/03/05 10:00:07", "Asia/Shanghai", _utc(2025, 3, 5, 2, 0, 7)),
        ("2025年3月5日 09:30", "Asia/Shanghai", _utc(2025, 3, 5, 1, 30)),
        ("2025-10-01", "Asia/Shanghai", _utc(2025, 9, 30, 16, 0)),
        ("2025-03-05 09:30+08", "UTC", _utc(2025, 3, 5, 1, 30)),
        ("2025-03-05 09:30:00z", "Asia/Shanghai", _utc(2025, 3, 5, 9, 30)),
        # Excel serial day 45721.5 = 2025-03-05 12:00 local
        ("45721.5", "Asia/Shanghai", _utc(2025, 3, 5, 4, 0)),
        # local time in summer (+02:00) and winter (+01:00) in the profile's zone
        ("2011-07-01 12:00", "Europe/Amsterdam", _utc(2011, 7, 1, 10, 0)),
        ("2011-12-01 12:00", "Europe/Amsterdam", _utc(2011, 12, 1, 11, 0)),
    ],
)
def test_timestamps(text: str, zone: str, expected: datetime) -> None:
    values, ok = parse_timestamp(pl.Series([text]), zone)
    assert ok.to_list() == [True]
    assert values.to_list()[0] == expected


@pytest.mark.parametrize(
    "text,zone",
    [
        ("yesterday", "UTC"),
        ("2025-02-30 10:00", "UTC"),
        ("2025-01-01 24:00", "UTC"),
        ("2025-13-01", "UTC"),
        ("2025-03-30 02:30", "Europe/Amsterdam"),  # in the daylight saving gap
        ("2025", "UTC"),  # a year is no Excel serial day
        ("2025-03-05 10:00:60", "UTC"),
        ("2025-03-05 10:00+99:99", "UTC"),
    ],
)
def test_unparseable_timestamps_are_flagged(text: str, zone: str) -> None:
    values, ok = parse_timestamp(pl.Series([text]), zone)
    assert (values.to_list(), ok.to_list()) == ([None], [False])


def test_missing_timestamps_are_not_errors() -> None:
    values, ok = parse_timestamp(pl.Series([None], dtype=pl.String), "UTC")
    assert (values.to_list(), ok.to_list()) == ([None], [True])


def _eval(parser: object, texts: list[str | None]) -> tuple[list[object], list[bool]]:
    value, ok = parser(pl.col("t"))  # type: ignore[operator]
    frame = pl.DataFrame({"t": texts}, schema={"t": pl.String}).select(
        value.alias("v"), ok.alias("ok")
    )
    return frame["v"].to_list(), frame["ok"].to_list()


def test_whole_numbers() -> None:
    assert _eval(parse_int, ["3", "3.0", "2.5", "two", None, "110101199001011234"]) == (
        [3, 3, None, None, None, None],
        [True, True, False, False, True, False],  # too large for a count: an error, not null
    )


def test_yes_no() -> None:
    assert _eval(parse_bool, ["是", "否", "TRUE", "0", "maybe", None]) == (
        [True, False, True, False, None, None],
        [True, True, True, True, False, True],
    )

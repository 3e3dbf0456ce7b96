"""Text to typed values: every timestamp notation the exports use, numbers and yes/no."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
import pytest

from etl.parse import _general, parse_bool, parse_int, parse_timestamp


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


def test_canonical_and_other_notations_in_one_column() -> None:
    """One export mixing notations: each value is read by its own path, in place."""
    texts = [
        "2025-03-05 09:30:15",
        "2025/3/5 9:05",
        None,
        "2025-03-05T09:30:15.5+08:00",
        "2025-02-30 10:00:00",
        "45721.5",
        "2025-03-05 09:30:15Z",
    ]
    values, ok = parse_timestamp(pl.Series(texts, dtype=pl.String), "Asia/Shanghai")
    assert values.to_list() == [
        _utc(2025, 3, 5, 1, 30, 15),
        _utc(2025, 3, 5, 1, 5),
        None,
        _utc(2025, 3, 5, 1, 30, 15, 500000),
        None,
        _utc(2025, 3, 5, 4, 0),
        _utc(2025, 3, 5, 9, 30, 15),
    ]
    assert ok.to_list() == [True, True, True, True, False, True, True]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Amsterdam"])
def test_the_canonical_path_reads_as_the_general_one(zone: str) -> None:
    """Canonical ISO texts skip the general regular expression (for speed): on texts near and
    beyond every edge (single digits, 24:00, :60, offsets past ±14, 7 fraction digits, the
    daylight saving gap and overlap), both paths give the same instant or the same refusal."""
    rng = random.Random(7)
    texts = ["2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-10-27 02:30:00+01:00"]
    for _ in range(20_000):
        parts = [rng.choice(r) for r in _EDGES]
        texts.append("{}-{}-{}{}{}:{}:{}{}{}".format(*parts))
    column = pl.Series(texts)
    values, _ = parse_timestamp(column, zone)
    general = _general(column, zone)
    assert values.is_not_null().sum() > 1_000  # most are readable...
    assert values.is_null().sum() > 1_000  # ...and many are not
    assert values.to_list() == general.to_list()


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Amsterdam"])
def test_a_column_of_plain_local_times_reads_as_the_general_path(zone: str) -> None:
    """A column whose texts are all 19 bytes long (no fraction, no offset) is read by the
    shortest path: the same instant or the same refusal as the general path, edges included
    (month 13, day 31 of a 30-day month, 24:00, :60, the daylight saving gap and overlap,
    other notations of the same length)."""
    rng = random.Random(11)
    texts = ["2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024/03/31 02:30:00", None]
    for _ in range(20_000):
        parts = [rng.choice(r) for r in _FIXED_WIDTH]
        texts.append("{}-{}-{}{}{}:{}:{}".format(*parts))
    column = pl.Series(texts, dtype=pl.String)
    assert column.str.len_bytes().drop_nulls().unique().to_list() == [19]
    values, ok = parse_timestamp(column, zone)
    assert values.is_not_null().sum() > 1_000
    assert values.is_null().sum() > 1_000
    assert values.to_list() == _general(column, zone).to_list()
    assert ok.to_list() == (column.is_null() | values.is_not_null()).to_list()


_FIXED_WIDTH = [
    ["1969", "2024", "2025"],
    ["02", "03", "10", "13", "00"],
    ["05", "29", "30", "31", "00"],
    [" ", "T", "t"],
    ["00", "02", "09", "23", "24"],
    ["00", "30", "59", "60"],
    ["00", "59", "60"],
]


_EDGES = [
    ["1969", "2024", "2025"],
    ["02", "2", "10", "13", "00"],
    ["05", "5", "29", "30", "31", "00"],
    [" ", "T", "  ", "t"],
    ["00", "09", "9", "23", "24"],
    ["00", "59", "60"],
    ["00", "59", "60"],
    ["", ".5", ".123456", ".1234567", ".", ",5"],
    ["", "Z", "z", "+08:00", "-05:30", "+14:59", "+15:00", "+0800", "+08", "-00:00", "+01:60"],
]


def test_a_column_that_repeats_is_read_once_per_text_with_the_same_result() -> None:
    """A flat log repeats its case attributes on every event: read per distinct text, each
    row still gets its own text's instant, refusal or null."""
    texts = [
        "2011-12-06 13:41:31.788000+01:00",
        "2025/3/5 9:05",
        None,
        "2025-02-30 10:00:00",
        "2025-03-05 09:30:15",
    ]
    column = pl.Series([texts[i % 5] for i in range(5_000)], dtype=pl.String)
    values, ok = parse_timestamp(column, "Asia/Shanghai")
    one = {t: parse_timestamp(pl.Series([t], dtype=pl.String), "Asia/Shanghai") for t in texts}
    assert values.to_list() == [one[t][0][0] for t in column]
    assert ok.to_list() == [one[t][1][0] for t in column]

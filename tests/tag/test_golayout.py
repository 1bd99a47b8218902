"""Go time layouts against Go's own documented results.

Expected values come from Go's src/time/format.go (the layout constants, each of which
formats the reference time ``Mon Jan 2 15:04:05 MST 2006`` as itself) and
src/time/example_test.go (ExampleTime_Format, ExampleTime_Format_pad,
ExampleTime_Truncate; Go runs its examples with Local = America/Los_Angeles), and from
Skaffold's date_time_test.go for the dateTime default layout.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from hoist.tag.golayout import go_format

MST = timezone(timedelta(hours=-7), "MST")
REFERENCE = datetime(2006, 1, 2, 15, 4, 5, tzinfo=MST)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        pytest.skip(reason=f"time zone {name} missing: the tz database (Debian package "
                           "tzdata) is not installed")


# Go's layout constants (format.go) applied to the reference time.
@pytest.mark.parametrize(("layout", "expected"), [
    ("01/02 03:04:05PM '06 -0700", "01/02 03:04:05PM '06 -0700"),  # Layout
    ("Mon Jan _2 15:04:05 2006", "Mon Jan  2 15:04:05 2006"),  # ANSIC
    ("Mon Jan _2 15:04:05 MST 2006", "Mon Jan  2 15:04:05 MST 2006"),  # UnixDate
    ("Mon Jan 02 15:04:05 -0700 2006", "Mon Jan 02 15:04:05 -0700 2006"),  # RubyDate
    ("02 Jan 06 15:04 MST", "02 Jan 06 15:04 MST"),  # RFC822
    ("02 Jan 06 15:04 -0700", "02 Jan 06 15:04 -0700"),  # RFC822Z
    ("Monday, 02-Jan-06 15:04:05 MST", "Monday, 02-Jan-06 15:04:05 MST"),  # RFC850
    ("Mon, 02 Jan 2006 15:04:05 MST", "Mon, 02 Jan 2006 15:04:05 MST"),  # RFC1123
    ("Mon, 02 Jan 2006 15:04:05 -0700", "Mon, 02 Jan 2006 15:04:05 -0700"),  # RFC1123Z
    ("2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05-07:00"),  # RFC3339
    ("2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05-07:00"),  # RFC3339Nano
    ("3:04PM", "3:04PM"),  # Kitchen
    ("Jan _2 15:04:05", "Jan  2 15:04:05"),  # Stamp
    ("Jan _2 15:04:05.000", "Jan  2 15:04:05.000"),  # StampMilli
    ("Jan _2 15:04:05.000000", "Jan  2 15:04:05.000000"),  # StampMicro
    ("2006-01-02 15:04:05", "2006-01-02 15:04:05"),  # DateTime
    ("2006-01-02", "2006-01-02"),  # DateOnly
    ("15:04:05", "15:04:05"),  # TimeOnly
    ("January Monday 002 __2 pm -07 -07:00:00 -070000 Z0700",
     "January Monday 002   2 pm -07 -07:00:00 -070000 -0700"),
])
def test_layout_constants_format_the_reference_time_as_themselves(layout: str,
                                                                  expected: str) -> None:
    assert go_format(REFERENCE, layout) == expected


def test_example_time_format() -> None:
    la = zone("America/Los_Angeles")
    t = datetime(2015, 2, 25, 11, 6, 39, tzinfo=la)
    assert go_format(t, "2006-01-02 15:04:05.999999999 -0700 MST") == \
        "2015-02-25 11:06:39 -0800 PST"  # time.Time.String, "default format"
    assert go_format(t, "Mon Jan _2 15:04:05 MST 2006") == "Wed Feb 25 11:06:39 PST 2015"
    assert go_format(t.astimezone(UTC), "Mon Jan _2 15:04:05 MST 2006") == \
        "Wed Feb 25 19:06:39 UTC 2015"
    shanghai = t.astimezone(zone("Asia/Shanghai"))
    assert go_format(shanghai, "2006-01-02T15:04:05 -070000") == "2015-02-26T03:06:39 +080000"
    assert go_format(shanghai, "2006-01-02T15:04:05 -07:00:00") == \
        "2015-02-26T03:06:39 +08:00:00"
    assert go_format(t, "Mon Jan 2 15:04:05 MST 2006") == "Wed Feb 25 11:06:39 PST 2015"
    assert go_format(t, "2006/01/02") == "2015/02/25"
    assert go_format(t, "3PM==3pm==15h") == "11AM==11am==11h"
    frac = t.replace(microsecond=123400)
    assert go_format(frac, "Mon Jan _2 15:04:05 MST 2006") == "Wed Feb 25 11:06:39 PST 2015"
    assert go_format(frac, "15:04:05.00000") == "11:06:39.12340"
    assert go_format(frac, "15:04:05.99999999") == "11:06:39.1234"


def test_example_time_format_pad() -> None:
    t = datetime(2015, 3, 7, 11, 6, 39, tzinfo=zone("America/Los_Angeles"))
    assert go_format(t, "Mon Jan _2 15:04:05 MST 2006") == "Sat Mar  7 11:06:39 PST 2015"
    assert go_format(t, "<2>") == "<7>"
    assert go_format(t, "<_2>") == "< 7>"
    assert go_format(t, "<02>") == "<07>"
    assert go_format(t, "04:05") == "06:39"


@pytest.mark.parametrize(("micro", "expected"), [
    # ExampleTime_Truncate at the resolutions a Python datetime holds.
    (918273, "12:15:30.918273"),
    (918000, "12:15:30.918"),
    (0, "12:15:30"),
])
def test_example_time_truncate(micro: int, expected: str) -> None:
    t = datetime(2012, 12, 7, 12, 15, 30, micro, tzinfo=UTC)
    assert go_format(t, "15:04:05.999999999") == expected


DEFAULT = "2006-01-02_15-04-05.999_MST"  # Skaffold's dateTime default (date_time.go)


@pytest.mark.parametrize(("micro", "expected"), [
    (123456, "1970-01-01_00-20-34.123_UTC"),  # date_time_test.go: time.Unix(1234, 123456789)
    (120000, "1970-01-01_00-20-34.12_UTC"),   # .999 drops trailing zeros
    (100000, "1970-01-01_00-20-34.1_UTC"),
    (500, "1970-01-01_00-20-34_UTC"),         # under a millisecond: no fraction, no dot
    (0, "1970-01-01_00-20-34_UTC"),
])
def test_skaffold_default_layout(micro: int, expected: str) -> None:
    t = datetime(1970, 1, 1, 0, 20, 34, micro, tzinfo=UTC)
    assert go_format(t, DEFAULT) == expected


def test_default_layout_in_a_named_zone() -> None:
    # date_time_test.go "default formatter": 2015-03-07 11:06:39.123456789, local zone.
    t = datetime(2015, 3, 7, 11, 6, 39, 123456, tzinfo=zone("Europe/Berlin"))
    assert go_format(t, DEFAULT) == "2015-03-07_11-06-39.123_CET"
    assert go_format(t.replace(month=7), DEFAULT) == "2015-07-07_11-06-39.123_CEST"


@pytest.mark.parametrize(("layout", "expected"), [
    ("Janet", "Janet"),          # "Jan" followed by a lower-case letter is text
    ("Month", "Month"),          # so is "Mon"
    ("Jan_", "Mar_"),
    ("Monday/Mon", "Saturday/Sat"),
    ("_2006", "_2015"),          # an underscore, then the year
    ("__2 002", " 66 066"),      # day of the year, space- and zero-padded
    ("05,000", "39,123"),        # comma as the fraction separator
    ("05.0001", "39.0003"),      # a run of 0s followed by a digit is no fraction
    ("1 01 3 03 4 04 5 05 06", "3 03 11 11 6 06 39 39 15"),
    ("Z07:00 Z07 -07:00 -07", "Z Z +00:00 +00"),  # at UTC the Z forms print Z
    ("PM pm", "AM am"),
])
def test_element_recognition(layout: str, expected: str) -> None:
    t = datetime(2015, 3, 7, 11, 6, 39, 123456, tzinfo=UTC)
    assert go_format(t, layout) == expected


def test_zone_without_abbreviation_prints_the_offset() -> None:
    # Go prints -0700 for MST when the zone has no name; a naive datetime has none.
    assert go_format(datetime(2015, 3, 7, 11, 6, 39), "MST -07:00") == "+0000 +00:00"
    minus = timezone(-timedelta(hours=3, minutes=30), "")
    assert go_format(datetime(2015, 3, 7, tzinfo=minus), "MST Z07:00") == "-0330 -03:30"


def test_pm_and_midnight_hours() -> None:
    assert go_format(datetime(2015, 3, 7, 0, 5, tzinfo=UTC), "3:04 03 PM") == "12:05 12 AM"
    assert go_format(datetime(2015, 3, 7, 12, 5, tzinfo=UTC), "3:04 03 PM") == "12:05 12 PM"
    assert go_format(datetime(2015, 3, 7, 23, 5, tzinfo=UTC), "3:04 03 pm") == "11:05 11 pm"

"""Go's ``time.Time.Format``: format a datetime by a reference-time layout.

A layout spells the reference time ``Mon Jan 2 15:04:05 MST 2006`` the way the result
should look; each recognised element is replaced by the same element of the time, every
other character is copied. The element table and its precedence follow Go's
``nextStdChunk`` (src/time/format.go): for instance ``Jan`` is a month only when no
lower-case letter follows (``Janet`` stays text), ``_2006`` is a literal ``_`` and a year,
and a run of ``0`` or ``9`` after ``.`` or ``,`` is a fractional second only when no
other digit follows.

Python datetimes carry microseconds; nanosecond digits past the sixth are therefore 0.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum, auto

LONG_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")
LONG_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


class _Std(Enum):
    LONG_MONTH = auto()      # January
    MONTH = auto()           # Jan
    NUM_MONTH = auto()       # 1
    ZERO_MONTH = auto()      # 01
    LONG_WEEKDAY = auto()    # Monday
    WEEKDAY = auto()         # Mon
    DAY = auto()             # 2
    UNDER_DAY = auto()       # _2
    ZERO_DAY = auto()        # 02
    UNDER_YEAR_DAY = auto()  # __2
    ZERO_YEAR_DAY = auto()   # 002
    HOUR = auto()            # 15
    HOUR12 = auto()          # 3
    ZERO_HOUR12 = auto()     # 03
    MINUTE = auto()          # 4
    ZERO_MINUTE = auto()     # 04
    SECOND = auto()          # 5
    ZERO_SECOND = auto()     # 05
    LONG_YEAR = auto()       # 2006
    YEAR = auto()            # 06
    PM = auto()              # PM
    PM_LOWER = auto()        # pm
    TZ = auto()              # MST
    ISO_TZ = auto()                # Z0700
    ISO_SECONDS_TZ = auto()        # Z070000
    ISO_SHORT_TZ = auto()          # Z07
    ISO_COLON_TZ = auto()          # Z07:00
    ISO_COLON_SECONDS_TZ = auto()  # Z07:00:00
    NUM_TZ = auto()                # -0700
    NUM_SECONDS_TZ = auto()        # -070000
    NUM_SHORT_TZ = auto()          # -07
    NUM_COLON_TZ = auto()          # -07:00
    NUM_COLON_SECONDS_TZ = auto()  # -07:00:00
    FRAC0 = auto()           # .000 / ,000: fixed width
    FRAC9 = auto()           # .999 / ,999: trailing zeros dropped


# The ``0x`` elements, indexed by the digit after the 0 (nextStdChunk's std0x).
_ZERO_X = {"1": _Std.ZERO_MONTH, "2": _Std.ZERO_DAY, "3": _Std.ZERO_HOUR12,
           "4": _Std.ZERO_MINUTE, "5": _Std.ZERO_SECOND, "6": _Std.YEAR}
# Zone offsets, longest spelling first within each family (the order Go tries them).
_NUM_TZ = (("-070000", _Std.NUM_SECONDS_TZ), ("-07:00:00", _Std.NUM_COLON_SECONDS_TZ),
           ("-0700", _Std.NUM_TZ), ("-07:00", _Std.NUM_COLON_TZ), ("-07", _Std.NUM_SHORT_TZ))
_ISO_TZ = (("Z070000", _Std.ISO_SECONDS_TZ), ("Z07:00:00", _Std.ISO_COLON_SECONDS_TZ),
           ("Z0700", _Std.ISO_TZ), ("Z07:00", _Std.ISO_COLON_TZ), ("Z07", _Std.ISO_SHORT_TZ))
_SINGLE = {"3": _Std.HOUR12, "4": _Std.MINUTE, "5": _Std.SECOND}


def _lower_follows(layout: str, i: int) -> bool:
    return i < len(layout) and "a" <= layout[i] <= "z"


def _element_at(layout: str, i: int) -> tuple[_Std, int, int] | None:
    """The element starting at ``layout[i]``: (kind, length, fraction digits), or None."""
    c = layout[i]
    rest = layout[i:]
    if c == "J" and rest.startswith("Jan"):
        if rest.startswith("January"):
            return _Std.LONG_MONTH, 7, 0
        if not _lower_follows(layout, i + 3):
            return _Std.MONTH, 3, 0
    elif c == "M" and len(rest) >= 3:
        if rest.startswith("Mon"):
            if rest.startswith("Monday"):
                return _Std.LONG_WEEKDAY, 6, 0
            if not _lower_follows(layout, i + 3):
                return _Std.WEEKDAY, 3, 0
        if rest.startswith("MST"):
            return _Std.TZ, 3, 0
    elif c == "0":
        if len(rest) >= 2 and rest[1] in _ZERO_X:
            return _ZERO_X[rest[1]], 2, 0
        if rest.startswith("002"):
            return _Std.ZERO_YEAR_DAY, 3, 0
    elif c == "1":
        if rest.startswith("15"):
            return _Std.HOUR, 2, 0
        return _Std.NUM_MONTH, 1, 0
    elif c == "2":
        if rest.startswith("2006"):
            return _Std.LONG_YEAR, 4, 0
        return _Std.DAY, 1, 0
    elif c == "_":
        if rest.startswith("_2"):
            # "_2006" is a literal underscore followed by a year: handled by the caller
            # seeing "_" as text when "2006" follows.
            if rest.startswith("_2006"):
                return None
            return _Std.UNDER_DAY, 2, 0
        if rest.startswith("__2"):
            return _Std.UNDER_YEAR_DAY, 3, 0
    elif c in _SINGLE:
        return _SINGLE[c], 1, 0
    elif c == "P":
        if rest.startswith("PM"):
            return _Std.PM, 2, 0
    elif c == "p":
        if rest.startswith("pm"):
            return _Std.PM_LOWER, 2, 0
    elif c == "-":
        for text, std in _NUM_TZ:
            if rest.startswith(text):
                return std, len(text), 0
    elif c == "Z":
        for text, std in _ISO_TZ:
            if rest.startswith(text):
                return std, len(text), 0
    elif c in ".," and len(rest) >= 2 and rest[1] in "09":
        digit = rest[1]
        j = 1
        while j < len(rest) and rest[j] == digit:
            j += 1
        # A fraction only when the run of digits ends the number.
        if not (j < len(rest) and rest[j].isdigit() and rest[j].isascii()):
            return (_Std.FRAC0 if digit == "0" else _Std.FRAC9), j, j - 1
    return None


def _pad(n: int, width: int, fill: str = "0") -> str:
    return str(n).rjust(width, fill)


def _zone(dt: datetime, std: _Std) -> str:
    offset_td = dt.utcoffset()
    offset = int(offset_td.total_seconds()) if offset_td is not None else 0
    iso = std in (_Std.ISO_TZ, _Std.ISO_SECONDS_TZ, _Std.ISO_SHORT_TZ, _Std.ISO_COLON_TZ,
                  _Std.ISO_COLON_SECONDS_TZ)
    if iso and offset == 0:
        return "Z"
    # Go divides with truncation toward zero, then takes the sign from the minutes.
    minutes = int(offset / 60)
    sign = "-" if minutes < 0 else "+"
    abs_minutes = abs(minutes)
    abs_offset = -offset if minutes < 0 else offset
    colon = std in (_Std.ISO_COLON_TZ, _Std.NUM_COLON_TZ, _Std.ISO_COLON_SECONDS_TZ,
                    _Std.NUM_COLON_SECONDS_TZ)
    out = sign + _pad(abs_minutes // 60, 2)
    if colon:
        out += ":"
    if std not in (_Std.NUM_SHORT_TZ, _Std.ISO_SHORT_TZ):
        out += _pad(abs_minutes % 60, 2)
    if std in (_Std.ISO_SECONDS_TZ, _Std.NUM_SECONDS_TZ, _Std.ISO_COLON_SECONDS_TZ,
               _Std.NUM_COLON_SECONDS_TZ):
        if colon:
            out += ":"
        out += _pad(abs_offset % 60, 2)
    return out


def _zone_name(dt: datetime) -> str:
    name = dt.tzname() or ""
    if name:
        return name
    # No abbreviation known: Go prints the offset as -0700.
    return _zone(dt, _Std.NUM_TZ)


def _fraction(dt: datetime, std: _Std, digits: int, separator: str) -> str:
    nanos = dt.microsecond * 1000
    if std is _Std.FRAC9 and nanos == 0:
        return ""
    text = _pad(nanos, 9)[:digits]
    if std is _Std.FRAC9:
        text = text.rstrip("0")
        if not text:
            return ""
    return separator + text


def _hour12(dt: datetime) -> int:
    return dt.hour % 12 or 12


_SIMPLE: dict[_Std, Callable[[datetime], str]] = {
    _Std.LONG_MONTH: lambda d: LONG_MONTHS[d.month - 1],
    _Std.MONTH: lambda d: LONG_MONTHS[d.month - 1][:3],
    _Std.NUM_MONTH: lambda d: str(d.month),
    _Std.ZERO_MONTH: lambda d: _pad(d.month, 2),
    _Std.LONG_WEEKDAY: lambda d: LONG_DAYS[d.isoweekday() % 7],
    _Std.WEEKDAY: lambda d: LONG_DAYS[d.isoweekday() % 7][:3],
    _Std.DAY: lambda d: str(d.day),
    _Std.UNDER_DAY: lambda d: _pad(d.day, 2, " "),
    _Std.ZERO_DAY: lambda d: _pad(d.day, 2),
    _Std.UNDER_YEAR_DAY: lambda d: _pad(d.timetuple().tm_yday, 3, " "),
    _Std.ZERO_YEAR_DAY: lambda d: _pad(d.timetuple().tm_yday, 3),
    _Std.HOUR: lambda d: _pad(d.hour, 2),
    _Std.HOUR12: lambda d: str(_hour12(d)),
    _Std.ZERO_HOUR12: lambda d: _pad(_hour12(d), 2),
    _Std.MINUTE: lambda d: str(d.minute),
    _Std.ZERO_MINUTE: lambda d: _pad(d.minute, 2),
    _Std.SECOND: lambda d: str(d.second),
    _Std.ZERO_SECOND: lambda d: _pad(d.second, 2),
    _Std.LONG_YEAR: lambda d: _pad(d.year, 4),
    _Std.YEAR: lambda d: _pad(d.year % 100, 2),
    _Std.PM: lambda d: "PM" if d.hour >= 12 else "AM",
    _Std.PM_LOWER: lambda d: "pm" if d.hour >= 12 else "am",
    _Std.TZ: _zone_name,
}


def go_format(dt: datetime, layout: str) -> str:
    """``dt.Format(layout)`` as Go computes it. A naive ``dt`` has no zone: offset 0 and,
    for ``MST``, the offset spelled ``+0000``."""
    out: list[str] = []
    i = 0
    while i < len(layout):
        found = _element_at(layout, i)
        if found is None:
            out.append(layout[i])
            i += 1
            continue
        std, length, digits = found
        if std in (_Std.FRAC0, _Std.FRAC9):
            out.append(_fraction(dt, std, digits, layout[i]))
        elif std in _SIMPLE:
            out.append(_SIMPLE[std](dt))
        else:
            out.append(_zone(dt, std))
        i += length
    return "".join(out)

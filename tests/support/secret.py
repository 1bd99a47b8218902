"""Test passwords that do not show themselves in reprs.

pytest prints ``repr()`` of values in assertion messages and of function arguments in
long tracebacks, so a password in a plain ``str`` ends up in the failure output of any
test whose helper call fails. A :class:`Secret` behaves as the ``str`` it is everywhere
(auth headers, auth files, htpasswd input) but reprs as ``'<redacted>'``, also inside
tuples and dicts such as ``Distribution.users``.

It cannot hide from pytest's *string diff*: ``assert password == x`` or
``assert password not in text`` still print the value when they fail. Compare secrets
into a bool first (``leaked = password in text; assert not leaked, "…"``).
"""

from __future__ import annotations

import secrets


class Secret(str):
    __slots__ = ()

    def __repr__(self) -> str:
        return "'<redacted>'"


def new_password() -> Secret:
    return Secret(secrets.token_urlsafe(18))

"""Reading settings from environment variables: one rule for every entry point (the app, the leaderboard, the worker).

A variable that is unset or blank gives the default; anything else must parse, or ``ValueError`` names the variable
and says what it must be. Numbers must be finite (``inf`` and ``nan`` are refused), whole where asked, and at least
the minimum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def env_text(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """The stripped value of ``name``, or ``default`` when it is unset or blank."""
    return env.get(name, "").strip() or default


def env_number(
    env: Mapping[str, str], name: str, default: float, *, minimum: float, whole: bool = False, above: bool = False
) -> float:
    """A finite number from ``name`` (``default`` when unset): at least ``minimum`` (greater than it with
    ``above``), and a whole number with ``whole`` (``"5"`` and ``"5.0"`` both give 5)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {raw!r}")
    if whole and not value.is_integer():
        raise ValueError(f"{name} must be a whole number, got {raw!r}")
    if value < minimum or (above and value == minimum):
        bound = f"greater than {minimum:g}" if above else f"at least {minimum:g}"
        raise ValueError(f"{name} must be {bound}, got {raw!r}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    """A whole number from ``name`` (``default`` when unset), at least ``minimum``."""
    return int(env_number(env, name, default, minimum=minimum, whole=True))

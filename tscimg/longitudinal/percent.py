"""Percent changes as the report shows them: cut towards zero, never rounded across a threshold.

The response rules compare exact changes with whole-number thresholds (-30% from baseline,
+25% from the nadir). A change rounded to the nearest shown digit can land on the threshold
from the wrong side: -29.996% (no response) rounded to two decimals is -30.00, the figure a
reader re-applying the rule would call a response. Cut towards zero instead, a shown change
reaches a threshold exactly when the change does (the thresholds lie on the shown grid), and
a shown change never overstates the measured one. The cut first moves the value away from zero
by :data:`THRESHOLD_TOLERANCE_PCT`, the tolerance the rules themselves allow for floating-point
rounding: an exact 30% reduction stored as -29.999999999999996 is a response and shows as -30.0.

Examples
--------
>>> shown_pct(-29.996, 2), shown_pct(-29.999999999999996, 1), shown_pct(24.996, 1)
(-29.99, -30.0, 24.9)
>>> signed_pct(-29.996), signed_pct(-0.04), signed_pct(12.38)
('-29.9%', '0.0%', '+12.3%')
"""

from __future__ import annotations

import math

#: Percentages within this of a threshold count as reaching it (floating-point rounding).
THRESHOLD_TOLERANCE_PCT = 1e-9


def shown_pct(value: float, digits: int) -> float:
    """``value`` (percent) cut towards zero to ``digits`` decimals (see the module docstring);
    a result of zero is +0.0 (a "-0.0" reads as a loss)."""
    scale = 10.0**digits
    nudged = value * scale + math.copysign(THRESHOLD_TOLERANCE_PCT * scale, value)
    return math.trunc(nudged) / scale + 0.0


def signed_pct(value: float, digits: int = 1) -> str:
    """``value`` as the report writes a change: signed, cut towards zero, a zero unsigned."""
    shown = shown_pct(value, digits)
    return f"{shown:.{digits}f}%" if shown == 0 else f"{shown:+.{digits}f}%"

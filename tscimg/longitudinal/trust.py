"""The trust gate (DESIGN.md section 5): when a lesion's measurement needs a reader's check.

A measurement flagged for review is shown, with its reasons, but never turned into a response
status: while any target lesion's latest measurement is flagged, the status is
``not_evaluable`` and the report says what to do. This module holds the thresholds and the
checks of a follow-up against the visit it was carried from and against the registration's
own estimate of the change.

Examples
--------
>>> check = TrustParameters()
>>> change_review(8.0, 10.0, 0.79, "2024-01-10", check, carried=True)
([], [])
>>> review, _ = change_review(25.0, 10.0, 1.05, "2024-01-10", check, carried=True)
>>> [r.split(":")[0] for r in review]
['the carried lesion changed 2.50-fold since 2024-01-10', 'the two change estimates disagree']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: What the reader is asked to do when a visit is flagged.
REVIEW_ACTION = (
    "check the flagged mask; if it is wrong, give this visit its own prompt (point_lps, "
    "box_lps) or a corrected mask in the manifest (an empty mask records a lesion that has "
    "gone) and run track again"
)


def review_action(dates: Sequence[str]) -> str:
    """:data:`REVIEW_ACTION` naming the visits to check (ISO dates): the flagged visit may be
    an earlier one than the latest, or one that was not measured at all.

    >>> review_action(["2024-09-02"]).split(";")[0]
    'check the visit of 2024-09-02 (its flagged mask, or why it was not measured)'
    """
    if not dates:
        return REVIEW_ACTION
    which = "visit of " + dates[0] if len(dates) == 1 else "visits of " + ", ".join(dates)
    return (
        f"check the {which} (its flagged mask, or why it was not measured); give that visit "
        "its own prompt (point_lps, box_lps) or a corrected mask in the manifest (an empty mask "
        "records a lesion that has gone) and run track again"
    )


@dataclass(frozen=True)
class TrustParameters:
    """Thresholds of the trust gate (DESIGN.md section 5).

    Parameters
    ----------
    max_fold_change
        A carried lesion whose volume grew more than this factor since the visit it was carried
        from is flagged.
    min_fraction
        A carried lesion that shrank below this fraction of that volume is flagged.
    max_disagreement_pct
        A carried or prompted lesion whose change since that visit differs from the
        registration-based change by more than this many percentage points is flagged (for a
        mask the reader gave, a warning).
    """

    max_fold_change: float = 2.0
    min_fraction: float = 1.0 / 3.0
    max_disagreement_pct: float = 10.0


def change_review(
    volume_ml: float,
    reference_volume_ml: float,
    registration_ratio: float | None,
    reference_date: str,
    parameters: TrustParameters,
    carried: bool,
    outlined: bool = False,
) -> tuple[list[str], list[str]]:
    """Check a follow-up's volume against its reference visit and the registration estimate.

    Parameters
    ----------
    volume_ml
        The follow-up's segmented volume, mL.
    reference_volume_ml
        The reference visit's volume, mL.
    registration_ratio
        Follow-up / reference volume from the registration (``None``: not available).
    reference_date
        The reference visit (for the messages).
    parameters
        Thresholds.
    carried
        Whether the follow-up was carried (no prompt of its own): only then is a change beyond
        ``max_fold_change`` or below ``min_fraction`` a review reason (a lesion the reader
        prompted may truly have grown that much).
    outlined
        Whether the reader outlined the follow-up (a mask of their own): then a disagreement
        with the registration is a warning, the reader's outline standing. A visit the reader
        only prompted is flagged like a carried one: nobody has looked at the mask a click
        gave (a click beside a lesion, in its halo, read +2,706% while the registration read
        -35.0%). Before, a prompted visit's disagreement was a warning too (``carried=False``).

    Returns
    -------
    (review, warnings)
        Reasons to flag the measurement, and notes that do not flag it.
    """
    review: list[str] = []
    warnings: list[str] = []
    if reference_volume_ml <= 0:
        return review, warnings
    ratio = volume_ml / reference_volume_ml
    if carried and ratio < 0.01:
        review.append(
            f"the carried lesion was hardly found at this visit ({volume_ml:.3f} mL against "
            f"{reference_volume_ml:.3f} mL on {reference_date}): it may have gone (a complete "
            "response: record it with an empty mask), or this scan may not show it (another "
            "patient or body region, or a wrong header)"
        )
    elif carried and not parameters.min_fraction <= ratio <= parameters.max_fold_change:
        review.append(
            f"the carried lesion changed {ratio:.2f}-fold since {reference_date}: more than the "
            f"trust gate accepts without a prompt of its own ({parameters.min_fraction:.2f} to "
            f"{parameters.max_fold_change:.2f})"
        )
    if registration_ratio is not None and registration_ratio > 0:
        segmented = 100.0 * (ratio - 1.0)
        registered = 100.0 * (registration_ratio - 1.0)
        if abs(segmented - registered) > parameters.max_disagreement_pct:
            note = (
                f"the two change estimates disagree: {segmented:+.1f}% from the segmentation, "
                f"{registered:+.1f}% from the registration since {reference_date} (more than "
                f"{parameters.max_disagreement_pct:g} points apart)"
            )
            if outlined:
                warnings.append(note)
            else:
                review.append(
                    note
                    if carried
                    else f"{note}; if this visit's mask is right, give it as the visit's mask "
                    "in the manifest (the reader's outline stands), otherwise correct its "
                    "prompt (a box, box_lps; a click on what the mask misses, or a negative "
                    "click on what it wrongly holds)"
                )
    return review, warnings

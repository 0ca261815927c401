"""The accuracy protocol of DESIGN.md section 6, for any scan with an expert label.

A reader's prompts are simulated from the label: the first click at the label's most interior
voxel, the box = the label's bounding box grown by 10% per side, and each correction click at
the most interior voxel of the largest error region (positive where tumour is missed, negative
where the mask over-segments). ``benchmarks/segmentation_accuracy.py`` runs it on every
labelled case; trial coordinators can run it on their own labelled scans with
:func:`run_protocol`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tscimg.core.errors import MaskError, PromptError
from tscimg.core.mask import Mask, most_interior_voxel
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import LesionType
from tscimg.segment.api import segment
from tscimg.segment.parameters import Method
from tscimg.segment.prompts import Prompts

#: Dice levels whose click counts the protocol reports.
DICE_TARGETS = (0.85, 0.90)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean arrays (1.0 when both are empty).

    Examples
    --------
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[1:3] = True
    >>> dice(a, b)
    0.5
    """
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else 1.0


def interior_point(region: np.ndarray, spacing_kji: tuple[float, ...]) -> tuple[int, int, int]:
    """The protocol's first click: the most interior voxel of the ``[k, j, i]`` label
    (:func:`tscimg.core.mask.most_interior_voxel`), as an ``(i, j, k)`` index.

    Examples
    --------
    >>> k, j, i = np.ogrid[:7, :7, :9]
    >>> ball = (k - 3) ** 2 + (j - 3) ** 2 + (i - 5) ** 2 <= 9
    >>> interior_point(ball, (1.0, 1.0, 1.0))
    (5, 3, 3)
    """
    point = most_interior_voxel(region, spacing_kji)
    if point is None:
        raise ValueError("the label is empty: it has no interior point")
    return point


def label_box(truth: np.ndarray) -> tuple[int, int, int, int, int, int]:
    """The label's bounding box grown by 10% of its extent per side (rounded up to whole voxels,
    clipped to the image), as ``(i0, j0, k0, i1, j1, k1)`` inclusive voxel indices.

    Examples
    --------
    >>> truth = np.zeros((3, 20, 20), bool); truth[1, 5:15, 8:10] = True
    >>> label_box(truth)
    (7, 4, 0, 10, 15, 2)
    """
    idx = np.argwhere(truth)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    grow = np.ceil(0.1 * (hi - lo + 1)).astype(int)
    lo = np.maximum(lo - grow, 0)
    hi = np.minimum(hi + grow, np.array(truth.shape) - 1)
    return (int(lo[2]), int(lo[1]), int(lo[0]), int(hi[2]), int(hi[1]), int(hi[0]))


def next_click(
    mask: np.ndarray, truth: np.ndarray, spacing_kji: tuple[float, ...]
) -> tuple[str, tuple[int, int, int]]:
    """Where the protocol clicks next: ``("positive" | "negative", (i, j, k))`` at the most
    interior voxel of the largest error region (face-connected) of ``mask`` against ``truth``.

    Raises
    ------
    ValueError
        The mask equals the truth: there is no error left to correct.
    """
    best: tuple[int, str, np.ndarray] | None = None
    for kind, error in (("positive", truth & ~mask), ("negative", mask & ~truth)):
        labels, n = ndimage.label(error)
        if n == 0:
            continue
        sizes = np.bincount(labels.ravel())[1:]
        big = int(np.argmax(sizes)) + 1
        if best is None or sizes[big - 1] > best[0]:
            best = (int(sizes[big - 1]), kind, labels == big)
    if best is None:
        raise ValueError("the mask equals the truth: no correction click to place")
    return best[1], interior_point(best[2], spacing_kji)


@dataclass(frozen=True)
class ProtocolResult:
    """What the protocol reports for one case.

    Attributes
    ----------
    dice_one_click
        Dice after the first click alone.
    dice_click_box
        Dice with the first click and the box.
    dice_per_click
        Dice after 1, 2, ... clicks (the first with the box), until 0.90 or ``max_clicks``.
    clicks_to
        Clicks needed to reach each of :data:`DICE_TARGETS` (``None``: not within
        ``max_clicks``).
    volume_error_pct
        Volume error of the one-click mask against the label, percent.
    seconds_per_call
        Mean wall time of one :func:`segment` call, s.
    """

    dice_one_click: float
    dice_click_box: float
    dice_per_click: tuple[float, ...]
    clicks_to: dict[float, int | None]
    volume_error_pct: float
    seconds_per_call: float


def _truth_array(scan: Scan, truth: np.ndarray | Mask) -> np.ndarray:
    """``truth`` as a boolean ``[k, j, i]`` array on ``scan``'s grid, or a :class:`MaskError`."""
    if isinstance(truth, Mask):
        truth.require_on(scan.geometry, scan.source or "the scan")
        return truth.array_view() > 0
    arr = np.asarray(truth)
    if arr.dtype != bool and not np.issubdtype(arr.dtype, np.integer):
        raise MaskError(
            f"the label must be a boolean or integer array, got {arr.dtype}",
            path=scan.source,
            hint="Threshold it first (label > 0.5), or pass the tscimg.Mask from load_mask",
        )
    expected = tuple(scan.geometry.size[::-1])
    if arr.shape != expected:
        raise MaskError(
            f"the label's shape {arr.shape} is not the scan's [k, j, i] shape {expected}",
            path=scan.source,
            hint="Pass the label on this scan's grid (load_mask(path, reference=scan))",
        )
    return arr if arr.dtype == bool else arr > 0


def run_protocol(
    scan: Scan,
    truth: np.ndarray | Mask,
    lesion_type: LesionType | str = LesionType.GENERIC,
    method: Method | str | None = None,
    max_clicks: int = 10,
) -> ProtocolResult:
    """Run the DESIGN.md section 6 protocol on one labelled case.

    Parameters
    ----------
    scan
        The scan.
    truth
        The expert label on the scan's grid, boolean ``[k, j, i]`` (not empty), or its
        :class:`~tscimg.Mask` (every positive label).
    lesion_type
        Picks the preset, as in :func:`segment`.
    method
        Overrides the preset's algorithm family.
    max_clicks
        Most clicks (the first included) spent to reach Dice 0.90.

    A call that ends in :class:`PromptError` (empty result) counts as an empty mask.

    Raises
    ------
    MaskError
        When ``truth`` is empty, not on the scan's grid (shape ``(nk, nj, ni)``), or not a
        boolean or integer label array (an integer label map counts every positive label).
    """
    truth = _truth_array(scan, truth)
    if not truth.any():
        raise MaskError(
            "the label is empty: the protocol needs a lesion to click in",
            path=scan.source,
            hint="Pass the expert label of a lesion in this scan",
        )
    spacing = scan.geometry.spacing_mm[::-1]
    times: list[float] = []

    def call(prompts: Prompts) -> np.ndarray:
        start = time.perf_counter()
        try:
            out = segment(scan, prompts, lesion_type, method=method).mask.array_view() > 0
        except PromptError:
            out = np.zeros(truth.shape, dtype=bool)
        times.append(time.perf_counter() - start)
        return out

    click = interior_point(truth, spacing)
    one = call(Prompts(positive=(click,)))
    volume_error = 100.0 * (float(one.sum()) / float(truth.sum()) - 1.0)
    prompts = Prompts(positive=(click,), box=label_box(truth))
    mask = call(prompts)
    scores = [dice(mask, truth)]
    while scores[-1] < max(DICE_TARGETS) and len(scores) < max_clicks:
        kind, point = next_click(mask, truth, spacing)
        prompts = prompts.with_clicks(**{kind: [point]})
        mask = call(prompts)
        scores.append(dice(mask, truth))
    clicks_to = {
        target: next((n + 1 for n, s in enumerate(scores) if s >= target), None)
        for target in DICE_TARGETS
    }
    return ProtocolResult(
        dice_one_click=dice(one, truth),
        dice_click_box=scores[0],
        dice_per_click=tuple(scores),
        clicks_to=clicks_to,
        volume_error_pct=volume_error,
        seconds_per_call=float(np.mean(times)),
    )

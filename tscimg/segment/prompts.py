"""Segmentation prompts: positive and negative points and an optional box, in voxel indices.

Prompts may be given in voxel indices ``(i, j, k)``, LPS mm or RAS mm; they are converted to
indices once, on the scan's grid, and checked.

Examples
--------
>>> from tscimg.core.geometry import Geometry
>>> g = Geometry((10, 10, 5), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
>>> p = Prompts.from_physical(g, positive_lps=[(3.0, 4.0, 4.0)], box_ras=(-1, -1, 0, -8, -8, 8))
>>> p.positive, p.box
(((3, 4, 2),), (1, 1, 0, 8, 8, 4))
>>> Prompts(positive=((20, 0, 0),)).validated(g, "scan.nii.gz")
Traceback (most recent call last):
...
tscimg.core.errors.PromptError: scan.nii.gz: positive point (20, 0, 0) lies outside the image ...
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from tscimg.core.errors import PromptError
from tscimg.core.geometry import Geometry, ras_to_lps
from tscimg.core.mask import Mask
from tscimg.core.scan import Scan
from tscimg.segment.intensity_model import IntensityModel

Index = tuple[int, int, int]
Box = tuple[int, int, int, int, int, int]


class BoxOrigin(StrEnum):
    """Who drew a box: a reader's box is their statement of the lesion's extent (a mask that
    reaches it is a warning to them); a carried box is the registration's leak guard around a
    follow-up (reaching it is the carry's trust-gate flag, not a note about anyone's box)."""

    READER = "reader"
    CARRIED = "carried"


@dataclass(frozen=True)
class Prompts:
    """What a reader gives: positive points, negative points, an optional box (voxel indices).

    Parameters
    ----------
    positive
        Points inside the lesion, ``(i, j, k)``.
    negative
        Points outside the lesion (corrections), ``(i, j, k)``.
    box
        Inclusive voxel corners ``(i0, j0, k0, i1, j1, k1)``.
    prior
        Where the lesion is expected, as a mask on the scan's grid: the previous visit's lesion
        carried by registration. The graph cut uses it as its shape prior in place of the
        shape inscribed in the box; other families ignore it.
    box_origin
        Who drew the box (:class:`BoxOrigin`): only a reader's box gets the reader's warning
        when the mask reaches it.
    intensity_model
        The lesion's and background's intensities as the reference visit's graph cut learned
        them, mapped onto this scan's intensities (a carried follow-up): the graph cut uses it
        instead of learning one; other families ignore it.
    """

    positive: tuple[Index, ...] = ()
    negative: tuple[Index, ...] = ()
    box: Box | None = None
    prior: Mask | None = field(default=None, compare=False, repr=False)
    box_origin: BoxOrigin = BoxOrigin.READER
    intensity_model: IntensityModel | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # points and boxes built by hand (lists, numpy integers, whole floats) are stored as
        # tuples of int, so they hash, compare and index the scan like the ones from_physical makes
        object.__setattr__(
            self, "positive", tuple(_whole_numbers(p, 3, "positive point") for p in self.positive)
        )
        object.__setattr__(
            self, "negative", tuple(_whole_numbers(p, 3, "negative point") for p in self.negative)
        )
        if self.box is not None:
            object.__setattr__(self, "box", _whole_numbers(self.box, 6, "box"))
        object.__setattr__(self, "box_origin", BoxOrigin(self.box_origin))

    @classmethod
    def from_physical(
        cls,
        geometry: Geometry | Scan,
        positive_index: Sequence[Sequence[float]] = (),
        negative_index: Sequence[Sequence[float]] = (),
        box_index: Sequence[float] | None = None,
        positive_lps: Sequence[Sequence[float]] = (),
        negative_lps: Sequence[Sequence[float]] = (),
        box_lps: Sequence[float] | None = None,
        positive_ras: Sequence[Sequence[float]] = (),
        negative_ras: Sequence[Sequence[float]] = (),
        box_ras: Sequence[float] | None = None,
        source: str | None = None,
    ) -> Prompts:
        """Combine prompts given in any space into voxel indices on ``geometry``.

        ``geometry`` is the scan's grid (``scan.geometry``; the scan itself is taken too).

        Raises
        ------
        PromptError
            Naming ``source`` (the scan) when a coordinate is not a finite number (NaN or
            infinity, as given or after conversion to an index): it has no voxel; or when a
            point has not 3 coordinates or a box not 6.
        """

        if source is None and isinstance(geometry, Scan):
            source = geometry.source  # the scan itself will do, and names itself in errors
        geometry = Geometry.of_grid(geometry, "geometry")

        def finite(values: Sequence[float], what: str, count: int = 3) -> list[float]:
            return _finite_numbers(values, what, count, source)

        top = [n - 1 for n in geometry.size]

        def to_index(point_lps: Sequence[float]) -> Index:
            """The voxel holding the point: half-way points go up (not to the even index, as
            ``round`` does), and a point on the image's outer face is in its last voxel."""
            index = finite(geometry.lps_to_index(finite(point_lps, "a point")), "a point's index")
            voxel = [
                t if t < v <= t + 0.5 else math.floor(v + 0.5)
                for v, t in zip(index, top, strict=False)
            ]
            return (voxel[0], voxel[1], voxel[2])

        def rounded(point: Sequence[float]) -> Index:
            i, j, k = (round(v) for v in finite(point, "a point"))
            return (i, j, k)

        pos = [rounded(p) for p in positive_index]
        pos += [to_index(p) for p in positive_lps]
        pos += [to_index(ras_to_lps(p)) for p in positive_ras]
        neg = [rounded(p) for p in negative_index]
        neg += [to_index(p) for p in negative_lps]
        neg += [to_index(ras_to_lps(p)) for p in negative_ras]
        boxes: list[Box] = []
        if box_index is not None:
            c = [round(v) for v in finite(box_index, "the box", 6)]
            boxes.append((c[0], c[1], c[2], c[3], c[4], c[5]))
        for corners, convert in ((box_lps, False), (box_ras, True)):
            if corners is None:
                continue
            values = finite(corners, "the box", 6)
            first: Sequence[float] = tuple(values[:3])
            second: Sequence[float] = tuple(values[3:6])
            if convert:
                first, second = ras_to_lps(first), ras_to_lps(second)
            # DESIGN.md section 4: the same box as --box, its two opposite voxel corners given
            # in physical space; the voxels between them (on an oblique grid that box is not
            # axis-aligned in LPS, and an LPS-aligned box is not what is meant)
            ia = np.array(finite(geometry.lps_to_index(first), "the box's first corner index"))
            ib = np.array(finite(geometry.lps_to_index(second), "the box's second corner index"))
            lo, hi = np.minimum(ia, ib), np.maximum(ia, ib)
            voxels = np.floor(np.concatenate([lo, hi]) + 0.5)  # half-way goes up, as points
            boxes.append(tuple(int(v) for v in voxels))  # type: ignore[arg-type]
        if len(boxes) > 1:
            raise PromptError("give one box, in one space (index, LPS or RAS)", path=source)
        return cls(tuple(pos), tuple(neg), boxes[0] if boxes else None)

    def with_clicks(
        self, positive: Sequence[Index] = (), negative: Sequence[Index] = ()
    ) -> Prompts:
        """The same prompts plus more points (refinement is a new call with all prompts)."""
        return replace(
            self, positive=self.positive + tuple(positive), negative=self.negative + tuple(negative)
        )

    def validated(self, geometry: Geometry, source: str | None) -> Prompts:
        """Check the prompts against the grid; raise :class:`PromptError` saying what is wrong."""
        geometry = Geometry.of_grid(geometry, "geometry")
        if not self.positive and self.box is None:
            raise PromptError(
                "no positive point and no box: nothing says where the lesion is",
                path=source,
                hint="Give at least one --point inside the lesion",
            )
        for kind, points in (("positive", self.positive), ("negative", self.negative)):
            for p in points:
                if not geometry.contains_index(p):
                    raise PromptError(
                        f"{kind} point {tuple(p)} lies outside the image (size "
                        f"{list(geometry.size)})",
                        path=source,
                        hint="Check the coordinates and their space (index, LPS or RAS)",
                    )
        clash = set(self.positive) & set(self.negative)
        if clash:
            raise PromptError(
                f"point {sorted(clash)[0]} is both positive and negative",
                path=source,
                hint="Remove one of the two",
            )
        if self.prior is not None:
            self.prior.require_on(geometry, source or "the scan")
        if self.box is not None:
            lo, hi = np.array(self.box[:3]), np.array(self.box[3:])
            if np.any(lo > hi):
                raise PromptError(
                    f"box {self.box} is inverted: each first corner must be <= the second",
                    path=source,
                    hint="Give --box i0,j0,k0,i1,j1,k1 with i0<=i1, j0<=j1, k0<=k1",
                )
            size = np.array(geometry.size)
            if np.any(hi < 0) or np.any(lo >= size):
                raise PromptError(f"box {self.box} lies outside the image", path=source)
            if outside := outside_box(self.positive, self.box):
                raise PromptError(
                    f"positive point {outside[0]} lies outside the box {self.box}",
                    path=source,
                    hint="Put the point inside the box, or enlarge the box",
                )
        return self


def outside_box(points: Sequence[Index], box: Box) -> tuple[Index, ...]:
    """Those of ``points`` outside the inclusive ``box``, in their order.

    >>> outside_box([(1, 1, 1), (5, 0, 0)], (0, 0, 0, 3, 3, 3))
    ((5, 0, 0),)
    """
    lo, hi = np.asarray(box[:3]), np.asarray(box[3:])
    return tuple(
        (int(p[0]), int(p[1]), int(p[2]))
        for p in points
        if np.any(np.asarray(p) < lo) or np.any(np.asarray(p) > hi)
    )


def clipped_box(box: tuple[int, ...], size: tuple[int, ...]) -> Box:
    """A box ``(i0, j0, k0, i1, j1, k1)`` (inclusive) clipped to a grid of ``size`` (i, j, k).

    Examples
    --------
    >>> clipped_box((-8, 10, 5, 12, 30, 25), (40, 40, 20))
    (0, 10, 5, 12, 30, 19)
    """
    top = [n - 1 for n in size]
    c = [min(max(int(v), 0), top[n % 3]) for n, v in enumerate(box)]
    return (c[0], c[1], c[2], c[3], c[4], c[5])


def box_centre(box: tuple[int, ...]) -> tuple[int, int, int]:
    """The voxel at the centre of a box ``(i0, j0, k0, i1, j1, k1)`` (inclusive; rounded down):
    the click of a prompt given as a box alone.

    Examples
    --------
    >>> box_centre((17, 13, 11, 41, 37, 31))
    (29, 25, 21)
    """
    return ((box[0] + box[3]) // 2, (box[1] + box[4]) // 2, (box[2] + box[5]) // 2)


def _finite_numbers(
    values: Sequence[float], what: str, count: int, source: str | None
) -> list[float]:
    """``values`` as ``count`` finite floats, or a :class:`PromptError` naming ``what``."""
    example = "(i, j, k) or (x, y, z)" if count == 3 else "(i0, j0, k0, i1, j1, k1)"
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise PromptError(
            f"{what} {values!r} is not a sequence of {count} numbers",
            path=source,
            hint=f"Give each point as {example}, and a list of points for positive/negative "
            "(e.g. positive_index=[(120, 88, 14)])",
        ) from None
    if len(numbers) != count:
        raise PromptError(
            f"{what} {tuple(values)} has {len(numbers)} coordinates, not {count}",
            path=source,
            hint=f"Give {example}",
        )
    if not all(math.isfinite(v) for v in numbers):
        shown = ", ".join(f"{v:g}" for v in numbers)
        raise PromptError(
            f"{what} ({shown}): coordinates must be finite numbers",
            path=source,
            hint="Give each coordinate as a number (not NaN or infinity)",
        )
    return numbers


def _whole_numbers(values: Sequence[float], count: int, what: str) -> tuple[int, ...]:
    """``values`` as ``count`` ints: voxel indices are whole numbers."""
    numbers = _finite_numbers(values, what, count, None)
    if any(v != round(v) for v in numbers):
        raise PromptError(
            f"{what} {tuple(values)} is not whole voxel indices",
            hint="Round the indices, or give the point in mm with Prompts.from_physical("
            "geometry, positive_lps=...) or in fractional indices with positive_index=...",
        )
    return tuple(int(v) for v in numbers)

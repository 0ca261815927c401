"""The working region of one segmentation call: a crop around the prompts and its leak guard.

Cost is bounded by the lesion, not the scan: every algorithm runs on this crop only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from tscimg.core.scan import Scan
from tscimg.segment.intensity_model import IntensityModel
from tscimg.segment.parameters import RegionGrowingTuning
from tscimg.segment.prompts import Prompts


@dataclass(frozen=True)
class WorkRegion:
    """A crop of the scan with prompts in crop coordinates.

    Attributes
    ----------
    values
        Float32 pixels of the crop, ``[k, j, i]``.
    spacing_kji
        Voxel spacing along the array axes, mm.
    offset_kji
        Position of the crop's first voxel in the full array.
    guard
        Where the lesion may be (the box, or balls of the search radius around the points).
    ring
        Background sample: crop voxels outside the box, or without a box the shell between
        ``RegionGrowingTuning.background_shell_fraction`` (0.75) and 1 search radius around
        the positive points.
    positive, negative
        Points in crop ``(k, j, i)`` coordinates.
    full_shape
        Shape of the full scan array.
    has_box
        Whether the prompts include a box.
    body
        Voxels that are not constant padding outside the body (skull-stripped images).
    prior
        Where the lesion is expected (the prompts' prior mask, cropped), or ``None``.
    intensity_model
        The prompts' intensity model (a carried follow-up's), or ``None``.
    """

    values: np.ndarray
    spacing_kji: tuple[float, float, float]
    offset_kji: tuple[int, int, int]
    guard: np.ndarray
    ring: np.ndarray
    positive: tuple[tuple[int, int, int], ...]
    negative: tuple[tuple[int, int, int], ...]
    full_shape: tuple[int, int, int]
    has_box: bool
    body: np.ndarray
    prior: np.ndarray | None = None
    intensity_model: IntensityModel | None = None

    @cached_property
    def guard_depth_mm(self) -> np.ndarray:
        """Distance of each guard voxel to the guard's edge, mm (0 outside the guard; the crop's
        edge is no guard edge); computed once."""
        return np.asarray(ndimage.distance_transform_edt(self.guard, sampling=self.spacing_kji))

    def guard_edge(self, within_mm: float) -> np.ndarray:
        """Guard voxels within ``within_mm`` of the guard's edge (where a leak presses)."""
        return np.asarray(self.guard & (self.guard_depth_mm <= within_mm))

    @cached_property
    def guard_border(self) -> np.ndarray:
        """Guard voxels with a face neighbour outside the guard (the crop's edge, the scan's,
        is no guard border): a mask holding any of them was cut off by its leak guard."""
        face = ndimage.generate_binary_structure(3, 1)
        outside = ndimage.binary_dilation(~self.guard, face, border_value=0)
        return np.asarray(self.guard & outside)

    @property
    def has_background(self) -> bool:
        """Whether there is a background sample to learn from."""
        return bool(self.ring.any())

    def ball(self, centre: tuple[int, int, int], radius_mm: float) -> np.ndarray:
        """Boolean ball (physical radius) around a crop point."""
        grids = np.ogrid[tuple(slice(0, n) for n in self.values.shape)]
        d2 = sum(
            ((g - c) * s) ** 2 for g, c, s in zip(grids, centre, self.spacing_kji, strict=True)
        )
        return np.asarray(d2 <= radius_mm**2)

    def click_balls(self, radius_mm: float) -> tuple[np.ndarray, np.ndarray]:
        """The voxels the clicks fix, ``(lesion, background)``: a ball of ``radius_mm`` around
        each click that reaches at most half-way to the nearest click of the other kind.

        Two clicks never claim the same voxel, and the clicked voxel itself always keeps the
        label the reader gave it (otherwise a positive click beside an earlier negative one
        would be overruled by the negative one's ball and change nothing).

        Examples
        --------
        >>> values = np.zeros((1, 1, 9), np.float32)
        >>> region = WorkRegion(values, (1.0, 1.0, 1.0), (0, 0, 0), values > -1, values > 0,
        ...                     positive=((0, 0, 2),), negative=((0, 0, 5),),
        ...                     full_shape=(1, 1, 9), has_box=False, body=values > -1)
        >>> lesion, background = region.click_balls(1.5)
        >>> lesion.astype(int).ravel().tolist(), background.astype(int).ravel().tolist()
        ([0, 1, 1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 0, 0])
        """
        spacing = np.asarray(self.spacing_kji)
        lesion = np.zeros(self.values.shape, dtype=bool)
        background = np.zeros_like(lesion)
        for points, others, out in (
            (self.positive, self.negative, lesion),
            (self.negative, self.positive, background),
        ):
            for point in points:
                # just under half: a voxel half-way between two clicks belongs to neither
                out |= self.ball(point, min(radius_mm, 0.499 * nearest_mm(point, others, spacing)))
        return lesion, background

    def paste(self, region: np.ndarray) -> np.ndarray:
        """The crop's result placed into a full-size ``[k, j, i]`` uint8 array."""
        out = np.zeros(self.full_shape, dtype=np.uint8)
        k, j, i = self.offset_kji
        nk, nj, ni = region.shape
        out[k : k + nk, j : j + nj, i : i + ni] = region
        return out


def nearest_mm(
    point: tuple[int, ...], others: tuple[tuple[int, ...], ...], spacing_kji: np.ndarray
) -> float:
    """Distance (mm) from a ``(k, j, i)`` point to the nearest of ``others`` (inf if none).

    Examples
    --------
    >>> nearest_mm((0, 0, 0), ((0, 3, 4), (0, 0, 9)), np.array([2.0, 1.0, 1.0]))
    5.0
    >>> nearest_mm((0, 0, 0), (), np.ones(3))
    inf
    """
    gaps = [float(np.sqrt(np.sum((np.subtract(point, o) * spacing_kji) ** 2))) for o in others]
    return min(gaps, default=float("inf"))


def _body(values: np.ndarray, min_fraction: float) -> np.ndarray:
    """Voxels that are not padding: skull-stripped or masked images fill the outside with one
    constant (their minimum); those voxels would fake a noiseless background. The minimum is
    padding when at least ``min_fraction`` of the voxels hold it."""
    padding = values == values.min()
    if padding.mean() < min_fraction:
        return np.ones(values.shape, dtype=bool)
    return np.asarray(~padding)


def work_region(
    scan: Scan,
    prompts: Prompts,
    search_radius_mm: float,
    tuning: RegionGrowingTuning | None = None,
) -> WorkRegion:
    """Crop the scan around the prompts, with a margin for background context: the box grown
    per side by ``tuning.crop_margin_fraction`` of its size (25%), at least
    ``crop_margin_min_mm`` (4 mm) and ``crop_margin_min_voxels`` (2); without a box, the
    search radius around the positive points (``tuning``: :class:`RegionGrowingTuning` by
    default)."""
    tuning = RegionGrowingTuning() if tuning is None else tuning
    size_kji = np.array(scan.geometry.size[::-1])
    spacing = np.array(scan.geometry.spacing_mm[::-1])
    if prompts.box is not None:
        lo = np.array(prompts.box[:3][::-1])
        hi = np.array(prompts.box[3:][::-1])
        margin = np.maximum(
            np.ceil(tuning.crop_margin_fraction * (hi - lo + 1)),
            np.ceil(tuning.crop_margin_min_mm / spacing),
        ).astype(int)
        margin = np.maximum(margin, tuning.crop_margin_min_voxels)
    else:
        pts = np.array([p[::-1] for p in prompts.positive])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        margin = np.ceil(search_radius_mm / spacing).astype(int) + 1
    start = np.maximum(lo - margin, 0)
    stop = np.minimum(hi + margin + 1, size_kji)
    view = sitk.GetArrayViewFromImage(scan.image)
    values = np.array(
        view[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]], dtype=np.float32
    )
    shape = values.shape

    def local(p: tuple[int, int, int]) -> tuple[int, int, int]:
        k, j, i = (int(v) for v in np.array(p[::-1]) - start)
        return (k, j, i)

    positive = tuple(local(p) for p in prompts.positive)
    negative = tuple(
        local(p)
        for p in prompts.negative
        if np.all(np.array(p[::-1]) >= start) and np.all(np.array(p[::-1]) < stop)
    )
    if prompts.box is not None:
        guard = np.zeros(shape, dtype=bool)
        # clipped to the crop: a box past the image (a negative corner) would otherwise be
        # sliced from the crop's far end (segment() clips boxes first; this keeps any caller safe)
        a = np.clip(lo - start, 0, shape)
        b = np.clip(hi - start + 1, 0, shape)
        guard[a[0] : b[0], a[1] : b[1], a[2] : b[2]] = True
        ring = ~guard
    else:
        grids = np.ogrid[tuple(slice(0, n) for n in shape)]
        nearest2 = np.full(shape, np.inf, dtype=np.float32)
        for c in positive:
            d2 = sum(((g - ci) * s) ** 2 for g, ci, s in zip(grids, c, spacing, strict=True))
            nearest2 = np.minimum(nearest2, d2)
        guard = nearest2 <= search_radius_mm**2
        ring = guard & (nearest2 >= (tuning.background_shell_fraction * search_radius_mm) ** 2)
    return WorkRegion(
        body=_body(values, tuning.padding_min_fraction),
        values=values,
        spacing_kji=(float(spacing[0]), float(spacing[1]), float(spacing[2])),
        offset_kji=(int(start[0]), int(start[1]), int(start[2])),
        guard=guard,
        ring=ring,
        positive=positive,
        negative=negative,
        full_shape=(int(size_kji[0]), int(size_kji[1]), int(size_kji[2])),
        has_box=prompts.box is not None,
        prior=None
        if prompts.prior is None
        else np.array(
            prompts.prior.array_view()[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]]
            > 0
        ),
        intensity_model=prompts.intensity_model,
    )

"""Intensity models learned from the prompts and from the background around a box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tscimg.segment.parameters import RegionGrowingTuning
from tscimg.segment.region import WorkRegion

#: A normal sample's SD is 1.4826 x its median absolute deviation (1 / the normal's 75th
#: percentile): a statistical constant, not a setting.
MAD_TO_SD = 1.4826
#: The least noise estimate: thresholds are placed in noise SDs, so it is never zero.
_NONZERO = 1e-6


@dataclass(frozen=True)
class RobustStats:
    """Median and robust standard deviation (:data:`MAD_TO_SD` x MAD) of a sample."""

    median: float
    sd: float

    @classmethod
    def of(cls, values: np.ndarray, floor: float) -> RobustStats:
        """Stats of ``values``; the SD is at least ``floor`` (the image noise)."""
        med = float(np.median(values))
        mad = float(np.median(np.abs(values - med))) * MAD_TO_SD
        return cls(med, max(mad, floor))


def prepared(
    region: WorkRegion,
    smoothing_mm: float,
    despeckle: bool,
    tuning: RegionGrowingTuning | None = None,
) -> np.ndarray:
    """The crop after optional despeckling (median, :func:`despeckle_footprint`) and Gaussian
    smoothing (sigma at most ``tuning.smoothing_max_voxels`` voxels per axis; ``tuning``:
    :class:`RegionGrowingTuning` by default)."""
    tuning = RegionGrowingTuning() if tuning is None else tuning
    img = region.values
    if despeckle:
        img = ndimage.median_filter(img, size=despeckle_footprint(region.spacing_kji, tuning))
    if smoothing_mm > 0:
        sigma = [min(tuning.smoothing_max_voxels, smoothing_mm / s) for s in region.spacing_kji]
        img = ndimage.gaussian_filter(img, sigma)
    return np.asarray(img, dtype=np.float32)


def despeckle_footprint(
    spacing_kji: tuple[float, float, float], tuning: RegionGrowingTuning | None = None
) -> tuple[int, int, int]:
    """The despeckling median's size per axis: ``tuning.despeckle_width_voxels`` (3) along axes
    of at most ``tuning.despeckle_max_spacing_mm`` (1 mm; ultrasound speckle grains are about a
    millimetre), 1 along coarser ones, where a 3-voxel median would reach a slice beyond the
    lesion's first or last (a 5 mm slice spacing: 15 mm) and shave it (``tuning``:
    :class:`RegionGrowingTuning` by default).

    Examples
    --------
    >>> despeckle_footprint((0.6, 0.6, 0.6))
    (3, 3, 3)
    >>> despeckle_footprint((5.0, 0.8, 0.8))
    (1, 3, 3)
    """
    tuning = RegionGrowingTuning() if tuning is None else tuning
    width, finest = tuning.despeckle_width_voxels, tuning.despeckle_max_spacing_mm
    k, j, i = (width if s <= finest else 1 for s in spacing_kji)
    return (k, j, i)


def noise_sd(
    img: np.ndarray,
    body: np.ndarray,
    floor_fraction: float = RegionGrowingTuning.noise_floor_fraction,
) -> float:
    """Robust noise estimate from neighbour differences along the fastest axis, inside the body
    (padding excluded), never below ``floor_fraction`` (0.1%) of the 1-99 percentile range."""
    pairs = body[..., 1:] & body[..., :-1]
    diffs = np.diff(img, axis=-1)[pairs]
    inside = img[body]
    spread = float(np.percentile(inside, 99) - np.percentile(inside, 1)) if inside.size else 1.0
    if diffs.size == 0:
        return max(floor_fraction * spread, _NONZERO)
    # a difference of two independent samples has sqrt(2) times their SD
    mad = float(np.median(np.abs(diffs - np.median(diffs)))) * MAD_TO_SD / np.sqrt(2)
    return max(mad, floor_fraction * spread, _NONZERO)


def seed_radius(
    region: WorkRegion,
    radius_mm: float,
    min_pixels: float = RegionGrowingTuning.seed_radius_min_pixels,
) -> float:
    """A click's seed ball radius, mm: ``radius_mm``, and at least ``min_pixels`` times the
    coarser in-plane voxel spacing."""
    return max(radius_mm, max(region.spacing_kji[1:]) * min_pixels)


def seed_stats(
    img: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    radius_mm: float,
    floor: float,
    min_pixels: float = RegionGrowingTuning.seed_radius_min_pixels,
) -> RobustStats:
    """Intensity model of the tissue around one point (the ball of :func:`seed_radius`)."""
    ball = region.ball(point, seed_radius(region, radius_mm, min_pixels))
    return RobustStats.of(img[ball], floor)


def background_stats(img: np.ndarray, region: WorkRegion, floor: float) -> RobustStats | None:
    """Intensity model of what surrounds the lesion: outside the box, or the far shell."""
    sample = region.ring & region.body
    if not sample.any():
        return None
    return RobustStats.of(img[sample], floor)

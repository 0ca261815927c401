"""Intensity models learned from the prompts and from the background around a box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tscimg.segment.region import WorkRegion


@dataclass(frozen=True)
class RobustStats:
    """Median and robust standard deviation (1.4826 x MAD) of a sample."""

    median: float
    sd: float

    @classmethod
    def of(cls, values: np.ndarray, floor: float) -> RobustStats:
        """Stats of ``values``; the SD is at least ``floor`` (the image noise)."""
        med = float(np.median(values))
        mad = float(np.median(np.abs(values - med))) * 1.4826
        return cls(med, max(mad, floor))


def prepared(region: WorkRegion, smoothing_mm: float, despeckle: bool) -> np.ndarray:
    """The crop after optional despeckling (median, :func:`despeckle_footprint`) and Gaussian
    smoothing."""
    img = region.values
    if despeckle:
        img = ndimage.median_filter(img, size=despeckle_footprint(region.spacing_kji))
    if smoothing_mm > 0:
        sigma = [min(1.5, smoothing_mm / s) for s in region.spacing_kji]
        img = ndimage.gaussian_filter(img, sigma)
    return np.asarray(img, dtype=np.float32)


def despeckle_footprint(spacing_kji: tuple[float, float, float]) -> tuple[int, int, int]:
    """The despeckling median's size per axis: 3 voxels along axes of at most 1 mm (ultrasound
    speckle grains are about a millimetre), 1 along coarser ones, where a 3-voxel median would
    reach a slice beyond the lesion's first or last (a 5 mm slice spacing: 15 mm) and shave it.

    Examples
    --------
    >>> despeckle_footprint((0.6, 0.6, 0.6))
    (3, 3, 3)
    >>> despeckle_footprint((5.0, 0.8, 0.8))
    (1, 3, 3)
    """
    k, j, i = (3 if s <= 1.0 else 1 for s in spacing_kji)
    return (k, j, i)


def noise_sd(img: np.ndarray, body: np.ndarray) -> float:
    """Robust noise estimate from neighbour differences along the fastest axis, inside the body
    (padding excluded), never below 0.1% of the intensity range."""
    pairs = body[..., 1:] & body[..., :-1]
    diffs = np.diff(img, axis=-1)[pairs]
    inside = img[body]
    spread = float(np.percentile(inside, 99) - np.percentile(inside, 1)) if inside.size else 1.0
    if diffs.size == 0:
        return max(1e-3 * spread, 1e-6)
    mad = float(np.median(np.abs(diffs - np.median(diffs)))) * 1.4826 / np.sqrt(2)
    return max(mad, 1e-3 * spread, 1e-6)


def seed_stats(
    img: np.ndarray, region: WorkRegion, point: tuple[int, int, int], radius_mm: float, floor: float
) -> RobustStats:
    """Intensity model of the tissue around one point."""
    ball = region.ball(point, max(radius_mm, max(region.spacing_kji[1:]) * 0.6))
    return RobustStats.of(img[ball], floor)


def background_stats(img: np.ndarray, region: WorkRegion, floor: float) -> RobustStats | None:
    """Intensity model of what surrounds the lesion: outside the box, or the far shell."""
    sample = region.ring & region.body
    if not sample.any():
        return None
    return RobustStats.of(img[sample], floor)

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
    """The crop after optional despeckling (3x3x3 median) and Gaussian smoothing."""
    img = region.values
    if despeckle:
        img = ndimage.median_filter(img, size=3)
    if smoothing_mm > 0:
        sigma = [min(1.5, smoothing_mm / s) for s in region.spacing_kji]
        img = ndimage.gaussian_filter(img, sigma)
    return np.asarray(img, dtype=np.float32)


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

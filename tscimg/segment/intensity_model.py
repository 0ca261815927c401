"""What a graph cut learned about a lesion's intensities, to segment its follow-ups alike.

The graph cut (:mod:`tscimg.segment.graph_cut`) learns Gaussian mixtures of the lesion's and
its background's intensities from the reader's prompts. A follow-up segmented with the mixtures
its reference visit learned, mapped onto the follow-up's intensity scale, is measured by the
same appearance model: the lesion's border is placed by the same intensity balance at both
visits. Learned afresh at each follow-up (from a sample that changes with the lesion's size
and the noise), the border moved by 10-15 points of change on real scans (docs/accuracy.md).

Examples
--------
>>> lesion = Mixture((1.0,), (100.0,), (25.0,))
>>> round(float(lesion.log_density(np.array([100.0]))[0]), 4)
-2.5284
>>> mapped = lesion.mapped(gain=2.0, offset=10.0)
>>> mapped.means, mapped.variances
((210.0,), (100.0,))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Mixture:
    """A 1D Gaussian mixture in a scan's intensity units.

    Parameters
    ----------
    weights
        Component weights (sum 1).
    means
        Component means, intensity units.
    variances
        Component variances, intensity units squared.
    """

    weights: tuple[float, ...]
    means: tuple[float, ...]
    variances: tuple[float, ...]

    @classmethod
    def from_fitted(cls, model: Any, scale: float = 1.0) -> Mixture:
        """From a fitted ``sklearn.mixture.GaussianMixture`` (1D, full covariances) trained on
        intensities divided by ``scale``."""
        return cls(
            tuple(float(w) for w in np.ravel(model.weights_)),
            tuple(float(m) * scale for m in np.ravel(model.means_)),
            tuple(float(v) * scale**2 for v in np.ravel(model.covariances_)),
        )

    def log_density(self, values: np.ndarray) -> np.ndarray:
        """Log probability density at each of ``values`` (any shape, intensity units)."""
        x = np.asarray(values, dtype=float)[..., None]
        w, m, v = (np.asarray(a, dtype=float) for a in (self.weights, self.means, self.variances))
        terms = np.log(w) - 0.5 * (np.log(2.0 * np.pi * v) + (x - m) ** 2 / v)
        top = terms.max(axis=-1, keepdims=True)
        return np.asarray((top + np.log(np.exp(terms - top).sum(axis=-1, keepdims=True)))[..., 0])

    def mapped(self, gain: float, offset: float) -> Mixture:
        """The mixture of ``gain x intensity + offset``."""
        return Mixture(
            self.weights,
            tuple(gain * m + offset for m in self.means),
            tuple(gain**2 * v for v in self.variances),
        )

    def to_dict(self) -> dict[str, list[float]]:
        """Plain values (provenance)."""
        return {
            "weights": list(self.weights),
            "means": list(self.means),
            "variances": list(self.variances),
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Mixture:
        """The mixture :meth:`to_dict` wrote.

        Examples
        --------
        >>> m = Mixture((0.25, 0.75), (100.0, 160.0), (25.0, 144.0))
        >>> Mixture.from_dict(m.to_dict()) == m
        True
        """
        return cls(
            tuple(float(v) for v in record["weights"]),
            tuple(float(v) for v in record["means"]),
            tuple(float(v) for v in record["variances"]),
        )


@dataclass(frozen=True)
class IntensityModel:
    """The lesion's and its background's intensity mixtures a graph cut balanced its border
    on (intensities after the preset's despeckling and smoothing).

    Parameters
    ----------
    lesion, background
        The two mixtures, in the scan's intensity units.
    """

    lesion: Mixture
    background: Mixture

    def mapped(self, gain: float, offset: float) -> IntensityModel:
        """The model on another scale: ``gain x intensity + offset``."""
        return IntensityModel(
            self.lesion.mapped(gain, offset), self.background.mapped(gain, offset)
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values (provenance)."""
        return {"lesion": self.lesion.to_dict(), "background": self.background.to_dict()}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> IntensityModel:
        """The model :meth:`to_dict` wrote (``Segmentation.provenance()["intensity_model"]``,
        the ``intensity_model`` of ``tscimg segment --json``): given back as
        ``Prompts.intensity_model`` with the same prompts, it reproduces the cut."""
        return cls(Mixture.from_dict(record["lesion"]), Mixture.from_dict(record["background"]))


#: The share of voxel pairs, those farthest from the first fit, left out of the second.
TRIMMED_FRACTION = 0.2


@dataclass(frozen=True)
class LinearIntensityFit:
    """A fitted ``follow_up ~ gain x reference + offset`` (:func:`linear_intensity_fit`).

    Parameters
    ----------
    gain, offset
        The line, in the two scans' intensity units.
    correlation
        Pearson correlation of the pairs the line was fitted on (after trimming): near 1 when
        the two scans show the same structure; low when noise dominates the pairs, and the
        slope is then flattened (regression dilution).
    """

    gain: float
    offset: float
    correlation: float


def linear_intensity_fit(reference: np.ndarray, follow_up: np.ndarray) -> LinearIntensityFit:
    """``follow_up ~ gain x reference + offset``, from intensities of the same anatomy in two
    scans (corresponding voxels: the reference resampled onto the follow-up's grid through
    their registration, both smoothed): least squares, then again without the
    :data:`TRIMMED_FRACTION` of pairs farthest from that line (where the lesion changed, the
    registration is off, or one scan shows what the other does not). A constant ``reference``
    gives ``(1, 0)`` with correlation 0.

    Examples
    --------
    >>> ref = np.linspace(0.0, 100.0, 1001)
    >>> follow = 1.5 * ref + 20.0
    >>> follow[::10] += 300.0  # a tenth of the pairs changed
    >>> fit = linear_intensity_fit(ref, follow)
    >>> round(fit.gain, 6), round(fit.offset, 6), round(fit.correlation, 6)
    (1.5, 20.0, 1.0)
    """
    x = np.asarray(reference, dtype=float).ravel()
    y = np.asarray(follow_up, dtype=float).ravel()
    if x.size < 2 or float(np.ptp(x)) == 0.0:
        return LinearIntensityFit(1.0, 0.0, 0.0)
    gain, offset = _least_squares_line(x, y)
    residual = np.abs(y - gain * x - offset)
    kept = residual <= np.quantile(residual, 1.0 - TRIMMED_FRACTION)
    if np.ptp(x[kept]) > 0:
        x, y = x[kept], y[kept]
        gain, offset = _least_squares_line(x, y)
    correlation = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else 0.0
    return LinearIntensityFit(float(gain), float(offset), correlation)


def linear_intensity_map(reference: np.ndarray, follow_up: np.ndarray) -> tuple[float, float]:
    """``(gain, offset)`` of :func:`linear_intensity_fit`.

    Examples
    --------
    >>> ref = np.linspace(0.0, 100.0, 1001)
    >>> follow = 1.5 * ref + 20.0
    >>> follow[::10] += 300.0  # a tenth of the pairs changed
    >>> gain, offset = linear_intensity_map(ref, follow)
    >>> round(gain, 6), round(offset, 6)
    (1.5, 20.0)
    """
    fit = linear_intensity_fit(reference, follow_up)
    return fit.gain, fit.offset


def _least_squares_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The least-squares line ``y ~ gain x + offset`` in closed form (centred sums): what
    ``np.polyfit(x, y, 1)`` gives, without its Vandermonde matrix and SVD (1.4 s on the 5
    million voxel pairs of a large brain tumour's neighbourhood; this, a few hundredths).

    Examples
    --------
    >>> x = np.array([0.0, 1.0, 2.0, 4.0]); y = np.array([1.0, 2.9, 5.2, 8.8])
    >>> np.allclose(_least_squares_line(x, y), np.polyfit(x, y, 1))
    True
    """
    mx, my = float(x.mean()), float(y.mean())
    dx = x - mx
    gain = float(np.dot(dx, y - my) / np.dot(dx, dx))
    return gain, my - gain * mx

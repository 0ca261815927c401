"""Shared clean-up: keep what the positive points touch, cut at negative points, fill holes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage

from tscimg.segment.parameters import RegionGrowingTuning

Point = tuple[int, int, int]

#: How far a click outside every component looks for the nearest one, mm.
_REACH_MM = RegionGrowingTuning.seed_reach_mm


def ball_structure(
    radius_mm: float, spacing_kji: Sequence[float], shape: Sequence[int] | None = None
) -> np.ndarray:
    """A structuring element approximating a ball of physical radius (at least one voxel).

    With ``shape`` (the array it will be used on), axes of length 1 get no extent: on a
    single-slice (2D) image the ball is the disc in that plane, so an erosion does not empty it.

    Examples
    --------
    >>> ball_structure(1.0, (1.0, 0.5, 0.5)).shape
    (3, 5, 5)
    >>> ball_structure(1.0, (1.0, 0.5, 0.5), shape=(1, 9, 9)).shape
    (1, 5, 5)
    """
    half = [max(0, int(np.floor(radius_mm / s))) for s in spacing_kji]
    if shape is not None:
        half = [0 if n == 1 else h for h, n in zip(half, shape, strict=True)]
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    d2 = sum((g * s) ** 2 for g, s in zip(grids, spacing_kji, strict=True))
    return np.asarray(d2 <= radius_mm**2)


def _filled(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every background component that does not touch the border filled.

    The same as ``scipy.ndimage.binary_fill_holes`` (face connectivity) in one labelling pass
    instead of an iterated dilation, so its cost does not grow with the hole's size.
    """
    background, count = ndimage.label(~mask)
    if count == 0:
        return mask.copy()
    border = np.zeros(count + 1, dtype=bool)
    for axis in range(mask.ndim):
        for end in (0, -1):
            border[np.take(background, end, axis=axis)] = True
    return np.asarray(mask | ~border[background])


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed holes in 3D and in every acquisition slice (cysts, necrosis, septa).

    Examples
    --------
    >>> shell = np.ones((5, 5, 5), dtype=bool); shell[2, 2, 2] = False
    >>> bool(fill_holes(shell).all())
    True
    """
    out = _filled(np.asarray(mask, dtype=bool))
    for k in range(out.shape[0]):
        if out[k].any():
            out[k] = _filled(out[k])
    return out


def keep_seeded(
    mask: np.ndarray,
    positive: Sequence[Point],
    spacing_kji: Sequence[float],
    reach_mm: float = _REACH_MM,
) -> np.ndarray:
    """Components that hold a positive point (or lie within ``reach_mm`` of one)."""
    labels, n = ndimage.label(mask, ndimage.generate_binary_structure(3, 3))
    if n == 0:
        return np.zeros_like(mask, dtype=bool)
    keep: set[int] = set()
    for p in positive:
        if labels[p] > 0:
            keep.add(int(labels[p]))
            continue
        lo = [max(0, c - int(np.ceil(reach_mm / s))) for c, s in zip(p, spacing_kji, strict=True)]
        hi = [c + int(np.ceil(reach_mm / s)) + 1 for c, s in zip(p, spacing_kji, strict=True)]
        window = labels[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        found = np.argwhere(window > 0)
        if found.size:
            d = (((found + lo - np.array(p)) * np.array(spacing_kji)) ** 2).sum(axis=1)
            nearest = found[int(np.argmin(d))]
            keep.add(int(window[tuple(nearest)]))
    return np.isin(labels, sorted(keep)) if keep else np.zeros_like(mask, dtype=bool)


def seeded_region(
    candidate: np.ndarray,
    point: Point,
    spacing_kji: Sequence[float],
    reach_mm: float = _REACH_MM,
) -> np.ndarray:
    """The part of ``candidate`` that belongs to a click, holes filled.

    The component holding the click; if the click sits in a hole of the candidate (a necrotic
    or cystic centre), the innermost structure that encloses it (the components met first
    along the six axis rays from the click, filled); failing that, the component of the whole
    filled candidate that holds it; else the nearest component within ``reach_mm`` (3 mm).

    The innermost structure, because a candidate that also holds what surrounds the lesion
    (perirenal fat around a kidney holding a fat-rich angiomyolipoma) encloses the click
    too, filled as a whole with everything between.

    Examples
    --------
    >>> rings = np.zeros((1, 11, 11), bool)
    >>> rings[0, 1:10, 1:10] = True; rings[0, 2:9, 2:9] = False  # an outer ring
    >>> rings[0, 3:8, 3:8] = True; rings[0, 4:7, 4:7] = False    # an inner ring
    >>> int(seeded_region(rings, (0, 5, 5), (1.0, 1.0, 1.0)).sum())
    25
    """
    labels, _ = ndimage.label(candidate, ndimage.generate_binary_structure(3, 3))
    if labels[point] > 0:
        return fill_holes(labels == labels[point])
    inner = _innermost_enclosing(labels, point)
    if inner is not None:
        return inner
    filled_labels, _ = ndimage.label(fill_holes(candidate), ndimage.generate_binary_structure(3, 3))
    if filled_labels[point] > 0:
        return np.asarray(filled_labels == filled_labels[point])
    return fill_holes(keep_seeded(candidate, [point], spacing_kji, reach_mm))


def _innermost_enclosing(labels: np.ndarray, point: Point) -> np.ndarray | None:
    """The components first met along the six axis rays from ``point``, holes filled, when
    that encloses ``point`` (the filled part holding it); else ``None``."""
    first: set[int] = set()
    for axis in range(3):
        line = labels[tuple(slice(None) if a == axis else point[a] for a in range(3))]
        for ray in (line[point[axis] + 1 :], line[: point[axis]][::-1]):
            hit = ray[ray > 0]
            if hit.size:
                first.add(int(hit[0]))
    if not first:
        return None
    filled = fill_holes(np.isin(labels, sorted(first)))
    if not filled[point]:
        return None
    parts, _ = ndimage.label(filled, ndimage.generate_binary_structure(3, 3))
    return np.asarray(parts == parts[point])


def cut_at_negatives(
    mask: np.ndarray,
    positive: Sequence[Point],
    negative: Sequence[Point],
    spacing_kji: Sequence[float],
) -> np.ndarray:
    """Remove mask voxels nearer (in mm) to a negative point than to every positive point."""
    if not negative or not mask.any():
        return mask
    idx = np.argwhere(mask).astype(np.float32) * np.asarray(spacing_kji, dtype=np.float32)

    def nearest(points: Sequence[Point]) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float32) * np.asarray(spacing_kji, dtype=np.float32)
        best = np.full(len(idx), np.inf, dtype=np.float32)
        for p in pts:
            best = np.minimum(best, ((idx - p) ** 2).sum(axis=1))
        return best

    drop = nearest(negative) < nearest(positive)
    out = mask.copy()
    coords = np.argwhere(mask)[drop]
    out[coords[:, 0], coords[:, 1], coords[:, 2]] = False
    return out


def _on_bounding_box(
    operation: Callable[..., np.ndarray], mask: np.ndarray, structure: np.ndarray
) -> np.ndarray:
    """``operation(mask, structure)`` (a scipy binary closing or opening) computed on the mask's
    bounding box grown by the structure's half-size plus one voxel: the same result voxel for
    voxel as on the whole array (nothing of a closing or an opening reaches further; outside
    the box the array is empty, as the operation's border value assumes), at the cost of the
    lesion's box instead of the whole crop, except where the mask reaches the array's edge
    (below). Exact for a structure that holds its centre (every
    :func:`ball_structure`); a closing by one that does not can differ.

    Where the mask reaches the array's edge (the image's edge: the lesion continues beyond
    what was scanned, or is cut by it), the array is extended there by repeating its edge
    plane, as though the tissue went on: scipy treats the outside as background, so a closing
    (dilate, then erode) or an opening ate the mask's plane on the edge (a lesion cut by the
    image's first plane lost that whole plane: 1.31 mL of 1.49 inside the image).

    Examples
    --------
    >>> m = np.zeros((20, 30, 30), dtype=bool); m[5:9, 10:14, 3:8] = True; m[6, 11, 5] = False
    >>> ball = ball_structure(1.5, (1.0, 1.0, 1.0))
    >>> bool((_on_bounding_box(ndimage.binary_closing, m, ball)
    ...       == ndimage.binary_closing(m, ball)).all())
    True
    """
    if not structure[tuple(n // 2 for n in structure.shape)]:
        raise ValueError("the structure must hold its centre")
    out = np.zeros(mask.shape, dtype=bool)
    found = np.argwhere(mask)
    if not len(found):
        return out
    half = np.asarray(structure.shape) // 2 + 1
    lo = np.maximum(found.min(axis=0) - half, 0)
    hi = np.minimum(found.max(axis=0) + half + 1, mask.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    # repeat the edge plane past the array's edge, where the box reaches it
    pads = [(int(h) if a == 0 else 0, int(h) if b == n else 0)
            for h, a, b, n in zip(half, lo, hi, mask.shape, strict=True)]  # fmt: skip
    block = np.pad(mask[box], pads, mode="edge") if any(map(any, pads)) else mask[box]
    result = operation(block, structure)
    inner = tuple(slice(a, result.shape[d] - b) for d, (a, b) in enumerate(pads))
    out[box] = result[inner]
    return out


def finish(
    mask: np.ndarray,
    positive: Sequence[Point],
    negative: Sequence[Point],
    spacing_kji: Sequence[float],
    guard: np.ndarray,
    closing_mm: float,
    opening_mm: float,
    reach_mm: float = _REACH_MM,
) -> np.ndarray:
    """The common end of every method: guard, close, fill, open, cut, keep the parts a positive
    point holds or lies within ``reach_mm`` of (:func:`keep_seeded`)."""
    out = mask & guard
    if closing_mm > 0:
        ball = ball_structure(closing_mm, spacing_kji, out.shape)
        out = _on_bounding_box(ndimage.binary_closing, out, ball) & guard
    out = fill_holes(out)
    if opening_mm > 0:
        ball = ball_structure(opening_mm, spacing_kji, out.shape)
        opened = _on_bounding_box(ndimage.binary_opening, out, ball)
        if keep_seeded(opened, positive, spacing_kji, reach_mm).any():
            out = opened
    out = cut_at_negatives(out, positive, negative, spacing_kji)
    return keep_seeded(out, positive, spacing_kji, reach_mm)

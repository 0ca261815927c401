"""The three algorithm families. Each takes a work region and parameters, returns a crop mask.

- region growing: an intensity model learned from the prompts (and from the background around
  a box when there is one) decides which voxels are lesion tissue; the region connected to the
  positive points is kept, holes filled.
- random walker: graph-based probabilities from positive seeds (the points) and negative seeds
  (outside the box or search region, negative points), on intensities normalized by the model.
- active contour: a geodesic active contour (level set) started from the region growing, pulled
  to the strongest nearby edges.
"""

from __future__ import annotations

import warnings

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from tscimg.segment.appearance import (
    RobustStats,
    background_stats,
    noise_sd,
    prepared,
    seed_stats,
)
from tscimg.segment.parameters import LevelSetTuning, Polarity, SegmentParameters
from tscimg.segment.postprocess import ball_structure, fill_holes, finish, seeded_region
from tscimg.segment.region import WorkRegion


def _finished(mask: np.ndarray, region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """The common clean-up of every method (see :func:`postprocess.finish`)."""
    return finish(
        mask,
        region.positive,
        region.negative,
        region.spacing_kji,
        region.guard,
        params.closing_mm,
        params.opening_mm,
    )


def _resolve(polarity: Polarity, fg: float, bg: RobustStats) -> Polarity:
    if polarity is Polarity.AUTO:
        return Polarity.BRIGHT if fg >= bg.median else Polarity.DARK
    return polarity


def _threshold(fg: float, local_bg: float, bg: float, noise: float, polarity: Polarity) -> float:
    """Midpoint between lesion tissue and the competing tissue around it (50% partial volume),
    kept at least 3 noise SDs beyond the background level ``bg``."""
    mid = 0.5 * (fg + local_bg)
    if polarity is Polarity.BRIGHT:
        return max(mid, bg + 3.0 * noise)
    return min(mid, bg - 3.0 * noise)


def _shell(grown: np.ndarray, region: WorkRegion, inner_mm: float, outer_mm: float) -> np.ndarray:
    """Voxels between ``inner_mm`` and ``outer_mm`` outside a region (distance transform on the
    region's bounding box only)."""
    idx = np.argwhere(grown)
    margin = [int(np.ceil(outer_mm / s)) + 1 for s in region.spacing_kji]
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + np.array(margin) + 1, grown.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    dist = ndimage.distance_transform_edt(~grown[box], sampling=region.spacing_kji)
    out = np.zeros_like(grown)
    out[box] = (dist > inner_mm) & (dist <= outer_mm)
    return out & region.guard


def _grow_from(
    img: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    params: SegmentParameters,
    floor: float,
    far_bg: RobustStats | None,
) -> np.ndarray:
    """Grow the lesion from one click, refining the threshold against the local surroundings."""
    raw = float(region.values[point])
    seed = seed_stats(img, region, point, params.seed_radius_mm, floor)
    if params.window is not None:
        lo, hi = params.window
        window = (img >= lo) & (img <= hi) & region.guard
        bg_level = (far_bg or RobustStats.of(img[region.guard], floor)).median
        if lo <= raw <= hi:
            grown = seeded_region(window, point, region.spacing_kji)
            return _textured_border(region, grown, params, floor, bright=raw >= bg_level)
        if lo <= seed.median <= hi:
            grown = _window_near(window, region, point, params.seed_radius_mm)
            bright = seed.median >= bg_level
            return _textured_border(region, grown, params, floor, bright=bright)
    bg = far_bg or RobustStats.of(img[region.guard], floor)
    if abs(seed.median - bg.median) < 3.0 * floor and seed.sd < 1.5 * bg.sd:
        return np.zeros(img.shape, dtype=bool)  # same level and texture as the background
    polarity = _resolve(params.polarity, seed.median, bg)
    if polarity is Polarity.ABNORMAL:
        cand = (np.abs(img - bg.median) > 3.0 * bg.sd) & region.guard
        return seeded_region(cand, point, region.spacing_kji)
    bright = polarity is Polarity.BRIGHT
    if bright and seed.median < bg.median - 3.0 * floor:
        return _necrotic_centre(img, region, point, seed, floor, bg, params.border_smoothing_mm)
    threshold = _threshold(seed.median, bg.median, bg.median, floor, polarity)
    threshold = _below_leak(img, region, point, threshold, seed.median, bright)
    grown = np.zeros(img.shape, dtype=bool)
    for _ in range(5):
        cand = ((img >= threshold) if bright else (img <= threshold)) & region.guard
        previous, grown = grown, seeded_region(cand, point, region.spacing_kji)
        if previous.any() and grown.sum() < 0.5 * previous.sum():
            return previous  # collapsing into the lesion's own texture: keep the last region
        if previous.any() and (grown.sum() > 3 * previous.sum() or _touches_guard(grown, region)):
            return previous  # exploding into neighbouring tissue: a leak, keep the last region
        tissue = grown & cand
        if tissue.sum() < 5:
            break
        shell = _shell(grown, region, 1.0, 3.0)
        if (shell & region.body).sum() < 10:
            break
        # the competing tissue: the brighter part of the surroundings for a bright lesion
        q = params.surround_percentile
        local_bg = float(np.percentile(img[shell & region.body], q if bright else 100 - q))
        updated = _threshold(float(np.median(img[tissue])), local_bg, bg.median, floor, polarity)
        if abs(updated - threshold) <= 0.25 * floor:
            break
        threshold = updated
    border = _border_image(region, grown, params.border_smoothing_mm)
    return _local_midpoint(border, region, grown, bright, floor)


def _window_near(
    window: np.ndarray, region: WorkRegion, point: tuple[int, int, int], radius_mm: float
) -> np.ndarray:
    """The window tissue around a click that itself lies outside the window: every component
    of ``window`` reaching into the seed ball, holes filled.

    A click on a soft-tissue strand or vessel of a fat-rich angiomyolipoma lands outside the
    fat window although the tissue around it is fat: on thin slices the strands are resolved,
    so a click at the lesion's centre often lands on one (on 2.5-5 mm slices the voxel averages
    them with the fat). The lesion is then the fat around the click, not tissue like the strand.
    """
    near = window & region.ball(point, radius_mm)
    labels, _ = ndimage.label(window, ndimage.generate_binary_structure(3, 3))
    touched = np.unique(labels[near])
    return fill_holes(np.isin(labels, touched[touched > 0]))


def _around(grown: np.ndarray, region: WorkRegion, margin_mm: float) -> tuple[slice, ...]:
    """The bounding box of a (non-empty) region grown by ``margin_mm`` (and one voxel)."""
    idx = np.argwhere(grown)
    margin = np.ceil(margin_mm / np.asarray(region.spacing_kji)).astype(int) + 1
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + margin + 1, grown.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def _border_image(region: WorkRegion, grown: np.ndarray, smoothing_mm: float) -> np.ndarray:
    """The crop barely smoothed (no despeckling), computed only around the grown region (the
    border decisions look 5 mm out at most); elsewhere the raw crop."""
    out = np.asarray(region.values, dtype=np.float32).copy()
    if not grown.any() or smoothing_mm <= 0:
        return out
    box = _around(grown, region, 12.0)
    sigma = [min(1.5, smoothing_mm / s) for s in region.spacing_kji]
    out[box] = ndimage.gaussian_filter(out[box], sigma)
    return out


def _textured_border(
    region: WorkRegion, grown: np.ndarray, params: SegmentParameters, floor: float, bright: bool
) -> np.ndarray:
    """The border of a lesion found by a fixed window (AML fat): the local 50% level between
    the lesion's *mean* intensity and the tissue around it.

    The window holds only the lesion's dominant tissue (fat); its strands and vessels count as
    tumour after closing, so a border voxel half filled by tumour has the average of the
    tumour's mean (fat with its strands) and the neighbour, not of pure fat and the neighbour.
    The -20 HU window alone cut angiomyolipomas' borders by -7.5% to +4.2% of the volume,
    depending on the fat's attenuation (docs/accuracy.md).
    """
    if not grown.any():
        return grown
    border = _border_image(region, grown, params.border_smoothing_mm)
    box = _around(grown, region, params.closing_mm + 1.0)  # the closing stays inside it
    closed = grown[box]
    if params.closing_mm > 0:
        ball = ball_structure(params.closing_mm, region.spacing_kji, grown.shape)
        closed = ndimage.binary_closing(closed, ball)
    solid = fill_holes(closed)
    core = ndimage.distance_transform_edt(solid, sampling=region.spacing_kji) > 1.5
    if core.sum() < 10:
        return grown
    level = float(np.mean(border[box][core]))
    return _local_midpoint(border, region, grown, bright, floor, level)


def _local_midpoint(
    img: np.ndarray,
    region: WorkRegion,
    grown: np.ndarray,
    bright: bool,
    floor: float,
    lesion_level: float | None = None,
) -> np.ndarray:
    """Re-decide the voxels within 1.5 mm of the border against the tissue *locally* outside.

    ``img`` is the crop barely smoothed (``border_smoothing_mm``): the growing's smoothing
    would move the 50% level inward wherever the border curves.

    One threshold for the whole border is the midpoint to the typical neighbour; where the
    lesion borders a darker (or brighter) tissue than that, the 50% partial-volume border lies
    elsewhere. Each border voxel is compared with the midpoint between the lesion's level and
    the mean of the tissue 1.5-4 mm outside nearby (Gaussian-weighted, sigma 2 mm).
    """
    if grown.sum() < 20:
        return grown
    spacing = np.asarray(region.spacing_kji)
    idx = np.argwhere(grown)
    margin = np.ceil(5.0 / spacing).astype(int) + 1
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + margin + 1, grown.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    sub, values = grown[box], img[box]
    outside = ndimage.distance_transform_edt(~sub, sampling=spacing)
    inside = ndimage.distance_transform_edt(sub, sampling=spacing)
    core = inside > 1.5
    if core.sum() < 10:
        return grown
    level = float(np.median(values[core])) if lesion_level is None else lesion_level
    ring = (outside > 1.5) & (outside <= 4.0) & region.body[box]
    if ring.sum() < 10:
        return grown
    sigma = 2.0 / spacing
    weight = ndimage.gaussian_filter(ring.astype(np.float32), sigma)
    local = ndimage.gaussian_filter(np.where(ring, values, 0.0).astype(np.float32), sigma)
    have = weight > 1e-3
    local_bg = np.where(have, local / np.maximum(weight, 1e-6), np.nan)
    band = ((inside > 0) & (inside <= 1.5)) | ((outside > 0) & (outside <= 1.5))
    band &= have & region.guard[box]
    mid = 0.5 * (level + local_bg)
    if bright:
        mid = np.maximum(mid, local_bg + 1.0 * floor)
        decided = values >= mid
    else:
        mid = np.minimum(mid, local_bg - 1.0 * floor)
        decided = values <= mid
    refined = sub.copy()
    refined[band] = decided[band]
    out = grown.copy()
    out[box] = refined
    return out


def _touches_guard(grown: np.ndarray, region: WorkRegion) -> bool:
    """Leak check: more than 10% of the region lies within 2 mm of the guard's edge."""
    if region.has_box or not grown.any():
        return False
    return bool((grown & region.guard_edge).sum() > 0.1 * grown.sum())


def _below_leak(
    img: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    threshold: float,
    lesion_level: float,
    bright: bool,
) -> float:
    """Raise (or lower) the threshold toward the lesion's own level while the grown region
    presses on the search boundary (a leak into neighbouring tissue)."""
    for _ in range(4):
        cand = ((img >= threshold) if bright else (img <= threshold)) & region.guard
        if not _touches_guard(seeded_region(cand, point, region.spacing_kji), region):
            break
        threshold = 0.5 * (threshold + lesion_level)
    return threshold


def _necrotic_centre(
    img: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    seed: RobustStats,
    floor: float,
    bg: RobustStats,
    smoothing_mm: float,
) -> np.ndarray:
    """A click in dark tissue of an enhancing lesion: the dark region holding the click plus
    the enhancing tissue it touches (necrosis and its rim are both tumour).

    The enhancing rim is found as tissue 3 noise SDs above the background, but its outer
    border is placed as every other border is: at the local midpoint between the rim's own
    level and the tissue outside (:func:`_local_midpoint`, repeated until it stays put). The
    3-SD level lies in the blurred fringe outside the rim: placed there, a 2.5 cm SEGA with a
    cystic centre measures 65-76% too large.
    """
    dark_level = _threshold(seed.median, bg.median, bg.median, floor, Polarity.DARK)
    dark = seeded_region((img <= dark_level) & region.guard, point, region.spacing_kji)
    if not dark.any():
        return dark
    structure = ndimage.generate_binary_structure(3, 3)
    bright = (img >= bg.median + 3.0 * max(floor, 0.5 * bg.sd)) & region.guard
    labels, _ = ndimage.label(bright, structure)
    touching = np.unique(labels[_shell(dark, region, 0.0, 2.0) & bright])
    rim = np.isin(labels, touching[touching > 0])
    if not rim.any():
        return fill_holes(dark)
    # the rim's own level, away from both of its blurred edges
    deep = ndimage.distance_transform_edt(rim, sampling=region.spacing_kji) > 1.5
    rim_level = float(np.median(img[deep] if deep.sum() >= 10 else img[rim]))
    lesion = fill_holes(dark | rim)
    border = _border_image(region, lesion, smoothing_mm)
    # each pass re-decides 1.5 mm on either side of the border and the fringe is deeper (3-4 mm
    # on a 2.5 cm SEGA): repeat until the border stays put. The necrosis stays tumour wherever
    # it reaches the border: only the rim is re-decided.
    for _ in range(6):
        previous = lesion
        lesion = _local_midpoint(border, region, lesion, True, floor, rim_level) | dark
        if np.array_equal(lesion, previous):
            break
    return lesion


def _grow_locally(
    img: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    params: SegmentParameters,
    floor: float,
    grown: np.ndarray,
) -> np.ndarray:
    """A correction click: tissue like the clicked one, connected to it, within reach of the
    gap it fills (1.5 x its distance to the region grown so far, from 3 to 8 mm): a
    correction mends a local error, it does not re-segment the lesion."""
    if grown.any():
        idx = np.argwhere(grown).astype(np.float32)
        gap = float(
            np.sqrt(
                (((idx - np.asarray(point)) * np.asarray(region.spacing_kji)) ** 2)
                .sum(axis=1)
                .min()
            )
        )
    else:
        gap = params.search_radius_mm / 4.0
    reach = min(max(3.0, 1.5 * gap), 8.0)
    seed = seed_stats(img, region, point, params.seed_radius_mm, floor)
    width = max(params.k_sigma * seed.sd, 3.0 * floor)
    similar = (np.abs(img - seed.median) <= width) & region.guard & region.ball(point, reach)
    local = seeded_region(similar, point, region.spacing_kji)
    return local | (region.ball(point, params.seed_radius_mm) & region.guard)


def region_growing(region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """Intensity-model region growing from every positive point; see the module docstring."""
    img = prepared(region, params.smoothing_mm, params.despeckle)
    return grown_on_prepared(img, region, params)


def relaxed_growing(region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """The best estimate from the first click when the preset's method found nothing: the
    region around the click that changes least with the threshold (:func:`_stable_region`),
    its border at the local midpoint, then the common clean-up. Empty when no such region
    stays inside the search limit and stands out from the tissue around it: tissue like the
    clicked one then extends past any lesion the reader can mean."""
    img = prepared(region, params.smoothing_mm, params.despeckle)
    floor = noise_sd(img, region.body)
    far_bg = background_stats(img, region, floor)
    limit = _limit(region)
    grown = _stable_region(img, region, region.positive[0], params, floor, far_bg, limit)
    if not grown.any():
        return grown
    return _finished(grown, region, params)


def _stable_region(
    img: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    params: SegmentParameters,
    floor: float,
    far_bg: RobustStats | None,
    limit: np.ndarray,
) -> np.ndarray:
    """The region around a click that changes least with the threshold, among those that stay
    inside the search limit and are at least as large as the click's seed ball (a maximally
    stable region), and that stands out (:func:`_stands_out`); empty if none does.

    Thresholds run from the level of the background or of the tissue 2-4 seed radii from the
    click, whichever is further from the lesion's, to the clicked voxel's own: where a
    low-contrast lesion meets its surroundings the region grows slowest as the threshold
    moves, whatever the two levels are. A region smaller than the seed ball is a fluctuation
    below the scale the click is read at; in uniform tissue every region is either that or
    reaches the limit. Without a preset polarity, the lesion is first taken to be brighter
    (or darker) than the tissue 2-4 seed radii from the click, since the far background that
    decided the preset's polarity did not tell the click's tissue from its own, then the
    other way.
    """
    seed = seed_stats(img, region, point, params.seed_radius_mm, floor)
    bg = far_bg or RobustStats.of(img[region.guard], floor)
    radius = max(params.seed_radius_mm, max(region.spacing_kji[1:]) * 0.6)
    ball = region.ball(point, radius) & region.guard
    near = region.ball(point, 4 * radius) & ~region.ball(point, 2 * radius) & region.body
    local = float(np.median(img[near])) if near.any() else bg.median
    if params.polarity in (Polarity.BRIGHT, Polarity.DARK):
        orders = [params.polarity is Polarity.BRIGHT]
    else:
        orders = [seed.median >= local, seed.median < local]
    for bright in orders:
        sign = 1.0 if bright else -1.0
        top = sign * float(img[point])
        bottom = min(sign * bg.median, sign * local, sign * seed.median, top - floor)
        chosen = _most_stable(sign * img, region, point, ball, limit, bottom, top)
        if chosen.any() and _stands_out(chosen, region, bright):
            border = _border_image(region, chosen, params.border_smoothing_mm)
            return _local_midpoint(border, region, chosen, bright, floor)
    return np.zeros(img.shape, dtype=bool)


def _most_stable(
    signed: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    ball: np.ndarray,
    limit: np.ndarray,
    bottom: float,
    top: float,
    steps: int = 16,
) -> np.ndarray:
    """Of the regions ``signed >= t`` holding the click, for ``steps`` thresholds from
    ``bottom`` to ``top``, the bounded one at least as large as ``ball`` whose size changes
    least between its neighbouring thresholds (holes filled); empty if there is none."""
    structure = ndimage.generate_binary_structure(3, 3)
    sizes: list[int] = []
    regions: list[np.ndarray | None] = []
    for t in np.linspace(bottom, top, steps):
        labels, _ = ndimage.label((signed >= t) & region.guard, structure)
        part = labels == labels[point] if labels[point] > 0 else None
        bounded = (
            part is not None
            and int(part.sum()) >= int(ball.sum())
            and not _unbounded(part, region, limit)
        )
        regions.append(part if bounded else None)
        sizes.append(int(part.sum()) if part is not None else 0)
    best, best_change = None, np.inf
    for n in range(1, steps - 1):
        if regions[n] is None or sizes[n + 1] == 0 or sizes[n - 1] == 0:
            continue
        change = abs(np.log(sizes[n - 1] / sizes[n + 1]))
        if change < best_change:
            best, best_change = n, change
    if best is None:
        return np.zeros(signed.shape, dtype=bool)
    return fill_holes(np.asarray(regions[best]))


def _stands_out(grown: np.ndarray, region: WorkRegion, bright: bool) -> bool:
    """Whether a region differs from the tissue 1-3 mm around it by at least 3 noise SDs (on
    the unsmoothed crop, in the lesion's direction). A fluctuation of smoothed noise that a
    threshold selects differs by about 1.5 (flat phantoms); ReMIND-022's low-contrast glioma by
    4.3-5.1."""
    shell = _shell(grown, region, 1.0, 3.0) & region.body
    if not shell.any() or not grown.any():
        return False
    contrast = float(region.values[grown].mean() - region.values[shell].mean())
    return (contrast if bright else -contrast) >= 3.0 * noise_sd(region.values, region.body)


def _limit(region: WorkRegion) -> np.ndarray:
    """Guard voxels within 2 mm of where a region must stop: the guard's edge or the edge of
    the image (a crop that reaches it has no guard edge there)."""
    padded = np.pad(region.guard, 1)
    depth = ndimage.distance_transform_edt(padded, sampling=region.spacing_kji)[1:-1, 1:-1, 1:-1]
    return np.asarray(region.guard & (depth <= 2.0))


def _unbounded(grown: np.ndarray, region: WorkRegion, limit: np.ndarray) -> bool:
    """Whether a region presses on its limit: more than 10% of it within 2 mm of the search
    boundary or the image's edge (``limit``, :func:`_limit`) or, with a box, every face of the
    box."""
    if not region.has_box:
        return bool((grown & limit).sum() > 0.1 * grown.sum())
    idx = np.argwhere(grown)
    box = np.argwhere(region.guard)
    lo_reached = (idx.min(axis=0) <= box.min(axis=0)).all()
    return bool(lo_reached and (idx.max(axis=0) >= box.max(axis=0)).all())


def grown_on_prepared(img: np.ndarray, region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """Region growing on a crop already prepared by :func:`appearance.prepared` (despeckled,
    smoothed): the methods that start from the growing prepare the crop once."""
    floor = noise_sd(img, region.body)
    far_bg = background_stats(img, region, floor)
    first, *corrections = region.positive
    grown = _grow_from(img, region, first, params, floor, far_bg)
    for p in corrections:
        grown |= _grow_locally(img, region, p, params, floor, grown)
    return _finished(grown, region, params)


def _normalized(img: np.ndarray, region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """Intensities scaled so lesion-background contrast is about 1 (random-walker input)."""
    floor = noise_sd(img, region.body)
    bg = background_stats(img, region, floor)
    seeds = [seed_stats(img, region, p, params.seed_radius_mm, floor) for p in region.positive]
    if bg is not None and params.polarity is Polarity.ABNORMAL:
        return np.asarray(np.abs(img - bg.median) / (4.0 * bg.sd), dtype=np.float32)
    ref = float(np.median([s.median for s in seeds])) if seeds else float(np.median(img))
    if bg is not None:
        scale = max(abs(ref - bg.median), 3.0 * bg.sd)
    else:
        scale = max(params.k_sigma * max(s.sd for s in seeds) if seeds else floor, floor)
    return np.asarray((img - ref) / scale, dtype=np.float32)


def random_walker_region(region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """Random walker deciding the uncertain band around the region growing.

    Positive seeds: the clicks and the region-growing result eroded by 2 mm; negative seeds:
    everything beyond that result dilated by 4 mm (and outside the box or search region) and
    the negative clicks. The walker places the boundary in the band from intensity edges.
    """
    from skimage.segmentation import random_walker  # its sparse solvers slow CLI start-up

    img = prepared(region, params.smoothing_mm, params.despeckle)
    grown = grown_on_prepared(img, region, params)
    allowed = region.guard & _dilate(grown, 4.0, region)
    labels = np.zeros(img.shape, dtype=np.int32)
    labels[~allowed] = 2
    radius = min(params.seed_radius_mm, 2.0)
    for p in region.negative:
        labels[region.ball(p, radius)] = 2
    interior = ndimage.binary_erosion(grown, ball_structure(2.0, region.spacing_kji, grown.shape))
    labels[interior & allowed] = 1
    for p in region.positive:
        labels[region.ball(p, radius) & allowed] = 1
    if not (labels == 1).any() or not (labels == 0).any():
        return _finished(labels == 1, region, params)
    data = _normalized(img, region, params)
    spacing = np.asarray(region.spacing_kji) / min(region.spacing_kji)
    with warnings.catch_warnings():  # probabilities slightly outside [0, 1] are harmless here
        warnings.simplefilter("ignore", UserWarning)
        result = random_walker(
            data, labels, beta=params.beta, mode="cg_j", tol=1e-3, spacing=spacing
        )
    return _finished(result == 1, region, params)


def _dilate(mask: np.ndarray, radius_mm: float, region: WorkRegion) -> np.ndarray:
    return np.asarray(
        ndimage.binary_dilation(mask, ball_structure(radius_mm, region.spacing_kji, mask.shape))
    )


def active_contour(region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """Geodesic active contour started from the region growing and kept inside the guard.

    Only the band within ``params.level_set.band_mm`` of the region growing may change: the
    contour refines the boundary, it does not search for the lesion.
    """
    img = prepared(region, params.smoothing_mm, params.despeckle)
    start = grown_on_prepared(img, region, params)
    if not start.any():
        return start
    data = _normalized(img, region, params)
    spacing = np.asarray(region.spacing_kji, dtype=float)
    thin = [axis for axis, n in enumerate(data.shape) if n < 4]  # ITK's Gaussian needs 4
    if not thin:
        inside = _level_set(data, start, spacing, params.level_set)
    elif len(thin) == 1:  # a 2D frame or a crop a few slices thick: slice by slice, in 2D
        axis = thin[0]
        plane = np.delete(spacing, axis)
        inside = np.stack(
            [
                _level_set(np.take(data, n, axis), np.take(start, n, axis), plane, params.level_set)
                for n in range(data.shape[axis])
            ],
            axis=axis,
        )
    else:  # thinner than the filters in two directions: the growing stands
        return _finished(start, region, params)
    # the clicks are hard constraints, as in the graph cut: ITK's level set knows nothing of
    # them and would shrink a correction click's voxels away
    keep, drop = region.click_balls(min(spacing))
    result = ((inside & _dilate(start, params.level_set.band_mm, region)) | keep) & ~drop
    return _finished(result, region, params)


def _level_set(
    data: np.ndarray, start: np.ndarray, spacing: np.ndarray, tuning: LevelSetTuning
) -> np.ndarray:
    """Geodesic active contour (ITK) from ``start`` on a 2D or 3D array whose every axis has at
    least 4 voxels; ``spacing`` in array axis order, mm. True = inside the final contour."""
    if not start.any():
        return start
    itk_spacing = tuple(float(v) for v in spacing[::-1])
    feature = sitk.GetImageFromArray(data)
    feature.SetSpacing(itk_spacing)
    edges = sitk.GradientMagnitudeRecursiveGaussian(feature, sigma=max(0.5, min(itk_spacing)))
    speed = sitk.BoundedReciprocal(edges * tuning.edge_gain)
    init = sitk.GetImageFromArray(start.astype(np.uint8))
    init.SetSpacing(itk_spacing)
    # ITK level sets are negative inside the contour
    level = sitk.SignedMaurerDistanceMap(
        init, insideIsPositive=False, useImageSpacing=True, squaredDistance=False
    )
    gac = sitk.GeodesicActiveContourLevelSetImageFilter()
    gac.SetPropagationScaling(tuning.propagation)
    gac.SetCurvatureScaling(tuning.curvature)
    gac.SetAdvectionScaling(tuning.advection)
    gac.SetMaximumRMSError(tuning.max_rms_error)
    gac.SetNumberOfIterations(tuning.iterations)
    out = gac.Execute(sitk.Cast(level, sitk.sitkFloat32), sitk.Cast(speed, sitk.sitkFloat32))
    return np.asarray(sitk.GetArrayFromImage(out) < 0)

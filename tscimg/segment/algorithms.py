"""The three algorithm families. Each takes a work region and parameters, returns a crop mask.

- region growing: an intensity model learned from the prompts (and from the background around
  a box when there is one) decides which voxels are lesion tissue; the region connected to the
  positive points is kept, holes filled.
- random walker: graph-based probabilities from positive seeds (the points) and negative seeds
  (outside the box or search region, negative points), on intensities normalized by the model.
- active contour: a geodesic active contour (level set) started from the region growing, pulled
  to the strongest nearby edges.

Every setting named here is a field of :class:`~tscimg.segment.parameters.RegionGrowingTuning`
(``SegmentParameters.region_growing``), :class:`~tscimg.segment.parameters.RandomWalkerTuning`
(``.random_walker``) or :class:`~tscimg.segment.parameters.LevelSetTuning` (``.level_set``),
given with its default.
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
    seed_radius,
    seed_stats,
)
from tscimg.segment.parameters import (
    LevelSetTuning,
    Polarity,
    RegionGrowingTuning,
    SegmentParameters,
)
from tscimg.segment.postprocess import ball_structure, fill_holes, finish, seeded_region
from tscimg.segment.region import WorkRegion


def _finished(mask: np.ndarray, region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """The common clean-up of every method (see :func:`postprocess.finish`). Padding (the one
    value a skull-stripped or masked image fills its outside with) is never lesion: a click in
    a BRATS tumour's necrosis grew into the outside of the brain, 15-120 mL of it, silently."""
    return finish(
        mask,
        region.positive,
        region.negative,
        region.spacing_kji,
        region.guard & region.body,
        params.closing_mm,
        params.opening_mm,
        params.region_growing.seed_reach_mm,
    )


def _prepared(region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """The crop as every family sees it (:func:`appearance.prepared`)."""
    return prepared(region, params.smoothing_mm, params.despeckle, params.region_growing)


def _noise(img: np.ndarray, region: WorkRegion, tuning: RegionGrowingTuning) -> float:
    """The image noise SD inside the body (:func:`appearance.noise_sd`)."""
    return noise_sd(img, region.body, tuning.noise_floor_fraction)


def _seed(
    img: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    params: SegmentParameters,
    floor: float,
) -> RobustStats:
    """The intensity model of a click's seed ball (:func:`appearance.seed_stats`)."""
    min_pixels = params.region_growing.seed_radius_min_pixels
    return seed_stats(img, region, point, params.seed_radius_mm, floor, min_pixels)


def _seeded(
    candidate: np.ndarray, point: tuple[int, int, int], region: WorkRegion, reach_mm: float
) -> np.ndarray:
    """The part of ``candidate`` that belongs to a click (:func:`postprocess.seeded_region`)."""
    return seeded_region(candidate, point, region.spacing_kji, reach_mm)


def _resolve(polarity: Polarity, fg: float, bg: RobustStats) -> Polarity:
    if polarity is Polarity.AUTO:
        return Polarity.BRIGHT if fg >= bg.median else Polarity.DARK
    return polarity


def _threshold(
    fg: float,
    local_bg: float,
    bg: float,
    noise: float,
    polarity: Polarity,
    tuning: RegionGrowingTuning,
) -> float:
    """Midpoint between lesion tissue and the competing tissue around it (50% partial volume),
    kept at least ``tuning.threshold_margin_sd`` (3) noise SDs beyond the background level
    ``bg``."""
    mid = 0.5 * (fg + local_bg)
    if polarity is Polarity.BRIGHT:
        return max(mid, bg + tuning.threshold_margin_sd * noise)
    return min(mid, bg - tuning.threshold_margin_sd * noise)


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
    tuning = params.region_growing
    reach = tuning.seed_reach_mm
    raw = float(region.values[point])
    seed = _seed(img, region, point, params, floor)
    if params.window is not None:
        lo, hi = params.window
        window = (img >= lo) & (img <= hi) & region.guard
        bg_level = (far_bg or RobustStats.of(img[region.guard], floor)).median
        if lo <= raw <= hi:
            grown = _seeded(window, point, region, reach)
            return _textured_border(region, grown, params, floor, bright=raw >= bg_level)
        if lo <= seed.median <= hi:
            grown = _window_near(window, region, point, params.seed_radius_mm)
            bright = seed.median >= bg_level
            return _textured_border(region, grown, params, floor, bright=bright)
    bg = far_bg or RobustStats.of(img[region.guard], floor)
    same_level = abs(seed.median - bg.median) < tuning.same_as_background_sd * floor
    if same_level and seed.sd < tuning.same_texture_sd_ratio * bg.sd:
        return np.zeros(img.shape, dtype=bool)  # same level and texture as the background
    polarity = _resolve(params.polarity, seed.median, bg)
    if polarity is Polarity.ABNORMAL:
        cand = (np.abs(img - bg.median) > tuning.abnormal_background_sd * bg.sd) & region.guard
        return _seeded(cand, point, region, reach)
    bright = polarity is Polarity.BRIGHT
    if bright and seed.median < bg.median - tuning.necrotic_click_sd * floor:
        smoothing_mm = params.border_smoothing_mm
        return _necrotic_centre(img, region, point, seed, floor, bg, smoothing_mm, tuning)
    threshold = _threshold(seed.median, bg.median, bg.median, floor, polarity, tuning)
    threshold = _below_leak(img, region, point, threshold, seed.median, bright, tuning)
    grown = np.zeros(img.shape, dtype=bool)
    inner_mm, outer_mm = tuning.surround_shell_mm
    for _ in range(tuning.refinement_passes):
        cand = ((img >= threshold) if bright else (img <= threshold)) & region.guard
        previous, grown = grown, _seeded(cand, point, region, reach)
        if previous.any() and grown.sum() < tuning.collapse_fraction * previous.sum():
            return previous  # collapsing into the lesion's own texture: keep the last region
        exploded = grown.sum() > tuning.leak_growth_ratio * previous.sum()
        if previous.any() and (exploded or _touches_guard(grown, region, tuning)):
            return previous  # exploding into neighbouring tissue: a leak, keep the last region
        tissue = grown & cand
        if tissue.sum() < tuning.min_tissue_voxels:
            break
        shell = _shell(grown, region, inner_mm, outer_mm)
        if (shell & region.body).sum() < tuning.min_surround_voxels:
            break
        # the competing tissue: the brighter part of the surroundings for a bright lesion
        q = params.surround_percentile
        local_bg = float(np.percentile(img[shell & region.body], q if bright else 100 - q))
        lesion_level = float(np.median(img[tissue]))
        updated = _threshold(lesion_level, local_bg, bg.median, floor, polarity, tuning)
        if abs(updated - threshold) <= tuning.convergence_sd * floor:
            break
        threshold = updated
    border = _border_image(region, grown, params.border_smoothing_mm, tuning)
    return _local_midpoint(border, region, grown, bright, floor, tuning)


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


def _border_image(
    region: WorkRegion, grown: np.ndarray, smoothing_mm: float, tuning: RegionGrowingTuning
) -> np.ndarray:
    """The crop barely smoothed (no despeckling), computed only within
    ``tuning.border_image_margin_mm`` (12 mm) of the grown region (the border decisions look
    ``border_window_mm``, 5 mm, out at most); elsewhere the raw crop."""
    out = np.asarray(region.values, dtype=np.float32).copy()
    if not grown.any() or smoothing_mm <= 0:
        return out
    box = _around(grown, region, tuning.border_image_margin_mm)
    sigma = [min(tuning.smoothing_max_voxels, smoothing_mm / s) for s in region.spacing_kji]
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
    tuning = params.region_growing
    border = _border_image(region, grown, params.border_smoothing_mm, tuning)
    # the closing stays inside the box
    box = _around(grown, region, params.closing_mm + tuning.window_closing_margin_mm)
    closed = grown[box]
    if params.closing_mm > 0:
        ball = ball_structure(params.closing_mm, region.spacing_kji, grown.shape)
        closed = ndimage.binary_closing(closed, ball)
    solid = fill_holes(closed)
    depth = ndimage.distance_transform_edt(solid, sampling=region.spacing_kji)
    core = depth > tuning.level_depth_mm
    if core.sum() < tuning.min_level_voxels:
        return grown
    level = float(np.mean(border[box][core]))
    return _local_midpoint(border, region, grown, bright, floor, tuning, level)


def _local_midpoint(
    img: np.ndarray,
    region: WorkRegion,
    grown: np.ndarray,
    bright: bool,
    floor: float,
    tuning: RegionGrowingTuning,
    lesion_level: float | None = None,
) -> np.ndarray:
    """Re-decide the voxels within ``tuning.border_band_mm`` (1.5 mm) of the border against
    the tissue *locally* outside.

    ``img`` is the crop barely smoothed (``border_smoothing_mm``): the growing's smoothing
    would move the 50% level inward wherever the border curves.

    One threshold for the whole border is the midpoint to the typical neighbour; where the
    lesion borders a darker (or brighter) tissue than that, the 50% partial-volume border lies
    elsewhere. Each border voxel is compared with the midpoint between the lesion's level and
    the mean of the tissue 1.5-4 mm outside nearby (``border_band_mm`` to
    ``border_ring_outer_mm``; Gaussian-weighted, sigma ``border_ring_sigma_mm``, 2 mm).
    """
    if grown.sum() < tuning.border_min_region_voxels:
        return grown
    spacing = np.asarray(region.spacing_kji)
    idx = np.argwhere(grown)
    margin = np.ceil(tuning.border_window_mm / spacing).astype(int) + 1
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + margin + 1, grown.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    sub, values = grown[box], img[box]
    outside = ndimage.distance_transform_edt(~sub, sampling=spacing)
    inside = ndimage.distance_transform_edt(sub, sampling=spacing)
    core = inside > tuning.level_depth_mm
    if core.sum() < tuning.min_level_voxels:
        return grown
    level = float(np.median(values[core])) if lesion_level is None else lesion_level
    band_mm = tuning.border_band_mm
    ring = (outside > band_mm) & (outside <= tuning.border_ring_outer_mm) & region.body[box]
    if ring.sum() < tuning.border_min_ring_voxels:
        return grown
    sigma = tuning.border_ring_sigma_mm / spacing
    weight = ndimage.gaussian_filter(ring.astype(np.float32), sigma)
    local = ndimage.gaussian_filter(np.where(ring, values, 0.0).astype(np.float32), sigma)
    have = weight > tuning.border_ring_min_weight
    # the floor only keeps the division finite where ``have`` is False
    local_bg = np.where(have, local / np.maximum(weight, 1e-6), np.nan)
    band = ((inside > 0) & (inside <= band_mm)) | ((outside > 0) & (outside <= band_mm))
    band &= have & region.guard[box]
    mid = 0.5 * (level + local_bg)
    if bright:
        mid = np.maximum(mid, local_bg + tuning.border_contrast_sd * floor)
        decided = values >= mid
    else:
        mid = np.minimum(mid, local_bg - tuning.border_contrast_sd * floor)
        decided = values <= mid
    refined = sub.copy()
    refined[band] = decided[band]
    out = grown.copy()
    out[box] = refined
    return out


def _touches_guard(grown: np.ndarray, region: WorkRegion, tuning: RegionGrowingTuning) -> bool:
    """Leak check: more than ``tuning.leak_touch_fraction`` (10%) of the region lies within
    ``leak_edge_mm`` (2 mm) of the guard's edge."""
    if region.has_box or not grown.any():
        return False
    edge = region.guard_edge(tuning.leak_edge_mm)
    return bool((grown & edge).sum() > tuning.leak_touch_fraction * grown.sum())


def _below_leak(
    img: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    threshold: float,
    lesion_level: float,
    bright: bool,
    tuning: RegionGrowingTuning,
) -> float:
    """Move the threshold ``tuning.leak_step_fraction`` (half-way) toward the lesion's own level
    while the grown region presses on the search boundary (a leak into neighbouring tissue),
    at most ``leak_passes`` (4) times."""
    for _ in range(tuning.leak_passes):
        cand = ((img >= threshold) if bright else (img <= threshold)) & region.guard
        grown = _seeded(cand, point, region, tuning.seed_reach_mm)
        if not _touches_guard(grown, region, tuning):
            break
        step = tuning.leak_step_fraction
        threshold = (1.0 - step) * threshold + step * lesion_level
    return threshold


def _necrotic_centre(
    img: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    seed: RobustStats,
    floor: float,
    bg: RobustStats,
    smoothing_mm: float,
    tuning: RegionGrowingTuning,
) -> np.ndarray:
    """A click in dark tissue of an enhancing lesion: the dark region holding the click plus
    the enhancing tissue it touches (necrosis and its rim are both tumour).

    The enhancing rim is found as tissue ``tuning.rim_level_sd`` (3) noise SDs above the
    background, but its outer border is placed as every other border is: at the local midpoint
    between the rim's own level and the tissue outside (:func:`_local_midpoint`, repeated
    until it stays put). The 3-SD level lies in the blurred fringe outside the rim: placed
    there, a 2.5 cm SEGA with a cystic centre measures 65-76% too large.
    """
    reach = tuning.seed_reach_mm
    dark_level = _threshold(seed.median, bg.median, bg.median, floor, Polarity.DARK, tuning)
    dark = _seeded((img <= dark_level) & region.guard, point, region, reach)
    if not dark.any():
        return dark
    structure = ndimage.generate_binary_structure(3, 3)
    noise = max(floor, tuning.rim_noise_background_fraction * bg.sd)
    bright = (img >= bg.median + tuning.rim_level_sd * noise) & region.guard
    labels, _ = ndimage.label(bright, structure)
    touching = np.unique(labels[_shell(dark, region, 0.0, tuning.rim_reach_mm) & bright])
    rim = np.isin(labels, touching[touching > 0])
    if not rim.any():
        return fill_holes(dark)
    # the rim's own level, away from both of its blurred edges
    depth = ndimage.distance_transform_edt(rim, sampling=region.spacing_kji)
    deep = depth > tuning.level_depth_mm
    rim_level = float(np.median(img[deep] if deep.sum() >= tuning.min_level_voxels else img[rim]))
    lesion = fill_holes(dark | rim)
    border = _border_image(region, lesion, smoothing_mm, tuning)
    # each pass re-decides ``border_band_mm`` on either side of the border and the fringe is
    # deeper (3-4 mm on a 2.5 cm SEGA): repeat until the border stays put. The necrosis stays
    # tumour wherever it reaches the border: only the rim is re-decided.
    for _ in range(tuning.rim_passes):
        previous = lesion
        lesion = _local_midpoint(border, region, lesion, True, floor, tuning, rim_level) | dark
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
    gap it fills (1.5 x its distance to the region grown so far, from 3 to 8 mm:
    ``tuning.correction_reach_gap_ratio``, ``correction_reach_min_mm`` and
    ``correction_reach_max_mm``): a correction mends a local error, it does not re-segment
    the lesion."""
    tuning = params.region_growing
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
        gap = tuning.correction_gap_search_fraction * params.search_radius_mm
    reach = min(
        max(tuning.correction_reach_min_mm, tuning.correction_reach_gap_ratio * gap),
        tuning.correction_reach_max_mm,
    )
    seed = _seed(img, region, point, params, floor)
    width = max(params.k_sigma * seed.sd, tuning.correction_width_sd * floor)
    similar = (np.abs(img - seed.median) <= width) & region.guard & region.ball(point, reach)
    local = _seeded(similar, point, region, tuning.seed_reach_mm)
    return local | (region.ball(point, params.seed_radius_mm) & region.guard)


def region_growing(region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """Intensity-model region growing from every positive point; see the module docstring."""
    img = _prepared(region, params)
    return grown_on_prepared(img, region, params)


def relaxed_growing(region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """The best estimate from the first click when the preset's method found nothing: the
    region around the click that changes least with the threshold (:func:`_stable_region`),
    its border at the local midpoint, then the common clean-up. Empty when no such region
    stays inside the search limit and stands out from the tissue around it: tissue like the
    clicked one then extends past any lesion the reader can mean."""
    img = _prepared(region, params)
    floor = _noise(img, region, params.region_growing)
    far_bg = background_stats(img, region, floor)
    limit = _limit(region, params.region_growing)
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
    click (``tuning.stable_ring_seed_radii``), whichever is further from the lesion's, to the
    clicked voxel's own (at least ``stable_min_span_sd`` noise SDs below it): where a
    low-contrast lesion meets its surroundings the region grows slowest as the threshold
    moves, whatever the two levels are. A region smaller than the seed ball is a fluctuation
    below the scale the click is read at; in uniform tissue every region is either that or
    reaches the limit. Without a preset polarity, the lesion is first taken to be brighter
    (or darker) than the tissue 2-4 seed radii from the click, since the far background that
    decided the preset's polarity did not tell the click's tissue from its own, then the
    other way.
    """
    tuning = params.region_growing
    seed = _seed(img, region, point, params, floor)
    bg = far_bg or RobustStats.of(img[region.guard], floor)
    radius = seed_radius(region, params.seed_radius_mm, tuning.seed_radius_min_pixels)
    ball = region.ball(point, radius) & region.guard
    inner, outer = tuning.stable_ring_seed_radii
    near = region.ball(point, outer * radius) & ~region.ball(point, inner * radius) & region.body
    local = float(np.median(img[near])) if near.any() else bg.median
    if params.polarity in (Polarity.BRIGHT, Polarity.DARK):
        orders = [params.polarity is Polarity.BRIGHT]
    else:
        orders = [seed.median >= local, seed.median < local]
    for bright in orders:
        sign = 1.0 if bright else -1.0
        top = sign * float(img[point])
        span = tuning.stable_min_span_sd * floor
        bottom = min(sign * bg.median, sign * local, sign * seed.median, top - span)
        chosen = _most_stable(sign * img, region, point, ball, limit, bottom, top, tuning)
        if chosen.any() and _stands_out(chosen, region, bright, tuning):
            border = _border_image(region, chosen, params.border_smoothing_mm, tuning)
            return _local_midpoint(border, region, chosen, bright, floor, tuning)
    return np.zeros(img.shape, dtype=bool)


def _most_stable(
    signed: np.ndarray,
    region: WorkRegion,
    point: tuple[int, int, int],
    ball: np.ndarray,
    limit: np.ndarray,
    bottom: float,
    top: float,
    tuning: RegionGrowingTuning,
) -> np.ndarray:
    """Of the regions ``signed >= t`` holding the click, for ``tuning.stable_steps`` (16)
    thresholds from ``bottom`` to ``top``, the bounded one at least as large as ``ball`` whose
    size changes least between its neighbouring thresholds (holes filled); empty if there is
    none."""
    steps = tuning.stable_steps
    structure = ndimage.generate_binary_structure(3, 3)
    sizes: list[int] = []
    regions: list[np.ndarray | None] = []
    for t in np.linspace(bottom, top, steps):
        labels, _ = ndimage.label((signed >= t) & region.guard, structure)
        part = labels == labels[point] if labels[point] > 0 else None
        bounded = (
            part is not None
            and int(part.sum()) >= int(ball.sum())
            and not _unbounded(part, region, limit, tuning)
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


def _stands_out(
    grown: np.ndarray, region: WorkRegion, bright: bool, tuning: RegionGrowingTuning
) -> bool:
    """Whether a region differs from the tissue 1-3 mm around it
    (``tuning.stands_out_shell_mm``) by at least ``stands_out_sd`` (3) noise SDs (on the
    unsmoothed crop, in the lesion's direction). A fluctuation of smoothed noise that a
    threshold selects differs by about 1.5 (flat phantoms); ReMIND-022's low-contrast glioma
    by 4.3-5.1."""
    inner_mm, outer_mm = tuning.stands_out_shell_mm
    shell = _shell(grown, region, inner_mm, outer_mm) & region.body
    if not shell.any() or not grown.any():
        return False
    contrast = float(region.values[grown].mean() - region.values[shell].mean())
    noise = _noise(region.values, region, tuning)
    return (contrast if bright else -contrast) >= tuning.stands_out_sd * noise


def _limit(region: WorkRegion, tuning: RegionGrowingTuning) -> np.ndarray:
    """Guard voxels within ``tuning.limit_edge_mm`` (2 mm) of where a region must stop: the
    guard's edge or the edge of the image (a crop that reaches it has no guard edge there)."""
    padded = np.pad(region.guard, 1)
    depth = ndimage.distance_transform_edt(padded, sampling=region.spacing_kji)[1:-1, 1:-1, 1:-1]
    return np.asarray(region.guard & (depth <= tuning.limit_edge_mm))


def _unbounded(
    grown: np.ndarray, region: WorkRegion, limit: np.ndarray, tuning: RegionGrowingTuning
) -> bool:
    """Whether a region presses on its limit: more than ``tuning.unbounded_fraction`` (10%) of
    it within ``limit_edge_mm`` (2 mm) of the search boundary or the image's edge (``limit``,
    :func:`_limit`) or, with a box, every face of the box."""
    if not region.has_box:
        return bool((grown & limit).sum() > tuning.unbounded_fraction * grown.sum())
    idx = np.argwhere(grown)
    box = np.argwhere(region.guard)
    lo_reached = (idx.min(axis=0) <= box.min(axis=0)).all()
    return bool(lo_reached and (idx.max(axis=0) >= box.max(axis=0)).all())


def grown_on_prepared(img: np.ndarray, region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """Region growing on a crop already prepared by :func:`appearance.prepared` (despeckled,
    smoothed): the methods that start from the growing prepare the crop once."""
    floor = _noise(img, region, params.region_growing)
    far_bg = background_stats(img, region, floor)
    first, *corrections = region.positive
    grown = _grow_from(img, region, first, params, floor, far_bg)
    for p in corrections:
        grown |= _grow_locally(img, region, p, params, floor, grown)
    return _finished(grown, region, params)


def _normalized(img: np.ndarray, region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """Intensities scaled so lesion-background contrast is about 1 (random walker and active
    contour input): by the contrast between the clicks' and the background's medians, at least
    ``tuning.normalize_min_contrast_sd`` (3) robust background SDs; for polarity ``abnormal``
    the distance from the background's median in ``normalize_abnormal_sd`` (4) of them."""
    tuning = params.region_growing
    floor = _noise(img, region, tuning)
    bg = background_stats(img, region, floor)
    seeds = [_seed(img, region, p, params, floor) for p in region.positive]
    if bg is not None and params.polarity is Polarity.ABNORMAL:
        scaled = np.abs(img - bg.median) / (tuning.normalize_abnormal_sd * bg.sd)
        return np.asarray(scaled, dtype=np.float32)
    ref = float(np.median([s.median for s in seeds])) if seeds else float(np.median(img))
    if bg is not None:
        scale = max(abs(ref - bg.median), tuning.normalize_min_contrast_sd * bg.sd)
    else:
        scale = max(params.k_sigma * max(s.sd for s in seeds) if seeds else floor, floor)
    return np.asarray((img - ref) / scale, dtype=np.float32)


def random_walker_region(region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """Random walker deciding the uncertain band around the region growing.

    Positive seeds: the clicks and the region-growing result eroded by 2 mm
    (``params.random_walker.interior_erosion_mm``); negative seeds: everything beyond that
    result dilated by 4 mm (``background_margin_mm``; and outside the box or search region)
    and the negative clicks. The walker places the boundary in the band from intensity edges.
    """
    from skimage.segmentation import random_walker  # its sparse solvers slow CLI start-up

    tuning = params.random_walker
    img = _prepared(region, params)
    grown = grown_on_prepared(img, region, params)
    allowed = region.guard & _dilate(grown, tuning.background_margin_mm, region)
    labels = np.zeros(img.shape, dtype=np.int32)
    labels[~allowed] = 2
    radius = min(params.seed_radius_mm, tuning.click_radius_max_mm)
    for p in region.negative:
        labels[region.ball(p, radius)] = 2
    erosion = ball_structure(tuning.interior_erosion_mm, region.spacing_kji, grown.shape)
    interior = ndimage.binary_erosion(grown, erosion)
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
            data,
            labels,
            beta=params.beta,
            mode=tuning.solver,
            tol=tuning.tolerance,
            spacing=spacing,
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
    img = _prepared(region, params)
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
    edges = sitk.GradientMagnitudeRecursiveGaussian(
        feature, sigma=max(tuning.gradient_sigma_min_mm, min(itk_spacing))
    )
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

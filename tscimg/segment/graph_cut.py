"""Graph cut inside the box: appearance, box shape prior and click geodesics in one energy.

Every setting named here is a field of :class:`~tscimg.segment.parameters.GraphCutTuning`
(``SegmentParameters.graph_cut``), given with its default.

A fourth family for heterogeneous lesions (enhancement, necrosis and non-enhancing tumour that
no single intensity window holds). With a box, each voxel of the box gets a min-cut label from

- appearance: Gaussian mixtures (3 components by default) of lesion and background
  intensities, the lesion trained on the region growing from the first click, the background on
  the tissue around the box and the box's far corners; re-trained once on the first cut
  (GrabCut). A growing that reaches the box through a margin wider than a voxel has leaked
  past the lesion (the box is the lesion's extent plus a margin): the lesion is then trained
  on the core of the shape prior and the background on the box's corners, as when the
  growing is empty or fills the box;
- a shape prior from the box: the protocol's box is the lesion's extent plus a margin, so the
  superellipsoid (exponent 2.5 by default) inscribed in it is likely lesion and the box's
  corners are likely not (logistic in the superellipsoidal radius); at a carried follow-up, the
  previous visit's lesion carried by the deformable registration instead (``Prompts.prior``);
- the clicks: the geodesic distance (path length weighted by intensity gradient) to the positive
  points against the distance to the negative points and to the box's faces. A correction click
  claims the tissue it reaches without crossing an edge, which is what a reader means by it;
- contrast-sensitive smoothness between face neighbours (Boykov-Jolly).

Positive points are lesion, negative points and everything outside the box are not (hard
constraints): each click holds a ball of 1.5 mm, at most a tenth of the lesion's size (the
geometric mean of the extent the box implies) and at most half-way to the nearest click of the
other kind, so the clicked voxel always keeps the reader's label. A correction click's evidence
reaches at most a quarter of the lesion's size (a 10 mm reach covers the whole of a lesion under
2 cm). Together they let a positive click beside a negative one change the outline (breast1,
143 voxels, 6-8 mm across, reaches Dice 0.90 in 6 protocol clicks). Without a box there is no
shape prior: the method is region growing.
Peers: GrabCut (Rother 2004), geodesic segmentation (Criminisi 2008, Bai & Sapiro 2009).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import maxflow
import numpy as np
from scipy import ndimage
from skimage.graph import MCP_Geometric

from tscimg.core.mask import bounding_box
from tscimg.segment.algorithms import grown_on_prepared, region_growing
from tscimg.segment.appearance import prepared
from tscimg.segment.intensity_model import IntensityModel, Mixture
from tscimg.segment.parameters import GraphCutTuning, SegmentParameters
from tscimg.segment.postprocess import Point, fill_holes
from tscimg.segment.prompts import clipped_box
from tscimg.segment.region import WorkRegion, nearest_mm

if TYPE_CHECKING:
    from sklearn.mixture import GaussianMixture


def _mixture(values: np.ndarray, tuning: GraphCutTuning) -> GaussianMixture:
    """A 1D Gaussian mixture fitted to a sample (deterministic)."""
    from sklearn.mixture import GaussianMixture  # scikit-learn takes 0.5 s to import

    if values.size > tuning.max_training_voxels:
        rng = np.random.default_rng(0)
        values = rng.choice(values, tuning.max_training_voxels, replace=False)
    k = max(1, min(tuning.components, values.size // tuning.voxels_per_component))
    model = GaussianMixture(
        k, random_state=0, reg_covar=tuning.mixture_reg_covar, max_iter=tuning.mixture_max_iter
    )
    return model.fit(values.reshape(-1, 1))


def _log_density(mixture: Mixture, values: np.ndarray, points: int) -> np.ndarray:
    """The mixture's log density at ``values``, interpolated from ``points`` points over their
    range (a 1D density is smooth; scoring every voxel of a large crop takes most of a second)."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return mixture.log_density(values)
    grid = np.linspace(lo, hi, points)
    return np.interp(values, grid, mixture.log_density(grid))


def _extent(selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last index per axis of the True voxels (``selected`` is not empty)."""
    box = bounding_box(selected)
    assert box is not None
    return np.array([s.start for s in box]), np.array([s.stop for s in box])


def _box_prior(
    shape: tuple[int, ...], box_lo: np.ndarray, box_hi: np.ndarray, tuning: GraphCutTuning
) -> tuple[np.ndarray, np.ndarray]:
    """The box's (super)ellipsoidal radius per voxel and the prior lesion probability from it.

    The box is the lesion's extent grown by 10% per side, so the tight extent is the box shrunk
    by 1/12 of its size per side; the superellipsoid inscribed in that extent,
    ``sum(|x_a / semi_a| ** p) <= 1`` (``p`` = ``tuning.prior_exponent``), has radius 1.
    """
    lo, hi = box_lo.astype(float), box_hi.astype(float)
    extent = hi - lo
    margin = tuning.box_margin_fraction
    tight_lo, tight_hi = lo + extent * margin, hi - extent * margin
    centre = (tight_lo + tight_hi - 1.0) / 2.0
    semi = np.maximum((tight_hi - tight_lo) / 2.0, 0.5)
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    power = tuning.prior_exponent
    radius = sum(
        np.abs((g - c) / s) ** power for g, c, s in zip(grids, centre, semi, strict=True)
    ) ** (1.0 / power)
    return radius, _prior_from_radius(radius, tuning)


def _prior_from_radius(radius: np.ndarray, tuning: GraphCutTuning) -> np.ndarray:
    """Prior lesion probability from a normalised radius (1 on the expected outline)."""
    prior = 1.0 / (1.0 + np.exp((radius - 1.0) / tuning.prior_softness))
    return np.clip(prior, tuning.prior_clip, 1.0 - tuning.prior_clip)


def box_shape(
    box: tuple[int, ...], size_ijk: tuple[int, ...], tuning: GraphCutTuning | None = None
) -> np.ndarray:
    """The shape the graph cut's box prior expects, as a ``[k, j, i]`` boolean array of a grid
    of ``size_ijk``: the superellipsoid inscribed in the box's tight extent (``tuning``: the
    prior's settings, :class:`GraphCutTuning` by default).

    Carried to a follow-up by the registration, it is the follow-up's prior: the same prior the
    baseline's cut balanced its appearance against, moved with the anatomy. A box reaching past
    the grid is clipped to it first, as :func:`~tscimg.segment.segment` clips it for its cut.

    Examples
    --------
    >>> shape = box_shape((1, 1, 1, 12, 12, 12), (14, 14, 14))
    >>> int(shape.sum()), bool(shape[7, 7, 7]), bool(shape[1, 1, 1])
    (696, True, False)
    >>> bool((box_shape((-9, 1, 1, 12, 12, 12), (14, 14, 14)) == box_shape((0, 1, 1, 12, 12, 12),
    ...      (14, 14, 14))).all())
    True
    """
    box = clipped_box(box, size_ijk)
    lo = np.array(box[:3][::-1], dtype=float)
    hi = np.array(box[3:][::-1], dtype=float) + 1.0
    tuning = GraphCutTuning() if tuning is None else tuning
    radius, _ = _box_prior(tuple(int(v) for v in hi - lo), np.zeros(3), hi - lo, tuning)
    out = np.zeros(tuple(size_ijk[::-1]), dtype=bool)
    a, b = lo.astype(int), hi.astype(int)
    out[a[0] : b[0], a[1] : b[1], a[2] : b[2]] = radius <= 1.0
    return out


def _outline_prior(
    expected: np.ndarray, spacing: np.ndarray, tuning: GraphCutTuning
) -> tuple[np.ndarray, np.ndarray]:
    """The shape prior from an expected outline (the previous visit's lesion carried by
    registration): a normalised radius ``1 + d / R`` per voxel, ``d`` the signed distance to the
    outline (mm, negative inside) and ``R`` the radius of a ball of the outline's volume, and the
    lesion probability from it as for the box's shape. The outline follows the lesion's
    deformation, so it does not hold a shrinking lesion at its old extent as the box would.
    """
    half = 0.5 * float(spacing.min())
    depth = ndimage.distance_transform_edt(expected, sampling=spacing)
    gap = ndimage.distance_transform_edt(~expected, sampling=spacing)
    signed = np.where(expected, half - depth, gap - half)
    equivalent = (3.0 * expected.sum() * float(np.prod(spacing)) / (4.0 * np.pi)) ** (1.0 / 3.0)
    radius = 1.0 + signed / max(equivalent, half)
    return radius, _prior_from_radius(radius, tuning)


def _coarsening(shape: tuple[int, ...], spacing: np.ndarray, tuning: GraphCutTuning) -> np.ndarray:
    """Block size per axis for the geodesic maps: 2 along the finer axes (spacing within
    ``coarse_axis_spacing_ratio`` of the finest, at least ``coarse_axis_min_voxels`` long) of a
    crop above ``coarse_above_voxels`` voxels, else 1."""
    if int(np.prod(shape)) <= tuning.coarse_above_voxels:
        return np.ones(len(shape), dtype=int)
    fine = (spacing <= tuning.coarse_axis_spacing_ratio * spacing.min()) & (
        np.asarray(shape) >= tuning.coarse_axis_min_voxels
    )
    return np.where(fine, 2, 1)


def _block_max(img: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Maximum over blocks of ``block`` voxels (the crop is edge-padded to whole blocks)."""
    pad = [(0, int(-n % b)) for n, b in zip(img.shape, block, strict=True)]
    padded = np.pad(img, pad, mode="edge")
    shape: list[int] = []
    for n, b in zip(padded.shape, block, strict=True):
        shape += [n // int(b), int(b)]
    return np.asarray(padded.reshape(shape).max(axis=tuple(range(1, 2 * img.ndim, 2))))


def _geodesic_odds(
    img: np.ndarray, region: WorkRegion, scale: float, inside: np.ndarray, tuning: GraphCutTuning
) -> np.ndarray:
    """Per voxel, d_neg / (d_pos + d_neg): geodesic distances (gradient-weighted path length,
    mm) to the positive points and to the negative points or the box's faces.

    On a large crop the distances are computed on 2x2x2 blocks (an eighth of the nodes) and
    interpolated back: the odds are smooth, and the cut keeps full resolution.
    """
    fine_spacing = np.asarray(region.spacing_kji)
    parts = np.gradient(img, *fine_spacing)
    gradient = np.sqrt(sum(p**2 for p in parts))
    gradient /= max(float(np.percentile(gradient[inside], 90)), 1e-9 * scale)
    block = _coarsening(img.shape, fine_spacing, tuning)
    # a block costs what its steepest voxel costs: a path cannot slip through an edge
    cost = 1.0 + tuning.gradient_cost * _block_max(gradient, block)
    spacing = fine_spacing * block
    inside_coarse = _block_max(inside, block)

    def distance(starts: list[tuple[int, ...]]) -> np.ndarray:
        found, _ = MCP_Geometric(cost, sampling=tuple(spacing)).find_costs(starts)
        return np.asarray(found)

    def coarse_point(p: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(int(v) // int(b) for v, b in zip(p, block, strict=True))

    to_positive = distance([coarse_point(p) for p in region.positive])
    faces = inside_coarse & ~ndimage.binary_erosion(inside_coarse)
    step = max(1, tuning.face_samples_per_voxels // int(np.prod(block)))
    starts = [tuple(int(v) for v in p) for p in np.argwhere(faces)[::step]]
    starts += [coarse_point(p) for p in region.negative]
    to_negative = distance(starts)
    odds = to_negative / (to_positive + to_negative + 1e-9)
    if np.any(block > 1):  # blocks back to voxels, linear interpolation between block centres
        odds = ndimage.zoom(odds, block, order=1, mode="nearest", grid_mode=True)
        odds = odds[tuple(slice(0, n) for n in img.shape)]
    return np.clip(odds, tuning.odds_clip, 1.0 - tuning.odds_clip)


def _cut(
    img: np.ndarray,
    spacing: np.ndarray,
    cost_lesion: np.ndarray,
    cost_background: np.ndarray,
    hard_lesion: np.ndarray,
    hard_background: np.ndarray,
    smoothness: float,
    scale: float,
) -> np.ndarray:
    """Minimum cut of the energy; True = lesion."""
    graph = maxflow.Graph[float]()
    ids = graph.add_grid_nodes(img.shape)
    steps = [float(np.mean((np.diff(img, axis=a) / scale) ** 2)) for a in range(3)]
    beta = 1.0 / (2.0 * float(np.mean(steps)) + 1e-9)
    for axis in range(3):
        step = np.diff(img, axis=axis) / scale
        weight = smoothness * np.exp(-beta * step**2) * float(spacing.min() / spacing[axis])
        pad = [(0, 0)] * 3
        pad[axis] = (0, 1)
        structure = np.zeros((3, 3, 3))
        where = [1, 1, 1]
        where[axis] = 2
        structure[tuple(where)] = 1
        graph.add_grid_edges(ids, weights=np.pad(weight, pad), structure=structure, symmetric=True)
    big = 1e9
    source = np.where(hard_lesion, big, np.where(hard_background, 0.0, cost_background))
    sink = np.where(hard_background, big, np.where(hard_lesion, 0.0, cost_lesion))
    low = np.minimum(source, sink)
    graph.add_grid_tedges(ids, source - low, sink - low)
    graph.maxflow()
    return np.asarray(~graph.get_grid_segments(ids))


def _click_evidence(
    raw_llr: np.ndarray,
    positive: tuple[Point, ...],
    negative: tuple[Point, ...],
    spacing: np.ndarray,
    reach_mm: float,
    tuning: GraphCutTuning,
) -> tuple[np.ndarray, np.ndarray]:
    """What each correction click says about the tissue around it, as cost bonuses
    ``(for lesion, for background)`` per voxel.

    A positive correction click says: tissue here at least as lesion-like as the clicked voxel
    is lesion. So, around the click, the voxels whose appearance log-odds ``raw_llr`` are at
    least the click's (less a margin of 1) get the bonus that flips the click's own odds by
    that margin; a negative click likewise for background. The bonus fades as a Gaussian of
    sigma = ``reach_mm``, at most half the distance to the nearest click of the other kind (a
    correction does not undo the clicks it sits between).
    """
    bonus = {1: np.zeros(raw_llr.shape), -1: np.zeros(raw_llr.shape)}
    if reach_mm <= 0:
        return bonus[1], bonus[-1]
    grids = np.ogrid[tuple(slice(0, n) for n in raw_llr.shape)]
    clicks = [(p, 1) for p in positive[1:]] + [(p, -1) for p in negative]
    for point, sign in clicks:
        others = negative if sign > 0 else positive
        sigma = min(reach_mm, 0.5 * nearest_mm(point, others, spacing))
        if sigma <= 0:
            continue
        at_click = sign * float(raw_llr[point])
        margin = tuning.click_margin
        shift = min(max(0.0, margin - at_click), tuning.log_ratio_clamp + margin)
        d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, point, spacing, strict=True))
        alike = sign * raw_llr >= at_click - margin
        bonus[sign] = np.maximum(bonus[sign], alike * shift * np.exp(-d2 / (2.0 * sigma**2)))
    return bonus[1], bonus[-1]


def _lesion_size_mm(
    box_lo: np.ndarray, box_hi: np.ndarray, spacing: np.ndarray, margin: float
) -> float:
    """The lesion's size implied by the box ``[lo, hi)``: the geometric mean of its tight extent
    (the box shrunk by ``margin`` of its size per side), mm."""
    extent_mm = (box_hi - box_lo) * (1.0 - 2.0 * margin) * spacing
    return float(np.exp(np.mean(np.log(np.maximum(extent_mm, spacing)))))


def _box_faces_reached(grown: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per face of the box ``[lo, hi)`` (the low faces per axis, then the high ones), whether the
    region reaches it."""
    if not grown.any():
        return np.zeros(2 * len(lo), dtype=bool)
    first, stop = _extent(grown)
    return np.concatenate([first <= lo, stop >= hi])


def _leaked(grown: np.ndarray, lo: np.ndarray, hi: np.ndarray, tuning: GraphCutTuning) -> bool:
    """Whether a region grown from the click leaked past the lesion: it reaches a face of the
    box ``[lo, hi)`` along an axis where the box's margin is wider than
    ``tuning.leak_margin_min_voxels``.

    The protocol's box is the lesion's extent plus a margin (``box_margin_fraction`` of its
    size per side), so a region that reaches the box has grown through the margin. Where the
    margin is a voxel or less (a lesion 12 voxels long or shorter along that axis: thick
    slices, small lesions) the border voxel's partial volume alone reaches it.

    Examples
    --------
    >>> grown = np.zeros((30, 30, 30), dtype=bool)
    >>> grown[3:27, 3:27, 3:27] = True
    >>> lo, hi = np.zeros(3, int), np.full(3, 30)
    >>> _leaked(grown, lo, hi, GraphCutTuning())
    False
    >>> grown[3:27, 3:27, 0] = True
    >>> _leaked(grown, lo, hi, GraphCutTuning())
    True
    >>> _leaked(grown[:, :, :10], lo, np.array([30, 30, 10]), GraphCutTuning())  # margin 0.8
    False
    """
    margin = (hi - lo) * tuning.box_margin_fraction
    wide = np.tile(margin > tuning.leak_margin_min_voxels, 2)
    return bool(np.any(_box_faces_reached(grown, lo, hi) & wide))


def _fits_box(grown: np.ndarray, lo: np.ndarray, hi: np.ndarray, tuning: GraphCutTuning) -> bool:
    """Whether a region spans the extent the box ``[lo, hi)`` implies: each face of its bounding
    box lies within ``fits_box_gap`` of the box size inside the box's tight extent and none
    reaches the box itself. Then the region growing found the whole lesion."""
    if not grown.any():
        return False
    extent = hi - lo
    first, stop = _extent(grown)
    gaps = np.concatenate([(first - lo) / extent, (hi - stop) / extent])
    gaps -= tuning.box_margin_fraction
    spans = np.all(gaps <= tuning.fits_box_gap)
    touches = _box_faces_reached(grown, lo, hi)
    return bool(spans and not np.any(touches & np.tile(extent > 2, 2)))


def graph_cut(region: WorkRegion, params: SegmentParameters) -> np.ndarray:
    """Graph cut in the box (see the module docstring and :func:`graph_cut_learning`)."""
    return graph_cut_learning(region, params)[0]


def graph_cut_learning(
    region: WorkRegion, params: SegmentParameters
) -> tuple[np.ndarray, IntensityModel | None]:
    """Graph cut in the box (see the module docstring), and the intensity model it placed the
    border with (``None`` where region growing decided).

    Region growing decides alone when there is no box (no shape prior), on a single slice, and
    when the region grown from the first click already spans the box's extent without
    reaching it (a homogeneous lesion with a clear border: the growing is exact there), unless
    ``GraphCutTuning.growing_decides_alone`` is off (``tscimg track`` at a prompted visit whose
    model its follow-ups reuse).

    With ``region.intensity_model`` (a carried follow-up: the model its reference visit's cut
    learned, mapped onto this scan's intensities) the cut uses that model as it is, once,
    instead of learning one: both visits' borders are placed by one intensity balance. The
    region growing then never decides alone, even where it spans the carried box: the baseline's
    border was placed by the cut, and the follow-up's is placed the same way (a carried box is
    the registration's, up to a few percent larger than the lesion; a shrunken MR lesion whose
    growing filled such a box read +19% where the cut with the carried model reads -0.4%).
    """
    if not region.has_box or min(region.values.shape) < 3:
        return region_growing(region, params), None
    tuning = params.graph_cut
    img = prepared(region, params.smoothing_mm, params.despeckle, params.region_growing)
    inside = region.guard
    box_lo, box_hi = _extent(inside)
    # the lesion model starts from the region growing of the first click alone, so corrections
    # act through the geodesic term and the training sample, not by re-growing differently
    first = grown_on_prepared(
        img, replace(region, positive=region.positive[:1], negative=()), params
    )
    expected = None if region.prior is None else region.prior & inside
    decides = region.intensity_model is None and tuning.growing_decides_alone
    if decides and _fits_box(first, box_lo, box_hi, tuning):
        corrected = len(region.positive) > 1 or bool(region.negative)
        return (grown_on_prepared(img, region, params) if corrected else first), None
    spacing = np.asarray(region.spacing_kji)
    if expected is not None and expected.any():
        radius, prior = _outline_prior(expected, spacing, tuning)
    else:
        radius, prior = _box_prior(img.shape, box_lo, box_hi, tuning)
    size_mm = _lesion_size_mm(box_lo, box_hi, spacing, tuning.box_margin_fraction)
    hard_lesion, hard_background = region.click_balls(
        min(tuning.hard_radius_mm, tuning.hard_fraction * size_mm)
    )
    hard_background |= ~inside
    hard_lesion &= ~hard_background
    fewest, most = tuning.trained_sample_range
    usable = fewest < first.sum() < most * inside.sum()
    # a growing that reached the box leaked past the lesion's border: a lesion model learned
    # from it is mostly the tissue it leaked into, and where it stops turns on noise, which a
    # cut trained on it follows (BRATS pat0005: 62 or 80 mL from 0.5% noise). The prior's
    # core does not move with noise.
    if usable and not _leaked(first, box_lo, box_hi, tuning):
        lesion_sample = first | hard_lesion
        far = ~ndimage.binary_dilation(first, iterations=tuning.background_gap_voxels)
        background_sample = ~inside | (far & (radius > tuning.background_radius))
    else:
        lesion_sample = (radius < tuning.core_radius) | hard_lesion
        background_sample = ~inside | (radius > tuning.shell_radius)
    for p in region.positive[1:]:
        lesion_sample |= region.ball(p, tuning.train_radius_mm) & inside
    for p in region.negative:
        background_sample |= region.ball(p, tuning.train_radius_mm)
    lesion_sample &= ~hard_background
    background_sample &= ~hard_lesion
    scale = float(np.percentile(img[inside], 99) - np.percentile(img[inside], 1)) + 1e-6
    odds = _geodesic_odds(img, region, scale, inside, tuning)
    values = (img / scale).ravel()
    result = lesion_sample
    given = region.intensity_model
    learned: IntensityModel | None = None
    for _ in range(1 if given is not None else tuning.iterations):
        if given is not None:
            model = given.mapped(1.0 / scale, 0.0)  # onto the cut's units, intensity / scale
        elif min(lesion_sample.sum(), background_sample.sum()) < tuning.min_training_voxels:
            break  # nothing to learn an appearance from: the last cut (or the sample) stands
        else:
            model = IntensityModel(
                Mixture.from_fitted(_mixture(values[lesion_sample.ravel()], tuning)),
                Mixture.from_fitted(_mixture(values[background_sample.ravel()], tuning)),
            )
        learned = model
        log_lesion = _log_density(model.lesion, values, tuning.density_points).reshape(img.shape)
        log_background = _log_density(model.background, values, tuning.density_points).reshape(
            img.shape
        )
        raw_llr = log_lesion - log_background
        log_lesion = np.maximum(log_lesion, log_background - tuning.log_ratio_clamp)
        log_background = np.maximum(log_background, log_lesion - tuning.log_ratio_clamp)
        cost_lesion = -log_lesion - params.prior_weight * np.log(prior)
        cost_lesion -= params.geodesic_weight * np.log(odds)
        cost_background = -log_background - params.prior_weight * np.log(1.0 - prior)
        cost_background -= params.geodesic_weight * np.log(1.0 - odds)
        bonus_lesion, bonus_background = _click_evidence(
            raw_llr,
            region.positive,
            region.negative,
            spacing,
            min(params.click_reach_mm, tuning.reach_fraction * size_mm),
            tuning,
        )
        cost_lesion = cost_lesion - bonus_lesion
        cost_background = cost_background - bonus_background
        result = _cut(
            img,
            spacing,
            cost_lesion,
            cost_background,
            hard_lesion,
            hard_background,
            params.smoothness,
            scale,
        )
        lesion_sample = (result | hard_lesion) & ~hard_background
        background_sample = (~result | ~inside) & ~hard_lesion
    labels, _ = ndimage.label(result)
    held = np.unique([labels[p] for p in region.positive])
    held = held[held > 0]
    if held.size:
        result = np.isin(labels, held)
    # padding (outside a skull-stripped image) is never lesion; taken out after the cut, so
    # the appearance the cut learned (and carries to follow-ups) is the image's own
    return (
        fill_holes(result) & ~hard_background & region.body,
        None if learned is None else learned.mapped(scale, 0.0),
    )

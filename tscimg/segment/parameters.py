"""Segmentation parameters: one frozen dataclass, filled in per tumour type by the presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class Method(StrEnum):
    """The algorithm families (compared in benchmarks/segmentation_accuracy.py)."""

    REGION_GROWING = "region_growing"  # intensity model learned from the prompts, grown from seeds
    RANDOM_WALKER = "random_walker"  # graph-based, positive and negative seeds
    ACTIVE_CONTOUR = "active_contour"  # geodesic active contour refining the region growing
    GRAPH_CUT = "graph_cut"  # min cut of appearance + box prior + click geodesics (needs a box)


class Polarity(StrEnum):
    """How the lesion differs from its surroundings."""

    AUTO = "auto"  # decided from the prompts (and the background around a box)
    BRIGHT = "bright"  # brighter than surroundings (enhancing, hyperechoic)
    DARK = "dark"  # darker than surroundings
    ABNORMAL = "abnormal"  # unlike the background either way (enhancement plus necrosis)


@dataclass(frozen=True)
class GraphCutTuning:
    """The graph cut's inner settings (:mod:`tscimg.segment.graph_cut`); every one changes masks.

    The defaults are the ones behind the figures in docs/accuracy.md. They are in the parameters
    (and so in every report's provenance) rather than in the code so that a preset or a study
    can set them and a reader can see what was used.

    Parameters
    ----------
    components
        Gaussians per appearance model (lesion, background).
    iterations
        Cuts: the first on the initial models, each further one re-trained on the previous cut
        (GrabCut).
    hard_radius_mm
        Radius of the ball around a click that is fixed as lesion (or background), mm; at most
        ``hard_fraction`` of the lesion's size.
    hard_fraction
        A click's fixed ball is at most this fraction of the lesion's size (geometric mean of
        the extent the box implies).
    train_radius_mm
        Radius of a correction click's ball added to the training sample, mm.
    reach_fraction
        A correction click's evidence reaches at most this fraction of the lesion's size.
    click_margin
        A correction click's own appearance log-odds are flipped by this margin.
    prior_exponent
        Shape of the box prior: the superellipsoid ``sum(|x/a|**p) <= 1`` inscribed in the
        box's tight extent (2: an ellipsoid; larger: towards the box). Real tumours fill their
        extent more than an ellipsoid does (brain1: 29% of its label outside the inscribed
        ellipsoid, 14% outside the exponent-2.5 shape).
    prior_softness
        Width of the prior's logistic, in (super)ellipsoidal radius.
    prior_clip
        The prior probability is kept within ``[clip, 1 - clip]``: no voxel is decided by the
        prior alone.
    box_margin_fraction
        The protocol's box is the lesion's extent plus 10% per side, so the tight extent is the
        box shrunk by this fraction of its size per side (1/12).
    fits_box_gap
        The first click's region growing decides alone when each face of its bounding box lies
        within this fraction of the box size inside the tight extent (and none reaches the box).
    growing_decides_alone
        Whether such a growing may decide alone (then no appearance model is learned). ``tscimg
        track`` sets ``False`` at a visit the reader prompted with a box: the cut places that
        border and learns the model its carried follow-ups reuse. A growing that decided alone
        left the follow-ups nothing to reuse: BRATS pat0006's FLAIR tumour grew to 196 mL at the
        baseline, and at each follow-up the growing from the carried click leaked and a cut
        learned afresh read +37% on the unchanged, moved scan (docs/longitudinal.md).
    gradient_cost
        Geodesic cost of crossing the 90th-percentile intensity gradient, per mm.
    coarse_above_voxels
        Crops above this many voxels get their geodesic maps on 2x2x2 blocks.
    log_ratio_clamp
        Appearance log-likelihood ratios are clipped at this value (one outlier does not decide).
    max_training_voxels
        At most this many voxels (a deterministic random sample) train one mixture.
    min_training_voxels
        Fewer voxels than this train no mixture: the last cut (or the sample) stands.
    trained_sample_range
        The first click's region growing trains the lesion model when its size is within
        ``(low voxels, high fraction of the box)`` and it has not leaked (see
        ``leak_margin_min_voxels``); otherwise the prior's core does.
    leak_margin_min_voxels
        The first click's region growing leaked when it reaches a face of the box along an axis
        where the box's margin (``box_margin_fraction`` of its size) is wider than this many
        voxels: it grew through the margin, past the lesion's border. Where the margin is
        narrower, the border voxel's partial volume alone reaches it. A leaked growing trains
        nothing (the prior's core does): where a leak stops turns on noise (BRATS pat0005: 62
        or 80 mL from 0.5% noise).
    core_radius
        Without a usable growing: voxels inside this prior radius train the lesion model.
    shell_radius
        Without a usable growing: voxels beyond this prior radius train the background model.
    background_radius
        With a usable growing: background samples lie beyond this prior radius (and
        ``background_gap_voxels`` away from the growing).
    background_gap_voxels
        With a usable growing: background samples lie at least this many voxels from it.
    voxels_per_component
        A mixture has at most one Gaussian per this many training voxels.
    mixture_reg_covar
        Variance added to each Gaussian (scikit-learn's ``reg_covar``, in normalised intensity
        squared): no component collapses onto one value.
    mixture_max_iter
        EM iterations per mixture fit at most.
    density_points
        The mixtures' log densities are evaluated at this many points over the intensity range
        and interpolated (a 1D density is smooth; scoring every voxel of a large crop is slow).
    odds_clip
        The clicks' geodesic odds are kept within ``[clip, 1 - clip]``.
    face_samples_per_voxels
        The geodesic distance to the box's faces starts from every n-th face voxel, n this
        value over the block size (1 at least).
    coarse_axis_spacing_ratio
        Coarse blocks are 2 voxels along axes whose spacing is within this factor of the finest.
    coarse_axis_min_voxels
        ... and that have at least this many voxels in the crop.
    """

    components: int = 3
    iterations: int = 2
    hard_radius_mm: float = 1.5
    hard_fraction: float = 0.1
    train_radius_mm: float = 3.0
    reach_fraction: float = 0.25
    click_margin: float = 1.0
    prior_exponent: float = 2.5
    prior_softness: float = 0.15
    prior_clip: float = 0.02
    box_margin_fraction: float = 1.0 / 12.0
    fits_box_gap: float = 0.1
    growing_decides_alone: bool = True
    gradient_cost: float = 5.0
    coarse_above_voxels: int = 250_000
    log_ratio_clamp: float = 8.0
    max_training_voxels: int = 20_000
    min_training_voxels: int = 10
    trained_sample_range: tuple[int, float] = (20, 0.8)
    leak_margin_min_voxels: float = 1.0
    core_radius: float = 0.6
    shell_radius: float = 1.15
    background_radius: float = 0.8
    background_gap_voxels: int = 2
    voxels_per_component: int = 50
    mixture_reg_covar: float = 1e-3
    mixture_max_iter: int = 50
    density_points: int = 2048
    odds_clip: float = 0.02
    face_samples_per_voxels: int = 7
    coarse_axis_spacing_ratio: float = 1.5
    coarse_axis_min_voxels: int = 16


@dataclass(frozen=True)
class LevelSetTuning:
    """The geodesic active contour's settings (ITK's GeodesicActiveContourLevelSetImageFilter).

    Parameters
    ----------
    propagation
        Propagation scaling (balloon force).
    curvature
        Curvature scaling. No stronger than propagation: at 1.0 the curvature flow shrinks
        lesions about 1.5 cm across or smaller to nothing (breast1, ReMIND-022, echo).
    advection
        Advection scaling (pull towards edges).
    max_rms_error
        Convergence: the largest RMS change of the level set per iteration.
    iterations
        At most this many iterations.
    edge_gain
        The speed image is ``1 / (1 + gain x gradient magnitude)`` of the normalised image.
    gradient_sigma_min_mm
        The gradient magnitude is taken at a Gaussian scale of the finest spacing, at least
        this, mm.
    band_mm
        Only the band within this distance of the region growing may change, mm: the contour
        refines a boundary, it does not search for the lesion.
    """

    propagation: float = 0.2
    curvature: float = 0.2
    advection: float = 1.0
    max_rms_error: float = 0.01
    iterations: int = 100
    edge_gain: float = 4.0
    gradient_sigma_min_mm: float = 0.5
    band_mm: float = 4.0


@dataclass(frozen=True)
class RegionGrowingTuning:
    """The region growing's inner settings (:mod:`tscimg.segment.algorithms`), and those of the
    crop, the image preparation and the intensity model that every family starts from; every
    one changes masks.

    The defaults are the ones behind the figures in docs/accuracy.md. They are in the
    parameters (and so in every report's provenance) rather than in the code so that a preset
    or a study can set them and a reader can see what was used. A noise SD (``_sd``) is the
    image noise estimated from neighbour differences (:func:`appearance.noise_sd`); a robust
    SD (1.4826 x MAD) of a sample where said so.

    Parameters
    ----------
    crop_margin_fraction
        With a box, the crop is the box grown per side by this fraction of its size; the crop
        outside the box is the background sample.
    crop_margin_min_mm
        With a box, the crop's margin is at least this wide, mm.
    crop_margin_min_voxels
        With a box, the crop's margin is at least this many voxels wide.
    background_shell_fraction
        Without a box, the background sample is the shell from this fraction of the search
        radius to the search radius around the positive points.
    padding_min_fraction
        Voxels at the crop's minimum are constant padding outside the body (skull-stripped
        images), excluded from every sample, when they are at least this fraction of the crop.
    smoothing_max_voxels
        A Gaussian smoothing's sigma is at most this many voxels along any axis.
    despeckle_width_voxels
        The despeckling median's width along axes of at most ``despeckle_max_spacing_mm``
        (ultrasound speckle grains are about a millimetre); 1 along coarser ones.
    despeckle_max_spacing_mm
        The coarsest voxel spacing the despeckling median spans, mm: a median across 5 mm
        slices would reach a slice beyond the lesion's first or last and shave it.
    noise_floor_fraction
        The noise estimate is at least this fraction of the crop's 1-99 percentile range.
    seed_radius_min_pixels
        A click's seed ball (``seed_radius_mm``) has a radius of at least this many of the
        coarser in-plane voxel spacing.
    seed_reach_mm
        A click outside every component of a region keeps the nearest one within this
        distance, mm (growing and the final clean-up).
    same_as_background_sd
        A click whose seed ball's median lies within this many noise SDs of the background's
        median, and whose robust SD is below ``same_texture_sd_ratio`` times the background's,
        is background tissue: nothing is grown from it.
    same_texture_sd_ratio
        See ``same_as_background_sd``.
    abnormal_background_sd
        Polarity ``abnormal``: lesion tissue differs from the background's median by more than
        this many robust background SDs.
    necrotic_click_sd
        A click this many noise SDs darker than the background in a bright lesion is in its
        necrotic centre.
    threshold_margin_sd
        The growing threshold (the midpoint between the lesion and the tissue around it) stays
        at least this many noise SDs beyond the background's level.
    refinement_passes
        At most this many growing passes, each re-deciding the threshold against the tissue
        around the last region.
    collapse_fraction
        A pass whose region shrinks below this fraction of the last one collapsed into the
        lesion's own texture: the last region stands.
    leak_growth_ratio
        A pass whose region grows beyond this many times the last one leaked into neighbouring
        tissue: the last region stands.
    min_tissue_voxels
        Refinement stops when fewer lesion voxels than this pass the threshold.
    surround_shell_mm
        The competing tissue around a grown region: the shell from the first to the second
        distance outside it, mm.
    min_surround_voxels
        Refinement stops when that shell holds fewer body voxels than this.
    convergence_sd
        Refinement stops when the threshold moves by at most this many noise SDs.
    leak_passes
        While the region presses on the search boundary, the threshold is moved toward the
        lesion's level, at most this many times.
    leak_step_fraction
        Each such move covers this fraction of the distance to the lesion's level.
    leak_edge_mm
        Guard voxels within this distance of the guard's edge are where a leak presses, mm.
    leak_touch_fraction
        Without a box, a region with more than this fraction of its voxels there has leaked.
    border_image_margin_mm
        The barely smoothed image the border is decided on is computed within this distance of
        the region only, mm (the border decisions look ``border_window_mm`` out at most).
    border_window_mm
        The border decisions use the region's bounding box grown by this much, mm.
    border_min_region_voxels
        A region smaller than this keeps its border as grown.
    border_band_mm
        The voxels within this distance of the border, on either side, are re-decided against
        the tissue locally outside: from this distance to ``border_ring_outer_mm`` outside the
        region, mm.
    border_ring_outer_mm
        See ``border_band_mm``, mm.
    border_ring_sigma_mm
        Gaussian sigma of the local mean of that tissue, mm.
    border_ring_min_weight
        Where the Gaussian weight of that tissue is below this, a border voxel is not
        re-decided (nothing outside nearby to compare with).
    border_min_ring_voxels
        With fewer voxels than this in that tissue, the border stays as grown.
    border_contrast_sd
        A re-decided border lies at least this many noise SDs beyond the local tissue outside.
    level_depth_mm
        A lesion's own level is the intensity of its voxels deeper than this inside it, mm,
        away from its blurred border.
    min_level_voxels
        With fewer voxels than this that deep, the border stays as grown (a necrotic centre's
        rim then takes its level from the whole rim).
    window_closing_margin_mm
        A fixed window's region is closed within its bounding box grown by the closing radius
        plus this much, mm.
    rim_level_sd
        The enhancing rim around a necrotic centre is tissue this many noise SDs above the
        background's median (the noise taken as at least ``rim_noise_background_fraction`` of
        the background's robust SD), in components reaching within ``rim_reach_mm`` of the
        dark centre.
    rim_noise_background_fraction
        See ``rim_level_sd``.
    rim_reach_mm
        See ``rim_level_sd``, mm.
    rim_passes
        The rim's outer border is re-decided until it stays put, at most this many times.
    correction_reach_gap_ratio
        A correction click's tissue is grown within this many times the click's distance to
        the region grown so far, from ``correction_reach_min_mm`` to
        ``correction_reach_max_mm``: a correction mends a local error, it does not re-segment
        the lesion.
    correction_reach_min_mm
        See ``correction_reach_gap_ratio``, mm.
    correction_reach_max_mm
        See ``correction_reach_gap_ratio``, mm.
    correction_gap_search_fraction
        With nothing grown yet, that distance is this fraction of the search radius.
    correction_width_sd
        Tissue like the clicked one: within ``k_sigma`` robust SDs of its seed ball's median,
        and at least this many noise SDs.
    stable_ring_seed_radii
        The best estimate for a click that hardly stands out compares it with the tissue from
        the first to the second of these multiples of the seed radius around it.
    stable_steps
        Thresholds tried between the surroundings' level and the clicked voxel's own.
    stable_min_span_sd
        Those thresholds span at least this many noise SDs.
    stands_out_shell_mm
        A best estimate must stand out from the tissue in the shell from the first to the
        second distance around it, mm, by at least ``stands_out_sd``.
    stands_out_sd
        Noise SDs (of the unsmoothed crop) by which a best estimate must stand out.
    limit_edge_mm
        A best estimate must not press on its limit: guard voxels within this distance of the
        guard's edge or of the image's edge, mm, holding more than ``unbounded_fraction`` of
        it.
    unbounded_fraction
        See ``limit_edge_mm``.
    relaxed_search_factor
        Without a box, a best estimate is looked for again within this many search radii (a
        lesion wider than the search radius), and kept if no larger than the search ball.
    normalize_abnormal_sd
        Random walker and active contour input, polarity ``abnormal``: the distance from the
        background's median in this many robust background SDs.
    normalize_min_contrast_sd
        Random walker and active contour input, other polarities: the intensities are scaled
        by the lesion-background contrast, at least this many robust background SDs.
    """

    crop_margin_fraction: float = 0.25
    crop_margin_min_mm: float = 4.0
    crop_margin_min_voxels: int = 2
    background_shell_fraction: float = 0.75
    padding_min_fraction: float = 0.02
    smoothing_max_voxels: float = 1.5
    despeckle_width_voxels: int = 3
    despeckle_max_spacing_mm: float = 1.0
    noise_floor_fraction: float = 1e-3
    seed_radius_min_pixels: float = 0.6
    seed_reach_mm: float = 3.0
    same_as_background_sd: float = 3.0
    same_texture_sd_ratio: float = 1.5
    abnormal_background_sd: float = 3.0
    necrotic_click_sd: float = 3.0
    threshold_margin_sd: float = 3.0
    refinement_passes: int = 5
    collapse_fraction: float = 0.5
    leak_growth_ratio: float = 3.0
    min_tissue_voxels: int = 5
    surround_shell_mm: tuple[float, float] = (1.0, 3.0)
    min_surround_voxels: int = 10
    convergence_sd: float = 0.25
    leak_passes: int = 4
    leak_step_fraction: float = 0.5
    leak_edge_mm: float = 2.0
    leak_touch_fraction: float = 0.1
    border_image_margin_mm: float = 12.0
    border_window_mm: float = 5.0
    border_min_region_voxels: int = 20
    border_band_mm: float = 1.5
    border_ring_outer_mm: float = 4.0
    border_ring_sigma_mm: float = 2.0
    border_ring_min_weight: float = 1e-3
    border_min_ring_voxels: int = 10
    border_contrast_sd: float = 1.0
    level_depth_mm: float = 1.5
    min_level_voxels: int = 10
    window_closing_margin_mm: float = 1.0
    rim_level_sd: float = 3.0
    rim_noise_background_fraction: float = 0.5
    rim_reach_mm: float = 2.0
    rim_passes: int = 6
    correction_reach_gap_ratio: float = 1.5
    correction_reach_min_mm: float = 3.0
    correction_reach_max_mm: float = 8.0
    correction_gap_search_fraction: float = 0.25
    correction_width_sd: float = 3.0
    stable_ring_seed_radii: tuple[float, float] = (2.0, 4.0)
    stable_steps: int = 16
    stable_min_span_sd: float = 1.0
    stands_out_shell_mm: tuple[float, float] = (1.0, 3.0)
    stands_out_sd: float = 3.0
    limit_edge_mm: float = 2.0
    unbounded_fraction: float = 0.1
    relaxed_search_factor: float = 2.0
    normalize_abnormal_sd: float = 4.0
    normalize_min_contrast_sd: float = 3.0


@dataclass(frozen=True)
class RandomWalkerTuning:
    """The random walker's settings (:func:`algorithms.random_walker_region`, scikit-image's
    ``random_walker``); every one changes masks.

    Parameters
    ----------
    interior_erosion_mm
        The region growing eroded by this much is lesion seed, mm.
    background_margin_mm
        Everything beyond the region growing dilated by this much is background seed, mm: the
        walker decides the band in between.
    click_radius_max_mm
        Each click seeds a ball of ``seed_radius_mm``, at most this radius, mm.
    tolerance
        Convergence tolerance of the linear solver.
    solver
        scikit-image's ``mode``: ``"cg_j"`` is conjugate gradient with a Jacobi preconditioner.
    """

    interior_erosion_mm: float = 2.0
    background_margin_mm: float = 4.0
    click_radius_max_mm: float = 2.0
    tolerance: float = 1e-3
    solver: Literal["cg", "cg_j", "cg_mg", "bf"] = "cg_j"


@dataclass(frozen=True)
class SegmentParameters:
    """How to segment.

    Parameters
    ----------
    method
        Algorithm family.
    polarity
        How the lesion differs from its surroundings.
    window
        Fixed intensity window ``(low, high)`` that defines lesion tissue (e.g. fat in HU), used
        when the first positive point lies inside it; ``None`` learns the window from prompts.
    smoothing_mm
        Gaussian smoothing before modelling intensities, mm (0: none).
    border_smoothing_mm
        Gaussian smoothing of the image on which region growing places the border at the local
        50% partial-volume level, mm. Smoothing moves that level inward on a curved border (by
        about sigma^2 x curvature / 2: -4% of the area of a 5 mm echo section at 0.9 mm), so
        the border is decided on the image barely smoothed; the despeckling median is not used.
    despeckle
        Median filter first (ultrasound speckle): 3 voxels wide along axes of at most 1 mm, 1
        along coarser ones (:func:`appearance.despeckle_footprint`; the width and the spacing
        are ``region_growing.despeckle_width_voxels`` and ``.despeckle_max_spacing_mm``).
    seed_radius_mm
        Radius of the ball around each point whose intensities train the model, mm.
    search_radius_mm
        Without a box: the lesion lies within this distance of the positive points, mm.
    k_sigma
        Width of a learned intensity window in robust standard deviations (no box).
    closing_mm
        Morphological closing radius after growing (strands, septa), mm.
    opening_mm
        Morphological opening radius to cut thin leaks, mm (0: none).
    beta
        Random-walker edge sensitivity on normalized intensities.
    surround_percentile
        Which percentile of the tissue just around the lesion it competes with (50: the typical
        neighbour; higher for a bright lesion whose neighbour is mottled, e.g. speckled wall).
    prior_weight
        Graph cut: weight of the box's shape prior (superellipsoid inscribed in the box).
    geodesic_weight
        Graph cut: weight of the clicks' geodesic term (how far a click's claim reaches).
    smoothness
        Graph cut: weight of the contrast-sensitive boundary term.
    click_reach_mm
        Graph cut: how far a correction click's evidence about appearance reaches (Gaussian
        sigma, mm; at most a quarter of the lesion's size and half the distance to the nearest
        click of the other kind; 0: off).
    graph_cut
        The graph cut's inner settings (:class:`GraphCutTuning`).
    level_set
        The active contour's settings (:class:`LevelSetTuning`).
    region_growing
        The region growing's inner settings, with those of the crop, the image preparation and
        the intensity model every family starts from (:class:`RegionGrowingTuning`).
    random_walker
        The random walker's settings (:class:`RandomWalkerTuning`).
    """

    method: Method = Method.REGION_GROWING
    polarity: Polarity = Polarity.AUTO
    window: tuple[float, float] | None = None
    smoothing_mm: float = 0.7
    border_smoothing_mm: float = 0.25
    despeckle: bool = False
    seed_radius_mm: float = 2.5
    search_radius_mm: float = 40.0
    k_sigma: float = 2.5
    closing_mm: float = 0.0
    opening_mm: float = 0.0
    beta: float = 130.0
    surround_percentile: float = 50.0
    prior_weight: float = 1.0
    geodesic_weight: float = 2.0
    smoothness: float = 3.0
    click_reach_mm: float = 10.0
    graph_cut: GraphCutTuning = field(default_factory=GraphCutTuning)
    level_set: LevelSetTuning = field(default_factory=LevelSetTuning)
    region_growing: RegionGrowingTuning = field(default_factory=RegionGrowingTuning)
    random_walker: RandomWalkerTuning = field(default_factory=RandomWalkerTuning)

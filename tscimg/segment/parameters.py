"""Segmentation parameters: one frozen dataclass, filled in per tumour type by the presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
        ``(low voxels, high fraction of the box)``; otherwise the prior's core does.
    core_radius
        Without a usable growing: voxels inside this prior radius train the lesion model.
    shell_radius
        Without a usable growing: voxels beyond this prior radius train the background model.
    background_radius
        With a usable growing: background samples lie beyond this prior radius (and 2 voxels
        away from the growing).
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
    gradient_cost: float = 5.0
    coarse_above_voxels: int = 250_000
    log_ratio_clamp: float = 8.0
    max_training_voxels: int = 20_000
    min_training_voxels: int = 10
    trained_sample_range: tuple[int, float] = (20, 0.8)
    core_radius: float = 0.6
    shell_radius: float = 1.15
    background_radius: float = 0.8


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
    band_mm: float = 4.0


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
        along coarser ones (:func:`appearance.despeckle_footprint`).
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

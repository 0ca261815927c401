"""Segmentation parameters: one frozen dataclass, filled in per tumour type by the presets."""

from __future__ import annotations

from dataclasses import dataclass
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

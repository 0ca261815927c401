"""Measuring lesions: volumes, surface, diameters and volume uncertainty (DESIGN.md section 4)."""

from tscimg.measure.lesions import (
    METHODS,
    LesionMeasurement,
    MaskMeasurement,
    MeasureParameters,
    acquisition_slice_axis,
    acquisition_slices_of,
    measure_mask,
)
from tscimg.measure.planar import (
    PLANAR_METHODS,
    PlanarMeasurement,
    biplane_volume_ml,
    measure_planar,
)
from tscimg.measure.record import LesionRecord, MeasuredLesion, SecondView, measure_lesion

__all__ = [
    "METHODS",
    "PLANAR_METHODS",
    "LesionMeasurement",
    "LesionRecord",
    "MaskMeasurement",
    "MeasureParameters",
    "MeasuredLesion",
    "PlanarMeasurement",
    "SecondView",
    "acquisition_slice_axis",
    "acquisition_slices_of",
    "biplane_volume_ml",
    "measure_lesion",
    "measure_mask",
    "measure_planar",
]

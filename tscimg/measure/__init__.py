"""Measuring lesions: volumes, surface, diameters and volume uncertainty (DESIGN.md section 4)."""

from tscimg.measure.lesions import (
    METHODS,
    LesionMeasurement,
    MaskMeasurement,
    MeasureParameters,
    acquisition_slice_axis,
    measure_mask,
)

__all__ = [
    "METHODS",
    "LesionMeasurement",
    "MaskMeasurement",
    "MeasureParameters",
    "acquisition_slice_axis",
    "measure_mask",
]

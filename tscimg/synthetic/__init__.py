"""Synthetic phantoms with exactly known lesion volumes, for sample scans, tests and benchmarks."""

from tscimg.synthetic.rendering import Layer, render
from tscimg.synthetic.shapes import Ellipsoid, RigidPose, rotation_matrix
from tscimg.synthetic.studies import SAMPLE_STUDIES, SampleStudy, SampleVisit

__all__ = [
    "SAMPLE_STUDIES",
    "Ellipsoid",
    "Layer",
    "RigidPose",
    "SampleStudy",
    "SampleVisit",
    "render",
    "rotation_matrix",
]

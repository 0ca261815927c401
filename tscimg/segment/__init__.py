"""Semi-automatic segmentation from points and boxes, with presets per tumour type."""

from tscimg.segment.api import Segmentation, segment
from tscimg.segment.parameters import Method, Polarity, SegmentParameters
from tscimg.segment.presets import PRESETS, Preset, preset_for
from tscimg.segment.prompts import Prompts

__all__ = [
    "PRESETS",
    "Method",
    "Polarity",
    "Preset",
    "Prompts",
    "SegmentParameters",
    "Segmentation",
    "preset_for",
    "segment",
]

"""Semi-automatic segmentation from points and boxes, with presets per tumour type."""

from tscimg.segment.api import Segmentation, box_faces_reached, box_warning, segment
from tscimg.segment.parameters import Method, Polarity, SegmentParameters
from tscimg.segment.presets import PRESETS, Preset, preset_for
from tscimg.segment.prompts import BoxOrigin, Prompts
from tscimg.segment.protocol import ProtocolResult, run_protocol

__all__ = [
    "PRESETS",
    "BoxOrigin",
    "Method",
    "Polarity",
    "Preset",
    "Prompts",
    "ProtocolResult",
    "SegmentParameters",
    "Segmentation",
    "box_faces_reached",
    "box_warning",
    "preset_for",
    "run_protocol",
    "segment",
]

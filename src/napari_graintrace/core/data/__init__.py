"""Data preparation: layer/file conversion to arrays, aligned crops, tracing cleanup and image/label datasets.

Imports the base modules and ``scoring`` (the lab's tracing resize). See docs/design.md, "Rooms".
"""

from __future__ import annotations

from .convert import (
    grey, match_shape, micrograph, prediction, read_prediction, read_tracing, Tracing, tracing
)
from .crops import (
    BOX_KEYS, apply_boxes, box_from_corners, boxes_from_dict, boxes_to_dict, boxes_to_json, check_boxes,
    corners_and_centre, CropBox, grid_boxes, parse_boxes, read_boxes, write_boxes
)
from .cleanup import (
    BORDER_MODES, DEFAULT_EXTRACT_THRESHOLD, FOOTPRINTS, SIDECAR_SUFFIX, binarize, bridge_gaps,
    clean_trace, CleanupOptions, crop_slice, despeckle, extract_trace, keep_box, set_thickness,
    sidecar_path, sidecar_record, skeletonize, write_cleaned
)
from .dataset import (
    IMAGE_SUFFIXES, MANIFEST_FIELDS, MERGE_FIELDS, aligned_folder, AlignedDataset, check, dataset_folders,
    merge, merge_plan, prepare_image, Problem, read_aligned, write_aligned_steps
)
from . import convert, dataset  # modules whose names are used with their prefix

__all__ = [  # grouped by module, as imported above
    # convert
    "grey", "match_shape", "micrograph", "prediction", "read_prediction", "read_tracing", "Tracing",
    "tracing",
    # crops
    "BOX_KEYS", "apply_boxes", "box_from_corners", "boxes_from_dict", "boxes_to_dict", "boxes_to_json",
    "check_boxes", "corners_and_centre", "CropBox", "grid_boxes", "parse_boxes", "read_boxes", "write_boxes",
    # cleanup
    "BORDER_MODES", "DEFAULT_EXTRACT_THRESHOLD", "FOOTPRINTS", "SIDECAR_SUFFIX", "binarize", "bridge_gaps",
    "clean_trace", "CleanupOptions", "crop_slice", "despeckle", "extract_trace", "keep_box", "set_thickness",
    "sidecar_path", "sidecar_record", "skeletonize", "write_cleaned",
    # dataset
    "IMAGE_SUFFIXES", "MANIFEST_FIELDS", "MERGE_FIELDS", "aligned_folder", "AlignedDataset", "check",
    "dataset_folders", "merge", "merge_plan", "prepare_image", "Problem", "read_aligned",
    "write_aligned_steps",
    # modules
    "convert", "dataset",
]

"""Loading data and turning it into features."""

from assay.data._boxes import (
    box_cells,
    coco_table,
    format_boxes,
    is_box_column,
    is_coco,
    with_image_role,
)
from assay.data._dataset import Dataset, Roles, encode_labels, load
from assay.data._featurize import Features, embedding_metric, featurize, robust_scale
from assay.data._hashing import file_hashes, row_content
from assay.data._io import read_table
from assay.data._label_sets import (
    SEPARATORS,
    format_label_set,
    is_label_set_column,
    label_set_form,
    parse_label_sets,
)
from assay.data._outputs import (
    atomic_path,
    check_output_dir,
    check_output_file,
    remove_stale_temps,
    temp_name,
)
from assay.data._pixels import PixelLayout, parse_image_shape, pixel_layout
from assay.data._scratch import MAP_BYTES, WIDEN_ON_DISK_BYTES, disk_array, load_npy, widened
from assay.data._sequences import (
    CONLL_SUFFIXES,
    format_sequence,
    parse_conll,
    parse_sequences,
    sequence_form,
    source_lines,
    token_task_columns,
)
from assay.data._task import TASKS, TaskChoice, infer_task, numeric_target

__all__ = [
    "CONLL_SUFFIXES", "SEPARATORS", "TASKS", "Dataset", "Features", "PixelLayout", "Roles", "TaskChoice", "atomic_path",
    "check_output_dir", "check_output_file", "disk_array", "load_npy", "MAP_BYTES",
    "WIDEN_ON_DISK_BYTES", "widened", "embedding_metric", "encode_labels", "featurize",
    "file_hashes", "format_label_set", "infer_task", "is_label_set_column",
    "label_set_form", "load", "numeric_target", "parse_image_shape", "parse_label_sets", "pixel_layout",
    "read_table", "remove_stale_temps", "robust_scale", "row_content", "temp_name",
    "box_cells", "coco_table", "format_boxes", "is_box_column", "is_coco", "with_image_role",
    "format_sequence", "parse_conll", "parse_sequences", "sequence_form", "source_lines",
    "token_task_columns",
]

"""Loading data and turning it into features."""

from assay.data._dataset import Dataset, Roles, encode_labels, load
from assay.data._featurize import Features, embedding_metric, featurize, robust_scale
from assay.data._hashing import file_hashes, row_content
from assay.data._io import read_table

__all__ = [
    "Dataset", "Features", "Roles", "embedding_metric", "encode_labels", "featurize", "file_hashes",
    "load", "read_table", "robust_scale", "row_content",
]

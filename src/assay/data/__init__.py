"""Loading data and turning it into features."""

from assay.data._dataset import Dataset, Roles, encode_labels, load
from assay.data._featurize import Features, featurize
from assay.data._io import read_table

__all__ = ["Dataset", "Features", "Roles", "encode_labels", "featurize", "load", "read_table"]

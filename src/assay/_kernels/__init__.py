"""Numeric kernels: numpy in, numpy out, no validation, no I/O. Private.

The package is private to assay; its modules (``agreement``, ``confident``, ``ivf``, ``knn``,
``knn_shapley``, ``threads``) are the ones assay's algorithms import, e.g.
``from assay._kernels.knn import blocked_topk``.
"""

"""Numeric kernels: numpy in, numpy out, no validation, no I/O. Private."""

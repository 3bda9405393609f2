"""The ``assay`` command line. The only package that prints."""

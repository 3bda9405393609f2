"""Built-in audit checks: every module of this package is imported, and so registered.

The built-in order below is the order of the check table and the report; any other module in
this folder (a new check) is discovered and registered after them, alphabetically. No list needs
updating when a check is added.
"""

import importlib
import pkgutil

_ORDER = ("label_issues", "regression_labels", "multilabel_labels", "token_labels", "detection_labels",
          "duplicates",
          "outliers", "class_profile",
          "ambiguous_pairs", "leakage", "slices", "annotators", "data_values")

_found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
for _name in (*(n for n in _ORDER if n in _found), *sorted(_found - set(_ORDER))):
    importlib.import_module(f"{__name__}.{_name}")

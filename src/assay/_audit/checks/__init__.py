"""Built-in audit checks; importing this package registers them, in this order."""

import importlib

# Each module registers its checks on import. Optional modules (added by later features) are
# listed too and imported when present.
for _name in ("label_issues", "duplicates", "outliers", "class_profile", "ambiguous_pairs",
              "leakage", "slices", "annotators", "data_values"):
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{_name}":
            raise

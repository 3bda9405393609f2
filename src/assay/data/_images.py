"""Image folders and image decoding (Pillow, extra ``image``, imported lazily)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from assay.exceptions import InputValidationError, MissingDependencyError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


def scan_image_folder(root: Path, *, label: str) -> pd.DataFrame:
    """Table of ``root/<class>/<file>`` images: columns ``path`` (relative) and ``label``."""
    rows: list[tuple[str, str]] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(class_dir.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                rows.append((f.relative_to(root).as_posix(), class_dir.name))
    if not rows:
        raise InputValidationError(
            f"No images found under '{root}'. Expected a layout root/<class>/<image file> with "
            f"extensions {', '.join(sorted(IMAGE_SUFFIXES))}."
        )
    return pd.DataFrame(rows, columns=["path", label])


def decode_images(paths: list[Path], *, size: int = 16, bins: int = 8) -> np.ndarray:
    """Small resized grey pixels plus a per-channel colour histogram, float32 (N, size^2 + 3 bins)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise MissingDependencyError("pillow", "image", "Image featurizing") from exc
    out = np.empty((len(paths), size * size + 3 * bins), dtype=np.float32)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                rgb = im.convert("RGB")
                grey = np.asarray(rgb.convert("L").resize((size, size)), dtype=np.float32) / 255.0
                arr = np.asarray(rgb.resize((64, 64)), dtype=np.float32) / 255.0
        except FileNotFoundError as exc:
            raise InputValidationError(
                f"Image not found: '{path}' (row {i}). Check the image column and the data folder."
            ) from exc
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise InputValidationError(
                f"Image '{path}' (row {i}) cannot be decoded ({type(exc).__name__}). Replace or "
                "remove the file, or drop the row."
            ) from exc
        hist = [
            np.histogram(arr[..., c], bins=bins, range=(0.0, 1.0))[0] / arr[..., c].size
            for c in range(3)
        ]
        out[i, : size * size] = grey.ravel()
        out[i, size * size :] = np.concatenate(hist)
    return out

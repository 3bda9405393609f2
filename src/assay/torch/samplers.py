"""Re-sampling for long-tailed training: instance, class-balanced, square-root, progressive.

Class ``j`` is drawn with probability ``p_j`` proportional to ``n_j^q`` (``q = 1`` instance,
``q = 0`` class-balanced, ``q = 1/2`` square root; Kang et al. ICLR 2020), then a row uniformly
within the class. The progressive sampler moves linearly from instance-balanced to
class-balanced over the epochs: ``p(t) = (1 - t/T) p_IB + (t/T) p_CB``. All samplers draw with
replacement from a seeded ``torch.Generator``; call ``set_epoch`` before each epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from assay._validation import check_choice, check_int, check_labels, check_random_state
from assay.longtail import sampling_probabilities

__all__ = ["SAMPLERS", "ClassPowerSampler", "ProgressiveSampler", "make_sampler"]


def _generator(random_state: Any) -> torch.Generator:
    seed = int(check_random_state(random_state).integers(0, 2**62))
    return torch.Generator().manual_seed(seed)


class ClassPowerSampler(Sampler[int]):
    """Draw rows so that class ``j`` comes up with probability proportional to ``n_j^q``.

    Parameters
    ----------
    labels : array-like of int, shape (N,)
    q : float in [0, 1]
        1 instance-balanced, 0 class-balanced, 0.5 square-root.
    num_samples : int, optional
        Rows per epoch (default N).
    random_state : None, int or numpy.random.Generator

    Examples
    --------
    >>> s = ClassPowerSampler([0, 0, 0, 1], q=0.0, random_state=0)
    >>> len(list(s))
    4
    """

    def __init__(
        self, labels: Any, *, q: float, num_samples: int | None = None, random_state: Any = None
    ) -> None:
        self.labels = check_labels(labels, min_classes=1)
        self.counts = np.bincount(self.labels)
        self.num_samples = len(self.labels) if num_samples is None else check_int(
            "num_samples", num_samples, low=1, owner=type(self).__name__
        )
        self._generator = _generator(random_state)
        self.class_probabilities = sampling_probabilities(self.counts, q=q)

    def _row_weights(self) -> torch.Tensor:
        per_row = self.class_probabilities[self.labels] / self.counts[self.labels]
        return torch.as_tensor(per_row, dtype=torch.float64)

    def set_epoch(self, epoch: int) -> None:
        """No-op (kept so every sampler has the same interface)."""

    def __iter__(self) -> Iterator[int]:
        idx = torch.multinomial(self._row_weights(), self.num_samples, replacement=True,
                                generator=self._generator)
        return iter(idx.tolist())

    def __len__(self) -> int:
        return self.num_samples


class ProgressiveSampler(ClassPowerSampler):
    """Progressively-balanced sampling: instance-balanced at epoch 0, class-balanced at the end.

    Parameters
    ----------
    labels : array-like of int, shape (N,)
    total_epochs : int
        ``T``; at epoch ``t`` the class probabilities are ``(1 - t/T) p_IB + (t/T) p_CB``.
    num_samples, random_state
        See :class:`ClassPowerSampler`.

    Examples
    --------
    >>> s = ProgressiveSampler([0, 0, 0, 1], total_epochs=2)
    >>> s.class_probabilities.tolist()
    [0.75, 0.25]
    >>> s.set_epoch(2); s.class_probabilities.tolist()
    [0.5, 0.5]
    """

    def __init__(
        self,
        labels: Any,
        *,
        total_epochs: int,
        num_samples: int | None = None,
        random_state: Any = None,
    ) -> None:
        super().__init__(labels, q=1.0, num_samples=num_samples, random_state=random_state)
        self.total_epochs = check_int("total_epochs", total_epochs, low=1, owner="ProgressiveSampler")
        self._p_ib = sampling_probabilities(self.counts, q=1.0)
        self._p_cb = sampling_probabilities(self.counts, q=0.0)

    def set_epoch(self, epoch: int) -> None:
        """Move the class probabilities to epoch ``epoch`` of ``total_epochs``."""
        t = min(max(int(epoch), 0), self.total_epochs) / self.total_epochs
        self.class_probabilities = (1.0 - t) * self._p_ib + t * self._p_cb


#: sampler name -> exponent q (None: progressive)
SAMPLERS: dict[str, float | None] = {
    "instance": 1.0,
    "class-balanced": 0.0,
    "square-root": 0.5,
    "progressive": None,
}


def make_sampler(
    name: str,
    labels: Any,
    *,
    total_epochs: int = 1,
    num_samples: int | None = None,
    random_state: Any = None,
) -> ClassPowerSampler:
    """Build the sampler registered under ``name``.

    Parameters
    ----------
    name : {"instance", "class-balanced", "square-root", "progressive"}
    labels : array-like of int, shape (N,)
    total_epochs : int, default 1
        Used by ``"progressive"`` only.
    num_samples, random_state
        See :class:`ClassPowerSampler`.

    Examples
    --------
    >>> make_sampler("square-root", [0, 0, 0, 0, 1]).class_probabilities.tolist()
    [0.6666666666666666, 0.3333333333333333]
    """
    check_choice("name", name, tuple(SAMPLERS), owner="make_sampler")
    q = SAMPLERS[name]
    if q is None:  # "progressive", the only sampler without a fixed exponent
        return ProgressiveSampler(labels, total_epochs=total_epochs, num_samples=num_samples,
                                  random_state=random_state)
    return ClassPowerSampler(labels, q=float(q), num_samples=num_samples,
                             random_state=random_state)

"""A small 1-D CNN as a scikit-learn classifier, for MNIST-1D in the benchmarks.

The shape of the MNIST-1D paper's reference CNN (Greydanus, 2020): three stride-2 convolutions
of 25 channels and a linear layer; Adam, 40 epochs of batches of 100, no regularisation, so on
noisy labels it memorises part of the noise and is overconfident (which the label-noise
benchmark wants to show). Needs the ``torch`` extra.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class CNN1D(ClassifierMixin, BaseEstimator):
    """1-D CNN on standardised signals; ``fit`` / ``predict_proba`` as in scikit-learn."""

    def __init__(self, epochs=40, lr=1e-2, batch_size=100, weight_decay=0.0, random_state=0):
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.random_state = random_state

    def _net(self, n_in, k):
        import torch.nn as nn
        w = ((((n_in + 2 - 5) // 2 + 1) + 2 - 3) // 2 + 1 + 2 - 3) // 2 + 1
        return nn.Sequential(nn.Unflatten(1, (1, n_in)),
                             nn.Conv1d(1, 25, 5, 2, 1), nn.ReLU(),
                             nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(),
                             nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(),
                             nn.Flatten(), nn.Linear(25 * w, k))

    def fit(self, x, y):
        import torch
        torch.manual_seed(self.random_state)
        self.classes_ = np.unique(y)
        yi = np.searchsorted(self.classes_, y)
        self.mu_, self.sd_ = x.mean(), x.std() + 1e-8
        xt = torch.tensor((x - self.mu_) / self.sd_, dtype=torch.float32)
        yt = torch.tensor(yi)
        self.net_ = self._net(x.shape[1], len(self.classes_))
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        g = torch.Generator().manual_seed(self.random_state)
        for _ in range(self.epochs):
            perm = torch.randperm(len(xt), generator=g)
            for i in range(0, len(xt), self.batch_size):
                b = perm[i:i + self.batch_size]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(self.net_(xt[b]), yt[b]).backward()
                opt.step()
        return self

    def predict_proba(self, x):
        import torch
        with torch.no_grad():
            z = self.net_(torch.tensor((x - self.mu_) / self.sd_, dtype=torch.float32))
            return torch.softmax(z, 1).numpy().astype(np.float64)

    def predict(self, x):
        return self.classes_[self.predict_proba(x).argmax(1)]

"""Per-frame, class-balanced classifiers of the baseline: scikit-learn fits, NumPy predicts.

- ``logreg``: :class:`sklearn.linear_model.LogisticRegression` with ``class_weight="balanced"``;
- ``mlp``: :class:`sklearn.neural_network.MLPClassifier` (one ReLU hidden layer, Adam, batches
  of 1024, at most 20 epochs with early stopping on 10% of the frames) with balanced sample
  weights (sklearn's rule: N / (C * n_c)).

A fitted classifier is kept as its weight matrices in a ``.npz`` (no pickle, no dependence on the
scikit-learn version); :meth:`FrameClassifier.predict_proba` reproduces sklearn's forward pass
and returns all eight classes (a class absent from training gets probability 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from featurizer.core.files import atomic_write_bytes

from ..config import N_CLASSES

KINDS = ("logreg", "mlp")


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class FrameClassifier:
    kind: str
    classes: np.ndarray  # (K,) the labels seen in training, ascending
    weights: list[np.ndarray]  # per layer (in, out)
    biases: list[np.ndarray]  # per layer (out,)

    @classmethod
    def fit(cls, kind: str, x: np.ndarray, y: np.ndarray, seed: int = 0, hidden: int = 128,
            max_iter: int = 200, threads: int | None = None) -> FrameClassifier:
        """Fit on frames ``x`` (n, d) float32 with labels ``y`` (n,) in 0..7, with ``threads``
        BLAS threads (None: the library's default, all cores). Waiting BLAS threads spin: on a
        busy, shared machine one thread is many times faster than two (measured 13 s -> 0.2 s)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            return cls._fit(kind, x, y, seed, hidden, max_iter)

    @classmethod
    def _fit(cls, kind: str, x: np.ndarray, y: np.ndarray, seed: int, hidden: int, max_iter: int) -> FrameClassifier:
        if kind == "logreg":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(class_weight="balanced", max_iter=max_iter, random_state=seed)
            return cls.from_estimator(lr.fit(x, y))
        if kind == "mlp":
            from sklearn.neural_network import MLPClassifier
            from sklearn.utils.class_weight import compute_sample_weight

            mlp = MLPClassifier((hidden,), batch_size=1024, learning_rate_init=2e-3, max_iter=min(max_iter, 20),
                                early_stopping=True, n_iter_no_change=3, random_state=seed)
            return cls.from_estimator(mlp.fit(x, y, sample_weight=compute_sample_weight("balanced", y)))
        raise ValueError(f"unknown classifier {kind!r}; choose from {', '.join(KINDS)}")

    @classmethod
    def from_estimator(cls, est: object) -> FrameClassifier:
        """The weights of a fitted LogisticRegression or MLPClassifier (ReLU hidden layers)."""
        classes = np.asarray(est.classes_).astype(np.int64)  # type: ignore[attr-defined]
        if hasattr(est, "coefs_"):
            return cls("mlp", classes, [w.astype(np.float32) for w in est.coefs_],  # type: ignore[attr-defined]
                       [b.astype(np.float32) for b in est.intercepts_])  # type: ignore[attr-defined]
        return cls("logreg", classes, [est.coef_.T.astype(np.float32)],  # type: ignore[attr-defined]
                   [est.intercept_.astype(np.float32)])  # type: ignore[attr-defined]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, 8) float32 class probabilities (sklearn's forward pass)."""
        h = np.asarray(x, np.float32)
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if k < len(self.weights) - 1:
                np.maximum(h, 0.0, out=h)  # ReLU
        if h.shape[1] == 1:  # two classes seen: one logistic output for the second
            p1 = 1.0 / (1.0 + np.exp(-h[:, 0]))
            p = np.stack([1.0 - p1, p1], axis=1)
        else:
            p = _softmax(h)
        out = np.zeros((len(p), N_CLASSES), np.float32)
        out[:, self.classes] = p
        return out

    def save(self, path: str | Path) -> None:
        import io

        arrays = {"kind": np.array(self.kind), "classes": self.classes}
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"w{k}"], arrays[f"b{k}"] = w, b
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> FrameClassifier:
        with np.load(path, allow_pickle=False) as z:
            n = sum(1 for k in z.files if k.startswith("w"))
            return cls(str(z["kind"]), z["classes"], [z[f"w{k}"] for k in range(n)], [z[f"b{k}"] for k in range(n)])

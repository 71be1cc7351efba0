"""The quality predictor: for a prompt, the probability that each known model answers it well.

One L2-regularised logistic regression per model over :class:`Featurizer` rows, trained on
labelled evaluation data (which model answered which prompt correctly). A model only learns
from the prompts it was evaluated on, so data sets with different models can be mixed.

Prediction is one sparse dot product per prompt: a few hundred non-zero columns times the
weight matrix, well under a millisecond. The trained state is one ``.npz`` file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, sparse, special
from threadpoolctl import threadpool_limits

from blacksoil.tokens.errors import PredictorError
from blacksoil.tokens.router.dataset import LabelledPrompt
from blacksoil.tokens.router.features import Featurizer, FloatArray

FORMAT = "blacksoil.router.predictor/2"


@dataclass
class QualityPredictor:
    featurizer: Featurizer
    models: list[str]
    weights: FloatArray
    """``(featurizer.width, len(models))``: one column of coefficients per model."""
    bias: FloatArray
    info: dict[str, Any] = field(default_factory=dict)
    """How it was trained: examples per model, regularisation, when."""

    @classmethod
    def fit(cls, examples: Sequence[LabelledPrompt], c: float = 1.0, bits: int = 18) -> QualityPredictor:
        """Train on labelled prompts; ``c`` is the inverse regularisation strength (larger fits closer)."""
        if not examples:
            raise PredictorError("no labelled prompts to train on")
        models = sorted({m for ex in examples for m in ex.outcomes})
        prompts = [ex.prompt for ex in examples]
        featurizer = Featurizer.fit(prompts, bits=bits)
        x = featurizer.matrix(prompts)
        weights = np.zeros((featurizer.width, len(models)))
        bias = np.zeros(len(models))
        seen: dict[str, int] = {}
        # The optimiser's vector operations are small: BLAS threads only fight over the cores.
        with threadpool_limits(limits=1, user_api="blas"):
            for j, model in enumerate(models):
                rows = [i for i, ex in enumerate(examples) if model in ex.outcomes]
                labels = np.array([examples[i].outcomes[model] for i in rows], dtype=np.float64)
                weights[:, j], bias[j] = _logistic_regression(x[rows], labels, c)
                seen[model] = len(rows)
        info = {
            "examples": seen,
            "c": c,
            "bits": bits,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return cls(featurizer, models, weights.astype(np.float32), bias, info)

    def predict(self, text: str) -> dict[str, float]:
        """Each model's probability of answering ``text`` well."""
        columns, values = self.featurizer.row(text)
        z = values @ self.weights[columns] + self.bias
        return dict(zip(self.models, special.expit(z).tolist(), strict=True))

    def predict_many(self, prompts: Sequence[str]) -> FloatArray:
        """``(len(prompts), len(models))`` probabilities, in the order of ``self.models``."""
        z = self.featurizer.matrix(prompts) @ self.weights + self.bias
        return np.asarray(special.expit(z))

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "models": self.models, "bits": self.featurizer.bits, "info": self.info}
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            np.savez_compressed(
                f,
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                weights=self.weights,
                bias=self.bias,
                idf=self.featurizer.idf,
                count_mean=self.featurizer.count_mean,
                count_std=self.featurizer.count_std,
            )
        tmp.replace(path)  # readers never see half a file

    @classmethod
    def load(cls, path: Path) -> QualityPredictor:
        hint = f"train one with 'blacksoil router train DATA --out {path}'"
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(data["meta"].tobytes())
                if meta.get("format") != FORMAT:
                    raise PredictorError(f"{path}: not a router predictor (format {meta.get('format')!r}); {hint}")
                featurizer = Featurizer(meta["bits"], data["idf"], data["count_mean"], data["count_std"])
                return cls(featurizer, list(meta["models"]), data["weights"], data["bias"], meta.get("info", {}))
        except FileNotFoundError:
            raise PredictorError(f"{path}: no trained predictor here; {hint}") from None
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            raise PredictorError(f"{path}: not a readable router predictor ({exc}); {hint}") from None


def _logistic_regression(x: sparse.csr_matrix, y: FloatArray, c: float) -> tuple[FloatArray, float]:
    """Minimise ``c * sum(log loss) + ||w||^2 / 2`` (bias unpenalised) with L-BFGS; ``y`` may be soft."""
    n_features = x.shape[1]
    xt = x.T.tocsr()

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        w, b = theta[:-1], theta[-1]
        z = x @ w + b
        # log(1 + e^z) - y z, computed stably
        nll = np.logaddexp(0.0, z) - y * z
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        r = c * (p - y)
        grad = np.empty_like(theta)
        grad[:-1] = xt @ r + w
        grad[-1] = r.sum()
        return float(c * nll.sum() + 0.5 * (w @ w)), grad

    result = optimize.minimize(loss, np.zeros(n_features + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return result.x[:-1], float(result.x[-1])

"""How good a router is, with RouteLLM's metrics, on labelled prompts held out from training.

For a strong and a weak model, a router with a threshold sends a prompt to the strong model when
its score is at least the threshold. Sweeping the threshold traces the call-performance curve:
the share of calls sent to the strong model against the average quality reached.

* PGR, performance gap recovered: ``(quality - weak) / (strong - weak)``.
* APGR: the area under PGR as a function of the strong-call share, from 0 to 1.
* CPT(x%): the smallest strong-call share that reaches a PGR of x%.

Prompts with equal scores cannot be separated by a threshold, so the curve is interpolated
linearly across them: the expected result of breaking those ties at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blacksoil.tokens.router.features import FloatArray

GRID = np.linspace(0.0, 1.0, 1001)
"""Strong-call shares at which the curve is sampled (0.1% steps)."""


@dataclass(frozen=True)
class Curve:
    share: FloatArray
    """Strong-call share, on :data:`GRID`."""
    quality: FloatArray
    """Average quality at that share."""
    strong: float
    weak: float

    @property
    def pgr(self) -> FloatArray:
        return (self.quality - self.weak) / (self.strong - self.weak)

    def apgr(self) -> float:
        return float(np.trapezoid(self.pgr, self.share))

    def cpt(self, target: float) -> float:
        """The smallest strong-call share whose PGR reaches ``target`` (1.0 if none does)."""
        reached = np.nonzero(self.pgr >= target - 1e-12)[0]
        return float(self.share[reached[0]]) if reached.size else 1.0


def curve(score: FloatArray, strong: FloatArray, weak: FloatArray) -> Curve:
    """The call-performance curve of ranking prompts by ``score`` (higher: more worth the strong model)."""
    n = len(score)
    if n == 0 or not len(strong) == len(weak) == n:
        raise ValueError("score, strong and weak must be non-empty and of one length")
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    gain = np.concatenate([[0.0], np.cumsum((strong - weak)[order])])
    # one point per distinct score: ties move to the strong model together
    edges = np.concatenate([[0], np.nonzero(np.diff(ranked))[0] + 1, [n]])
    quality = np.interp(GRID, edges / n, (weak.sum() + gain[edges]) / n)
    return Curve(GRID, quality, float(strong.mean()), float(weak.mean()))


def routing_accuracy(to_strong: FloatArray, strong: FloatArray, weak: FloatArray) -> float:
    """Among prompts some model answers, the share sent to the cheapest model that answers it.

    The weak model is the right choice when it answers; otherwise the strong one is.
    """
    if not len(to_strong) == len(strong) == len(weak):
        raise ValueError("to_strong, strong and weak must be of one length")
    answerable = (strong > 0.5) | (weak > 0.5)
    right = np.where(weak > 0.5, ~to_strong.astype(bool), to_strong.astype(bool))
    return float(right[answerable].mean()) if answerable.any() else 0.0


def threshold_for_share(score: FloatArray, share: float) -> float:
    """The score threshold that sends about ``share`` of these prompts to the strong model."""
    if share <= 0.0:
        return float("inf")
    return float(np.quantile(score, 1.0 - min(share, 1.0), method="higher"))

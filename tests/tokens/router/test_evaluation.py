"""RouteLLM's metrics on cases small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from blacksoil.tokens.router.evaluation import GRID, curve, routing_accuracy, threshold_for_share


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def at(share: float) -> int:
    """The index of ``share`` on the evaluation grid."""
    return int(np.argmin(np.abs(GRID - share)))


# Eight prompts: the strong model answers 5, the weak one 2 (both also answered by the strong one).
# Prompts 0, 2 and 6 are the strong-only ones: 3/8 of the prompts.
STRONG = arr(1, 1, 1, 0, 1, 0, 1, 0)
WEAK = arr(0, 1, 0, 0, 1, 0, 0, 0)
STRONG_ONLY = 3 / 8


def test_curve_runs_from_the_weak_to_the_strong_quality() -> None:
    c = curve(STRONG - WEAK, STRONG, WEAK)
    assert (c.strong, c.weak) == (5 / 8, 2 / 8)
    assert np.array_equal(c.share, GRID) and len(GRID) == 1001
    assert c.quality[0] == pytest.approx(2 / 8) and c.quality[-1] == pytest.approx(5 / 8)
    assert c.pgr[0] == pytest.approx(0.0) and c.pgr[-1] == pytest.approx(1.0)


def test_a_perfect_ranking_closes_the_gap_at_the_strong_only_share() -> None:
    c = curve(STRONG - WEAK, STRONG, WEAK)
    assert c.cpt(1.0) == pytest.approx(STRONG_ONLY, abs=1e-9)
    assert c.pgr[at(STRONG_ONLY) - 1] < 1.0
    # linear up to 3/8, then flat: the prompts left gain nothing from the strong model
    assert c.pgr[at(0.25)] == pytest.approx(0.25 / STRONG_ONLY)
    assert c.cpt(0.5) == pytest.approx(0.188, abs=1e-9)  # the first grid point at or past 3/16
    assert np.allclose(c.pgr[at(STRONG_ONLY) :], 1.0)
    assert c.apgr() == pytest.approx(STRONG_ONLY / 2 + (1 - STRONG_ONLY), abs=1e-9)


def test_a_perfect_ranking_beats_the_strong_model_when_the_weak_one_wins_some() -> None:
    strong, weak = arr(1, 1, 1, 0), arr(0, 1, 0, 1)  # strong-only: 0 and 2; weak-only: 3
    c = curve(strong - weak, strong, weak)
    # at a share of 1/2 both strong-only prompts go strong and the weak-only one stays weak: 4/4 right
    assert c.pgr[at(0.5)] == pytest.approx(2.0) and c.pgr.max() == pytest.approx(2.0)
    assert c.pgr[-1] == pytest.approx(1.0)
    assert c.cpt(1.0) == pytest.approx(0.25, abs=1e-9)


def test_ties_are_a_straight_line_from_weak_to_strong() -> None:
    c = curve(np.zeros(len(STRONG)), STRONG, WEAK)
    assert np.allclose(c.pgr, GRID)
    assert c.apgr() == pytest.approx(0.5, abs=1e-9)
    assert abs(c.cpt(0.5) - 0.5) <= 0.001
    assert abs(c.cpt(0.9) - 0.9) <= 0.001


def test_partial_ties_interpolate_within_the_tied_block() -> None:
    # two prompts tie at the top: one gains, one does not; moving both costs 2/4 of the calls for 1 gain
    strong, weak = arr(1, 0, 1, 0), arr(0, 0, 0, 0)
    c = curve(arr(1, 1, 0, 0), strong, weak)
    assert c.pgr[at(0.25)] == pytest.approx(0.25)  # half way through the block: half of its gain (1/2 of 1/2)
    assert c.pgr[at(0.5)] == pytest.approx(0.5)


def test_reversing_a_ranking_lowers_apgr() -> None:
    score = STRONG - WEAK
    best = curve(score, STRONG, WEAK).apgr()
    worst = curve(-score, STRONG, WEAK).apgr()
    # reversed: the 5 prompts with nothing to gain go first, the 3 strong-only ones last
    assert worst == pytest.approx(STRONG_ONLY / 2, abs=1e-9)
    assert worst < 0.5 < best


def test_cpt_is_one_when_the_target_is_never_reached() -> None:
    c = curve(STRONG - WEAK, STRONG, WEAK)
    assert c.pgr.max() == pytest.approx(1.0)
    assert c.cpt(1.01) == 1.0
    assert c.cpt(0.0) == 0.0


@pytest.mark.parametrize(
    ("score", "strong", "weak"),
    [
        (arr(1, 0, 1), arr(1, 0, 1, 0), arr(0, 0, 0, 0)),
        (arr(1, 0, 1, 0), arr(1, 0, 1), arr(0, 0, 0, 0)),
        (arr(1, 0, 1, 0), arr(1, 0, 1, 0), arr(0, 0, 0)),
        (arr(), arr(), arr()),
    ],
    ids=["short-score", "short-strong", "short-weak", "empty"],
)
def test_curve_refuses_mismatched_or_empty_inputs(score: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> None:
    with pytest.raises(ValueError, match="one length"):
        curve(score, strong, weak)


def test_routing_accuracy_counts_only_answerable_prompts() -> None:
    strong = arr(1, 1, 0, 0, 1)
    weak = arr(1, 0, 0, 1, 0)
    # prompt 0: both answer → weak is right; 1: strong only → strong; 2: nobody (not counted);
    # 3: weak only → weak; 4: strong only → strong
    to_strong = arr(1, 1, 1, 0, 0)
    assert routing_accuracy(to_strong, strong, weak) == 0.5  # wrong: 0 and 4 (counting prompt 2 would give 3/5)
    assert routing_accuracy(arr(0, 1, 0, 0, 1), strong, weak) == 1.0
    assert routing_accuracy(arr(0, 1, 1, 0, 1), strong, weak) == 1.0  # prompt 2 does not count either way
    assert routing_accuracy(arr(1, 0, 0, 1, 0), strong, weak) == 0.0
    assert routing_accuracy(arr(1, 0), arr(0, 0), arr(0, 0)) == 0.0  # nothing answerable


def test_routing_accuracy_treats_scores_above_one_half_as_answered() -> None:
    assert routing_accuracy(arr(1, 0), arr(0.9, 0.6), arr(0.2, 0.7)) == 1.0
    assert routing_accuracy(arr(0, 1), arr(0.9, 0.6), arr(0.2, 0.7)) == 0.0


@pytest.mark.parametrize("to_strong", [arr(1, 0, 1), arr(1)], ids=["three-of-four", "one-of-four"])
def test_routing_accuracy_refuses_mismatched_lengths(to_strong: np.ndarray) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (numpy's own broadcasting error would do)
        routing_accuracy(to_strong, arr(1, 1, 0, 0), arr(1, 0, 0, 1))


def test_threshold_for_share_sends_that_share_to_the_strong_model() -> None:
    score = np.arange(1000, dtype=np.float64)[::-1] / 1000  # distinct scores, in no sorted order needed
    for share in (0.1, 0.25, 0.5, 0.9, 1.0):
        t = threshold_for_share(score, share)
        assert abs((score >= t).mean() - share) <= 1 / len(score)
    assert (score >= threshold_for_share(score, 1.5)).all()  # capped at everything
    assert threshold_for_share(score, 0.0) == float("inf")
    assert threshold_for_share(score, -0.1) == float("inf")


def test_threshold_for_share_is_one_of_the_scores() -> None:
    score = arr(0.1, 0.4, 0.2, 0.3)
    assert threshold_for_share(score, 0.5) == 0.3
    assert threshold_for_share(score, 0.25) == 0.4
    assert threshold_for_share(score, 1.0) == 0.1

"""How often do noise and slice gates fire, on simulated pull requests? And how fast are they?

Run: python benchmarks/bench_noise.py  (about two minutes on two cores; not a test)

Digits, 500 test rows, three model families. A "PR" retrains the model with another seed:
(a) nothing else changes: any failure is a false alarm;
(b) a real 2-point regression: 2% of the test rows that head got right are made wrong;
(c) a 7-point regression confined to one 100-row slice, hidden by a small overall gain.
Each figure is shown beside the previous release's (McNemar's exact test, two-sided, Holm
across every slice of a rule). Then the time and peak memory of a 1,000-resample
bootstrap over 1,000,000 predictions (roc_auc binary and one-vs-rest included), and of a
100-slice table, against scipy.stats.bootstrap as the peer a user would pick.
"""

from __future__ import annotations

import functools
import itertools
import resource
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlci.judge import paired, slices

SEEDS = 40
FAMILIES: dict[str, Callable[[int], Any]] = {
    "logistic (SGD)": lambda s: make_pipeline(
        StandardScaler(), SGDClassifier(loss="log_loss", random_state=s)
    ),
    "random forest": lambda s: RandomForestClassifier(n_estimators=30, random_state=s),
    "MLP (32)": lambda s: make_pipeline(
        StandardScaler(), MLPClassifier((32,), max_iter=300, random_state=s)
    ),
}


def runs(family: str) -> list[pd.DataFrame]:
    """Predictions of SEEDS fits that differ only by seed, with an `ink` slice column."""
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=500, random_state=0)
    ink = pd.qcut(
        pd.Series(x_test.sum(axis=1)).rank(method="first"), 5, labels=[f"q{i}" for i in range(1, 6)]
    ).astype(str)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP/SGD convergence warnings
        for seed in range(SEEDS):
            pred = FAMILIES[family](seed).fit(x_train, y_train).predict(x_test)
            out.append(pd.DataFrame({"y_true": y_test, "y_pred": pred, "ink": ink}))
    return out


def accuracy(frame: pd.DataFrame) -> float:
    return float((frame["y_true"] == frame["y_pred"]).mean())


# The previous release (0.x before issue 13), per family: (a) noise, (b) noise, (c) slices.
PREVIOUS = {
    "logistic (SGD)": ("3.7%", "70%", "28%"),
    "random forest": ("0.5%", "65%", "18%"),
    "MLP (32)": ("0.3%", "91%", "26%"),
}


def noise_fails(base: pd.DataFrame, head: pd.DataFrame) -> bool:
    """`max_drop: 0.0, noise: true`: fail only on a significant drop (one-sided)."""
    test = paired.paired_test("accuracy", base, head, alternative="less")
    return test.worse(higher_is_better=True)


def fixed_fails(base: pd.DataFrame, head: pd.DataFrame, max_drop: float) -> bool:
    return accuracy(base) - accuracy(head) > max_drop + 1e-12


def slices_fail(base: pd.DataFrame, head: pd.DataFrame) -> bool:
    """`max_drop: 0.0, noise: true, slices: [ink]`: any slice significantly worse (Holm)."""
    table = slices.slice_table("accuracy", base, head, ["ink"], confidence=0.95, alternative="less")
    return noise_fails(base, head) or any(r.worse(True) for r in table)


def fixed_slices_fail(base: pd.DataFrame, head: pd.DataFrame, max_drop: float) -> bool:
    """`max_drop: 0.02, slices: [ink]` without noise."""
    table = slices.slice_table("accuracy", base, head, ["ink"])
    return fixed_fails(base, head, max_drop) or any(-r.delta > max_drop + 1e-12 for r in table)


def flip(frame: pd.DataFrame, rows: np.ndarray, right: bool) -> pd.DataFrame:
    """Make these rows right (y_pred = y_true) or wrong (another digit)."""
    out = frame.copy()
    truth = out.loc[rows, "y_true"]
    out.loc[rows, "y_pred"] = truth if right else (truth + 1) % 10
    return out


def regression(head: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    right = np.flatnonzero(head["y_true"] == head["y_pred"])
    return flip(head, rng.choice(right, size=10, replace=False), right=False)


def hidden_slice_regression(
    base: pd.DataFrame, head: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """7 of one slice's 100 rows go wrong; rows elsewhere go right until head leads by 1."""
    value = f"q{rng.integers(1, 6)}"
    inside = (head["ink"] == value).to_numpy()
    right = (head["y_true"] == head["y_pred"]).to_numpy()
    head = flip(head, rng.choice(np.flatnonzero(inside & right), size=7, replace=False), False)
    need = round((accuracy(base) - accuracy(head)) * len(head)) + 1
    wrong = np.flatnonzero(~inside & ~right)
    if need > 0:
        head = flip(head, rng.choice(wrong, size=min(need, len(wrong)), replace=False), True)
    return head


def rate(flags: list[bool]) -> str:
    return f"{100 * np.mean(flags):5.1f}% of {len(flags)}"


def summary(figures: dict[str, tuple[float, float, float]]) -> None:
    """The three figures the gate is judged by, beside the previous release's."""
    print("per family: now (previous release)\n")
    print(f"{'family':16} {'seed-only alarms':>20} {'2-pt caught':>16} {'slice caught':>16}")
    for family, now in figures.items():
        cells = [
            f"{100 * x:.1f}% ({before})" for x, before in zip(now, PREVIOUS[family], strict=True)
        ]
        print(f"{family:16} {cells[0]:>20} {cells[1]:>16} {cells[2]:>16}")
    print()


def simulate() -> None:
    print("simulated PRs on digits (500 test rows); % of PRs that fail the rule\n")
    header = f"{'family':16} {'scenario':36} {'rule':34} {'fails':>14}"
    print(header + "\n" + "-" * len(header))
    figures = {}
    for family in FAMILIES:
        started = time.perf_counter()
        fits = runs(family)
        rng = np.random.default_rng(0)
        pairs = list(itertools.permutations(range(20), 2))  # (a): every ordered pair
        disjoint = [(2 * i, 2 * i + 1) for i in range(SEEDS // 2)]  # (b), (c): 4 draws each
        seed_only = [(fits[i], fits[j]) for i, j in pairs]
        regressed = [(fits[i], regression(fits[j], rng)) for i, j in disjoint for _ in range(4)]
        hidden = [
            (fits[i], hidden_slice_regression(fits[i], fits[j], rng))
            for i, j in disjoint
            for _ in range(4)
        ]
        rows = [
            ("(a) seed only", "noise: true, max_drop 0.0", [noise_fails(*p) for p in seed_only]),
            ("(a) seed only", "max_drop 0.01", [fixed_fails(*p, 0.01) for p in seed_only]),
            ("(a) seed only", "noise + slices [ink]", [slices_fail(*p) for p in seed_only]),
            (
                "(a) seed only",
                "max_drop 0.02 + slices, no noise",
                [fixed_slices_fail(*p, 0.02) for p in seed_only],
            ),
            (
                "(b) 2-pt regression",
                "noise: true, max_drop 0.0",
                [noise_fails(*p) for p in regressed],
            ),
            ("(b) 2-pt regression", "max_drop 0.02", [fixed_fails(*p, 0.02) for p in regressed]),
            (
                "(c) 7-pt in one slice, gain overall",
                "noise: true (no slices)",
                [noise_fails(*p) for p in hidden],
            ),
            (
                "(c) 7-pt in one slice, gain overall",
                "max_drop 0.01 (no slices)",
                [fixed_fails(*p, 0.01) for p in hidden],
            ),
            (
                "(c) 7-pt in one slice, gain overall",
                "noise + slices [ink]",
                [slices_fail(*p) for p in hidden],
            ),
            (
                "(c) 7-pt in one slice, gain overall",
                "max_drop 0.02 + slices, no noise",
                [fixed_slices_fail(*p, 0.02) for p in hidden],
            ),
        ]
        mean_acc = np.mean([accuracy(f) for f in fits])
        figures[family] = (
            float(np.mean(rows[2][2])),  # (a) noise + slices: every alarm a gate could raise
            float(np.mean(rows[4][2])),
            float(np.mean(rows[8][2])),
        )
        for scenario, rule, flags in rows:
            print(f"{family:16} {scenario:36} {rule:34} {rate(flags):>14}")
        print(f"{'':16} mean accuracy {mean_acc:.3f}, {time.perf_counter() - started:.0f} s\n")
    summary(figures)


def measure(label: str, call: Callable[[], object]) -> None:
    """Seconds of one plain run (wall clock, and CPU time: the machine may be shared);
    peak memory of a second run (tracemalloc slows it down)."""
    started, cpu = time.perf_counter(), time.process_time()
    call()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{label:60} {seconds:6.2f} s {cpu:6.2f} s {peak / 2**20:7.0f} MB")


def large() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    truth = rng.normal(size=n)
    err = rng.standard_t(5, size=n)
    reg_b = pd.DataFrame({"y_true": truth, "y_pred": truth + err})
    reg_h = pd.DataFrame({"y_true": truth, "y_pred": truth + 0.98 * err + 0.2 * rng.normal(size=n)})
    labels = rng.integers(0, 10, size=n)
    noisy = [np.where(rng.random(n) < 0.9, labels, rng.integers(0, 10, size=n)) for _ in "bh"]
    slice_col = rng.integers(0, 100, size=n).astype(str)
    positive = rng.random(n) < 0.3
    auc_b = pd.DataFrame({"y_true": positive.astype(int), "y_pred": 0})
    auc_b["y_score"] = 1 / (1 + np.exp(-(1.2 * positive + rng.normal(size=n))))
    auc_h = auc_b.assign(y_score=1 / (1 + np.exp(-(1.3 * positive + rng.normal(size=n)))))
    logits = rng.normal(size=(n, 10)) + 1.5 * np.eye(10)[labels]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    ovr_b = pd.DataFrame(proba, columns=[f"score_{k}" for k in range(10)]).assign(
        y_true=labels, y_pred=proba.argmax(axis=1)
    )
    ovr_h = ovr_b.assign(score_0=ovr_b["score_0"] * 0.9 + 0.1 * (labels == 0))
    ovr_h[[f"score_{k}" for k in range(10)]] = ovr_h[[f"score_{k}" for k in range(10)]].div(
        ovr_h[[f"score_{k}" for k in range(10)]].sum(axis=1), axis=0
    )
    cls_b = pd.DataFrame({"y_true": labels, "y_pred": noisy[0], "group": slice_col})
    cls_h = pd.DataFrame({"y_true": labels, "y_pred": noisy[1], "group": slice_col})
    print("1,000,000 predictions, 1,000 resamples; peak = tracemalloc, Python + numpy\n")
    print(f"{'':60} {'wall':>8} {'cpu':>8} {'peak':>10}")
    for metric, base, head in (
        ("rmse", reg_b, reg_h),
        ("r2", reg_b, reg_h),
        ("f1_macro", cls_b, cls_h),
        ("balanced_accuracy", cls_b, cls_h),
        ("roc_auc", auc_b, auc_h),
        ("roc_auc", ovr_b, ovr_h),
    ):
        kind = " one-vs-rest (10)" if "score_0" in base.columns else ""
        measure(
            f"paired bootstrap, {metric}{kind}",
            functools.partial(paired.paired_test, metric, base, head, resamples=1000),
        )
    measure("score test, accuracy", lambda: paired.paired_test("accuracy", cls_b, cls_h))
    measure(
        "100 slices of 10,000, accuracy, noise (score test + Holm)",
        lambda: slices.slice_table("accuracy", cls_b, cls_h, ["group"], confidence=0.95),
    )
    measure(
        "100 slices of 10,000, f1_macro, noise (2,000 resamples each)",
        lambda: slices.slice_table("f1_macro", cls_b, cls_h, ["group"], confidence=0.95),
    )
    measure(
        "peer: scipy.stats.bootstrap paired, rmse, 100,000 rows",
        lambda: scipy_rmse(reg_b.iloc[:100_000], reg_h.iloc[:100_000]),
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of the whole benchmark process: {rss:.0f} MB")


def scipy_rmse(base: pd.DataFrame, head: pd.DataFrame) -> object:
    from scipy.stats import bootstrap

    sq_b = ((base["y_pred"] - base["y_true"]) ** 2).to_numpy()
    sq_h = ((head["y_pred"] - head["y_true"]) ** 2).to_numpy()

    def delta(b: np.ndarray, h: np.ndarray, axis: int) -> np.ndarray:
        return np.asarray(np.sqrt(h.mean(axis=axis)) - np.sqrt(b.mean(axis=axis)))

    return bootstrap(
        (sq_b, sq_h),
        delta,
        paired=True,
        vectorized=True,
        n_resamples=1000,
        batch=20,
        method="percentile",
        random_state=0,
    )


def main() -> None:
    simulate()
    large()


if __name__ == "__main__":
    main()

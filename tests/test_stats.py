"""The paired statistics on real models (digits, breast cancer, diabetes) and on known truth."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlci.errors import MetricsError
from mlci.judge import align, paired, slices, values
from mlci.sources import registry


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return tuple(train_test_split(x, y, test_size=500, random_state=0))


@functools.cache
def _digits_run(family: str, seed: int) -> pd.DataFrame:
    """Per-example predictions of one fit on digits, with an `ink` slice column."""
    x_train, x_test, y_train, y_test = _digits()
    model = {
        "forest": lambda: RandomForestClassifier(n_estimators=15, random_state=seed),
        "bayes": GaussianNB,
    }[family]()
    model.fit(x_train, y_train)
    frame = pd.DataFrame(
        {"id": np.arange(len(y_test)), "y_true": y_test, "y_pred": model.predict(x_test)}
    )
    for i, cls in enumerate(model.classes_):
        frame[f"score_{cls}"] = model.predict_proba(x_test)[:, i]
    ink = x_test.sum(axis=1)
    frame["ink"] = pd.qcut(
        pd.Series(ink).rank(method="first"), 5, labels=["q1", "q2", "q3", "q4", "q5"]
    ).astype(str)
    return frame


@functools.cache
def _binary_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=200, random_state=0)
    runs = []
    for model in (
        make_pipeline(StandardScaler(), LogisticRegression()),
        RandomForestClassifier(15, random_state=0),
    ):
        model.fit(x_train, y_train)
        runs.append(
            pd.DataFrame(
                {
                    "y_true": np.where(y_test, "benign", "malignant"),
                    "y_pred": np.where(model.predict(x_test), "benign", "malignant"),
                    "y_score": model.predict_proba(x_test)[:, 0],
                }
            )
        )
    return runs[0], runs[1]


@functools.cache
def _regression_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=150, random_state=0)
    runs = []
    for model in (Ridge(alpha=1.0), Lasso(alpha=0.5)):
        model.fit(x_train, y_train)
        runs.append(pd.DataFrame({"y_true": y_test, "y_pred": model.predict(x_test)}))
    return runs[0], runs[1]


def _accuracy(frame: pd.DataFrame) -> float:
    return float((frame["y_true"] == frame["y_pred"]).mean())


# -- metric values ----------------------------------------------------------------------


@pytest.mark.parametrize("metric", registry.LABEL_METRICS + registry.SCORE_METRICS)
def test_multiclass_metrics_match_sklearn(metric: str) -> None:
    base, head = _digits_run("forest", 0), _digits_run("bayes", 0)
    result = paired.paired_test(metric, base, head, resamples=200)
    assert result.base == pytest.approx(values.metric_value(metric, base), abs=1e-12)
    assert result.head == pytest.approx(values.metric_value(metric, head), abs=1e-12)
    assert result.delta == pytest.approx(result.head - result.base)


@pytest.mark.parametrize("metric", registry.LABEL_METRICS + registry.SCORE_METRICS)
def test_binary_metrics_match_sklearn(metric: str) -> None:
    from sklearn import metrics as skm

    base, head = _binary_runs()
    result = paired.paired_test(metric, base, head, resamples=200)
    assert result.base == pytest.approx(values.metric_value(metric, base), abs=1e-12)
    assert result.head == pytest.approx(values.metric_value(metric, head), abs=1e-12)
    if metric == "roc_auc":  # the positive class is the greater label, "malignant"
        truth = base["y_true"] == "malignant"
        assert result.base == pytest.approx(skm.roc_auc_score(truth, base["y_score"]))


@pytest.mark.parametrize("metric", registry.REGRESSION_METRICS)
def test_regression_metrics_match_sklearn(metric: str) -> None:
    base, head = _regression_runs()
    result = paired.paired_test(metric, base, head, resamples=200)
    assert result.method == "paired-bootstrap"
    assert result.base == pytest.approx(values.metric_value(metric, base), abs=1e-9)
    assert result.head == pytest.approx(values.metric_value(metric, head), abs=1e-9)


def test_unsupported_metrics_say_why() -> None:
    frame = _digits_run("forest", 0)[["y_true", "y_pred"]]
    assert values.supported("accuracy", frame)
    assert not values.supported("roc_auc", frame)
    assert not values.supported("perplexity", frame)
    with pytest.raises(MetricsError, match=r"roc_auc.*score_<class>"):
        values.metric_value("roc_auc", frame)
    regression, _ = _regression_runs()
    assert not values.supported("accuracy", regression)
    with pytest.raises(MetricsError, match="y_pred holds non-integer numbers"):
        paired.paired_test("f1_macro", regression, regression)
    with pytest.raises(MetricsError, match="empty cells in y_pred"):
        values.metric_value("accuracy", frame.assign(y_pred=np.nan))


# -- accuracy: Tango's score interval and score test ---------------------------------------


def test_seed_only_fits_are_within_noise_where_a_fixed_drop_fails() -> None:
    base, head = _digits_run("forest", 4), _digits_run("forest", 6)  # seeds 4 -> 6
    assert _accuracy(head) - _accuracy(base) <= -0.01  # a plain max_drop 0.01 fails
    result = paired.paired_test("accuracy", base, head, alternative="less")
    assert result.method == "score" and result.alternative == "less"
    assert not result.significant() and not result.worse(higher_is_better=True)
    assert result.p_value > 0.05
    assert result.low < 0 < result.high
    assert result.describe(True, True).startswith("within noise: -")
    assert not paired.paired_test("f1_macro", base, head, alternative="less").significant()


def test_a_far_weaker_model_is_significantly_worse() -> None:
    base, head = _digits_run("forest", 0), _digits_run("bayes", 0)
    for metric, higher_is_better in (
        ("accuracy", True),
        ("f1_macro", True),
        ("log_loss", False),
        ("roc_auc", True),
    ):
        result = paired.paired_test(metric, base, head, resamples=500)
        assert result.worse(higher_is_better), metric
        assert not result.worse(not higher_is_better), metric
        assert result.describe(higher_is_better, metric != "log_loss").startswith("significant")


def test_corrupted_predictions_are_significant() -> None:
    base = _digits_run("forest", 0)
    rows = np.random.default_rng(0).choice(len(base), size=50, replace=False)
    head = base.copy()
    head.loc[rows, "y_pred"] = (head.loc[rows, "y_true"] + 1) % 10
    result = paired.paired_test("accuracy", base, head)
    assert result.worse(higher_is_better=True)
    assert result.p_value < 1e-6
    assert result.high < 0


def _table(losses: int, gains: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n examples of class 0: `gains` only head gets right, `losses` only base gets right."""
    truth = np.zeros(n, dtype=int)
    base_pred, head_pred = truth.copy(), truth.copy()
    base_pred[:gains] = 1
    head_pred[gains : gains + losses] = 1
    return (
        pd.DataFrame({"y_true": truth, "y_pred": base_pred}),
        pd.DataFrame({"y_true": truth, "y_pred": head_pred}),
    )


def test_score_interval_reproduces_the_published_example() -> None:
    # Cavo et al. (2012), complete response before/after consolidation therapy, n = 161:
    # 59 both, 6 only before, 16 only after, 80 neither. Fagerland, Lydersen & Laake,
    # Statistical Analysis of Contingency Tables (2017), ch. 8: Tango's asymptotic score
    # interval -0.0621 (95% CI -0.1240 to -0.0054).
    base, head = _table(losses=16, gains=6, n=161)
    result = paired.paired_test("accuracy", base, head)
    assert round(result.delta, 4) == -0.0621
    assert (round(result.low, 4), round(result.high, 4)) == (-0.1240, -0.0054)
    assert paired.score_interval(16, 6, 161, 0.95) == (result.low, result.high)


def test_score_statistic_uses_the_constrained_maximum_likelihood() -> None:
    """p(d) in Tango's statistic maximises the likelihood of the table given d."""
    from scipy.optimize import minimize_scalar
    from scipy.stats import norm

    losses, gains, n = 16, 6, 161
    same = n - gains - losses
    for d in (-0.2, -0.1, -0.03, 0.05):
        # cells: gains p12 = p21 + d, losses p21, the rest 1 - 2 p21 - d
        def nll(p21: float, d: float = d) -> float:
            p12, rest = p21 + d, 1 - 2 * p21 - d
            return -(gains * math.log(p12) + losses * math.log(p21) + same * math.log(rest))

        bounds = (max(0.0, -d) + 1e-12, (1 - d) / 2 - 1e-12)
        best = minimize_scalar(nll, bounds=bounds, method="bounded", options={"xatol": 1e-12}).x
        t = (gains - losses - n * d) / math.sqrt(n * (2 * best + d * (1 - d)))
        low, high = paired.score_interval(losses, gains, n, 2 * float(norm.cdf(abs(t))) - 1)
        assert min(abs(low - d), abs(high - d)) < 1e-6, d  # |T(d)| = z exactly at an end


def test_the_interval_is_valid_where_the_old_one_was_not() -> None:
    base, head = _table(losses=3, gains=0, n=48)  # base 48/48 right, head 45/48
    result = paired.paired_test("accuracy", base, head)
    assert result.delta == pytest.approx(-3 / 48)
    assert result.low < result.delta < result.high  # the estimate is not on the edge
    assert result.low < -0.15
    same = paired.paired_test("accuracy", *_table(losses=0, gains=0, n=48))
    assert same.low < 0 < same.high  # no changed prediction is not certainty: not [0, 0]
    assert same.describe(True, True).startswith("within noise: +0.00 pp [-")


@pytest.mark.parametrize("confidence", [0.95, 0.99])
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_score_interval_agrees_with_its_test(confidence: float, alternative: str) -> None:
    for losses in range(0, 21):
        for gains in range(0, 21):
            result = paired.paired_test(
                "accuracy",
                *_table(losses, gains, 500),
                confidence=confidence,
                alternative=alternative,
            )
            assert result.delta == pytest.approx((gains - losses) / 500)
            assert result.low <= result.delta <= result.high
            rejects = result.p_value < 1 - confidence
            decided = {
                "two-sided": result.significant(),
                "less": result.high < 0,
                "greater": result.low > 0,
            }[alternative]
            assert decided == rejects, (losses, gains)


def test_one_sided_is_sharper_than_two_sided() -> None:
    base, head = _table(losses=12, gains=5, n=500)
    two = paired.paired_test("accuracy", base, head)
    one = paired.paired_test("accuracy", base, head, alternative="less")
    assert not two.worse(True) and one.worse(True)  # p = 0.045 one-sided, 0.090 two-sided
    assert one.p_value == pytest.approx(two.p_value / 2)


def test_interval_coverage_and_false_alarms_by_simulation() -> None:
    """Known truth: a PR that loses `drop` of accuracy; 4,000 seeded draws per case."""
    rng = np.random.default_rng(0)
    null_alarms, null_draws = 0, 0
    for n in (100, 500, 2000):
        for drop in (0.0, 0.02, 0.05):
            shared = 0.04  # how often head gains an example base got wrong
            draws = rng.multinomial(n, [shared, shared + drop, 1 - 2 * shared - drop], 4000)
            gains, losses = draws[:, 0], draws[:, 1]
            low, high = paired.score_intervals(losses, gains, n, 0.95)
            coverage = np.mean((low <= -drop) & (-drop <= high))
            assert coverage >= 0.93, (n, drop, coverage)
            if drop == 0:
                _, one_sided_high = paired.score_intervals(losses, gains, n, 0.90)
                null_alarms += int(np.sum(one_sided_high < 0))  # max_drop: 0, noise: 0.95
                null_draws += len(draws)
    assert null_alarms / null_draws <= 0.05


# -- the bootstrap ----------------------------------------------------------------------


def _errors(n: int, shift: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    err_b = rng.normal(size=n)
    err_h = err_b + rng.normal(scale=0.5, size=n) + shift * np.sign(err_b)
    return (
        pd.DataFrame({"y_true": truth, "y_pred": truth + err_b}),
        pd.DataFrame({"y_true": truth, "y_pred": truth + err_h}),
    )


def test_bootstrap_interval_matches_normal_theory_for_mae() -> None:
    base, head = _errors(4000, shift=0.05, seed=1)
    diff = np.abs(head["y_pred"] - head["y_true"]) - np.abs(base["y_pred"] - base["y_true"])
    half = 1.959964 * diff.std(ddof=0) / math.sqrt(len(diff))
    result = paired.paired_test("mae", base, head)
    assert result.delta == pytest.approx(diff.mean())
    width = 2 * half
    assert abs(result.low - (diff.mean() - half)) < 0.1 * width
    assert abs(result.high - (diff.mean() + half)) < 0.1 * width
    assert result.worse(higher_is_better=False) and result.p_value == pytest.approx(2 / 2000)
    one_sided = paired.paired_test("mae", base, head, alternative="greater")
    assert one_sided.p_value == pytest.approx(1 / 2000)  # never below one resample in 2,000


def test_bootstrap_of_a_null_change_is_within_noise() -> None:
    base, head = _errors(2000, shift=0.0, seed=2)
    head = head.assign(y_pred=head["y_true"] + (head["y_pred"] - head["y_true"]) / 1.118)
    for metric in ("rmse", "mae", "r2"):
        result = paired.paired_test(metric, base, head)
        assert not result.significant(), (metric, result)
        assert 0.05 < result.p_value <= 1


def test_bootstrap_is_seeded() -> None:
    base, head = _regression_runs()
    first = paired.paired_test("rmse", base, head, seed=3)
    assert paired.paired_test("rmse", base, head, seed=3) == first
    other = paired.paired_test("rmse", base, head, seed=4)
    assert other.low != first.low and other.delta == first.delta


def test_stratified_bootstrap_is_close_to_the_exact_one() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    truth = rng.normal(size=n)
    err_b = rng.standard_t(3, size=n)
    err_h = 0.97 * err_b + 0.3 * rng.standard_t(3, size=n)
    err_h[:3] += 200.0  # a few outliers that dominate rmse
    base = pd.DataFrame({"y_true": truth, "y_pred": truth + err_b})
    head = pd.DataFrame({"y_true": truth, "y_pred": truth + err_h})
    for metric in ("rmse", "mae", "r2"):
        exact = paired.paired_bootstrap(metric, base, head, resamples=1000, exact_limit=10**12)
        strata = paired.paired_bootstrap(metric, base, head, resamples=1000, exact_limit=0)
        width = exact.high - exact.low
        assert abs(strata.low - exact.low) < 0.1 * width, metric
        assert abs(strata.high - exact.high) < 0.1 * width, metric


def test_paired_test_rejects_bad_arguments() -> None:
    base, head = _table(losses=7, gains=1, n=500)
    with pytest.raises(ValueError, match="align"):
        paired.paired_test("accuracy", base, head.iloc[:10])
    with pytest.raises(ValueError, match="confidence"):
        paired.paired_test("accuracy", base, head, confidence=95)
    with pytest.raises(MetricsError, match="not a per-example metric"):
        paired.paired_test("accuracy_top5", base, head)


def test_describe_formats() -> None:
    pp = paired.Paired("accuracy", 500, 0.9, 0.868, -0.032, -0.049, -0.016, 0.001, 0.95, "score")
    assert pp.describe(True, True) == "significant: -3.20 pp [-4.90, -1.60], worse"
    assert pp.describe(True, True, precision=3) == "significant: -3.2 pp [-4.9, -1.6], worse"
    plain = paired.Paired(
        "rmse",
        500,
        3.0,
        2.9876543,
        -0.0123457,
        -0.0234567,
        0.00056789,
        0.2,
        0.95,
        "paired-bootstrap",
    )
    assert plain.describe(False, False) == "within noise: -0.0123 [-0.0235, +0.0006]"
    assert plain.describe(False, False, 2) == "within noise: -0.01 [-0.02, +0.00]"
    better = paired.Paired("rmse", 500, 3.0, 2.5, -0.5, -0.7, -0.3, 0.001, 0.95, "x")
    assert better.describe(False, False).endswith(", better") and not better.worse(False)


# -- aligning the two files ---------------------------------------------------------------


def test_align_by_id_undoes_a_shuffle() -> None:
    base = _digits_run("forest", 0)
    head = _digits_run("forest", 1).sample(frac=1.0, random_state=0)
    aligned_base, aligned_head = align.align(base, head, base_name="base.csv", head_name="head.csv")
    assert list(aligned_base["id"]) == list(aligned_head["id"]) == list(head["id"])
    assert (aligned_base["y_true"] == aligned_head["y_true"]).all()
    unshuffled = paired.paired_test("accuracy", base, _digits_run("forest", 1))
    assert paired.paired_test("accuracy", aligned_base, aligned_head) == unshuffled


def test_align_by_order_needs_equal_lengths() -> None:
    base, head = _table(losses=7, gains=1, n=500)
    with pytest.raises(MetricsError) as caught:
        align.align(
            base,
            head.iloc[:480],
            base_name="runs/a/predictions.csv",
            head_name="runs/b/predictions.csv",
        )
    line = caught.value.line()
    assert "500 rows in runs/a/predictions.csv" in line and "480 in runs/b/predictions.csv" in line
    assert "`id` column" in line and "same test set" in line


def test_align_reports_unmatched_and_duplicate_ids() -> None:
    base = _digits_run("forest", 0)
    head = _digits_run("forest", 1).assign(id=lambda f: f["id"] + 3)
    with pytest.raises(MetricsError) as caught:
        align.align(base, head, base_name="base.csv", head_name="head.csv")
    line = caught.value.line()
    assert "3 of 500 ids in head.csv are not in base.csv" in line
    assert "3 of 500 ids in base.csv are not in head.csv" in line
    twice = base.assign(id=base["id"].where(base["id"] != 1, 0))
    with pytest.raises(MetricsError) as caught:
        align.align(twice, base, base_name="base.csv", head_name="head.csv")
    assert "1 ids appear more than once (e.g. 0) (base.csv)" in caught.value.line()


def test_align_refuses_different_labels() -> None:
    base, head = _table(losses=7, gains=1, n=500)
    head = head.assign(y_true=np.r_[1, head["y_true"].to_numpy()[1:]])
    with pytest.raises(MetricsError) as caught:
        align.align(base, head, base_name="base.csv", head_name="head.csv")
    line = caught.value.line()
    assert "y_true differs in 1 of 500 examples between base.csv and head.csv" in line
    assert "(first at row 1)" in line and "`id` column" in line


# -- Holm and slices ----------------------------------------------------------------------


def test_holm_against_hand_computed_values() -> None:
    assert paired.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert paired.holm([0.5, 0.6]) == [1.0, 1.0]
    assert paired.holm([0.02]) == [0.02]
    assert paired.holm([]) == []
    with pytest.raises(ValueError):
        paired.holm([0.1, 1.5])


def _hidden_regression(losses: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Head loses `losses` examples of slice q3 and gains 10 elsewhere: better overall."""
    base = _digits_run("forest", 0)
    head = base.copy()
    right = base["y_true"] == base["y_pred"]
    in_q3 = base["ink"] == "q3"
    lose = base.index[right & in_q3][:losses]
    gain = base.index[~right & ~in_q3][:10]
    head.loc[lose, "y_pred"] = (head.loc[lose, "y_true"] + 1) % 10
    head.loc[gain, "y_pred"] = head.loc[gain, "y_true"]
    return base, head


def test_slice_table_finds_a_regression_hidden_by_an_overall_gain() -> None:
    base, head = _hidden_regression(losses=7)
    assert _accuracy(head) > _accuracy(base)
    table = slices.slice_table("accuracy", base, head, ["ink"], confidence=0.95, alternative="less")
    assert [r.n for r in table] == [100] * 5 and all(r.gated for r in table)
    worst = table[0]
    assert (worst.column, worst.value) == ("ink", "q3")
    assert worst.delta == pytest.approx(-0.07)
    # the score test, one-sided: z = -7 / sqrt(7), p = Phi(z)
    assert worst.paired is not None
    assert worst.paired.p_value == pytest.approx(0.5 * math.erfc(math.sqrt(7) / math.sqrt(2)))
    assert worst.adjusted_p == pytest.approx(5 * worst.paired.p_value)  # Holm over five slices
    assert worst.paired.confidence == pytest.approx(0.99)  # widened by Holm's factor, 5
    assert worst.worse(higher_is_better=True) and worst.paired.high < 0
    assert all(r.delta >= 0 and not r.worse(True) for r in table[1:])
    stricter = slices.slice_table(
        "accuracy", base, head, ["ink"], confidence=0.999, alternative="less"
    )
    assert not stricter[0].worse(True)  # at 99.9% seven losses are not enough


def test_a_larger_slice_regression_is_significant_after_holm() -> None:
    base, head = _hidden_regression(losses=12)
    table = slices.slice_table("accuracy", base, head, ["ink"], confidence=0.95)
    assert table[0].value == "q3" and table[0].worse(higher_is_better=True)
    assert table[0].adjusted_p is not None and table[0].adjusted_p < 0.05
    assert not any(r.worse(True) for r in table[1:])
    assert not paired.paired_test("accuracy", base, head).worse(True)  # hidden overall


def test_slice_table_without_noise_and_small_slices() -> None:
    base, head = _hidden_regression(losses=7)
    table = slices.slice_table(
        "log_loss", base, head, ["ink", "y_true"], min_size=60, higher_is_better=False
    )
    assert len(table) == 15
    assert all(r.paired is None and r.adjusted_p is None for r in table)
    assert {r.gated for r in table if r.column == "y_true"} == {False}
    deltas = [r.delta for r in table]
    assert deltas == sorted(deltas, reverse=True)  # lower is better: largest rise first
    gated = slices.slice_table(
        "f1_macro", base, head, ["ink", "y_true"], min_size=60, confidence=0.9, resamples=300
    )
    assert sum(r.paired is not None for r in gated) == 5


def test_missing_slice_column_names_file_and_columns() -> None:
    base, head = _hidden_regression(losses=7)
    with pytest.raises(MetricsError) as caught:
        slices.slice_table("accuracy", base, head, ["inks"], head_name="head/predictions.csv")
    line = caught.value.line()
    assert "no slice column 'inks'" in line and "(head/predictions.csv)" in line
    assert "columns: ink" in line and "Did you mean 'ink'?" in line


def test_slice_values_must_agree() -> None:
    base, head = _hidden_regression(losses=7)
    head = head.assign(ink=head["ink"].replace({"q1": "q2"}))
    with pytest.raises(MetricsError, match=r"slice column 'ink' differs .* in 100 rows"):
        slices.slice_table("accuracy", base, head, ["ink"])


def test_identical_predictions_are_within_noise() -> None:
    base = _digits_run("forest", 0)
    for metric in ("accuracy", "f1_macro", "log_loss"):
        result = paired.paired_test(metric, base, base.copy(), resamples=300)
        assert result.delta == 0 and result.p_value == 1.0, metric
        assert result.describe(True, True).startswith("within noise: +0.00 pp")


def test_resamples_without_a_class_are_left_out_of_a_multiclass_roc_auc() -> None:
    """As scikit-learn refuses them: no averaging over the classes a resample happens to have."""
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(20, int), np.ones(19, int), [2]]  # class 2: one example in 40
    frames = []
    for noise in (1.0, 1.2):
        logits = 2 * np.eye(3)[labels] + noise * rng.normal(size=(40, 3))
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        frame = pd.DataFrame(proba, columns=["score_0", "score_1", "score_2"])
        frames.append(frame.assign(y_true=labels, y_pred=proba.argmax(axis=1)))
    found = paired.paired_evidence("roc_auc", frames[0], frames[1], seed=0, resamples=2000)
    assert found.deltas is not None
    undefined = np.mean(~np.isfinite(found.deltas))
    assert 0.30 < undefined < 0.43  # (39/40)^40 = 0.36 of resamples miss the one example
    result = found.at(0.95)
    assert math.isfinite(result.low) and math.isfinite(result.high)

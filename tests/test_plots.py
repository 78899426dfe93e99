"""The report's figures: valid PNGs of the right size, identical bytes for identical data.

Predictions come from small real scikit-learn fits (iris, breast_cancer, diabetes, digits),
made once per module so the file stays fast.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mlci.errors import MetricsError
from mlci.report.plots import bars, confusion, curves, regression, slices, style, user
from mlci.report.plots import history as history_plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STABLE_CHUNKS = {"IHDR", "pHYs", "IDAT", "IEND"}
METRICS = [
    ("accuracy", 0.91, 0.935, True),
    ("f1_macro", 0.89, 0.885, True),
    ("log_loss", 0.31, 0.25, False),
    ("rmse", 53.2, 56.1, False),
    ("new_metric", None, 4.0, True),
]


def _classify(
    model: object, X: np.ndarray, y: np.ndarray, names: np.ndarray | None, binary: bool
) -> pd.DataFrame:
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    model.fit(Xtr, ytr)  # type: ignore[attr-defined]
    proba = model.predict_proba(Xte)  # type: ignore[attr-defined]
    pred = model.predict(Xte)  # type: ignore[attr-defined]
    label = (lambda a: a) if names is None else (lambda a: names[a])
    df = pd.DataFrame({"id": np.arange(len(yte)), "y_true": label(yte), "y_pred": label(pred)})
    if binary:
        df["y_score"] = proba[:, 1]
    else:
        for i, cls in enumerate(model.classes_):  # type: ignore[attr-defined]
            df[f"score_{label(cls)}"] = proba[:, i]
    return df


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Multiclass with string labels ('setosa', ...) and score_<class> columns."""
    data = load_iris()
    args = (data.data, data.target, np.asarray(data.target_names), False)
    base = _classify(DecisionTreeClassifier(max_depth=1, random_state=0), *args)
    return base, _classify(LogisticRegression(max_iter=300), *args)


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Binary with int labels and y_score."""
    X, y = load_breast_cancer(return_X_y=True)
    base = _classify(DecisionTreeClassifier(max_depth=2, random_state=0), X, y, None, True)
    return base, _classify(GaussianNB(), X, y, None, True)


@pytest.fixture(scope="module")
def digits() -> pd.DataFrame:
    X, y = load_digits(return_X_y=True)
    return _classify(GaussianNB(), X, y, None, False)


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, pd.DataFrame]:
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    frames = []
    for model in (DecisionTreeRegressor(max_depth=2, random_state=0), Ridge(alpha=0.1)):
        frames.append(pd.DataFrame({"y_true": yte, "y_pred": model.fit(Xtr, ytr).predict(Xte)}))
    return frames[0], frames[1]


def chunk_types(data: bytes) -> list[str]:
    types, i = [], len(PNG_SIGNATURE)
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        types.append(data[i + 4 : i + 8].decode("ascii"))
        i += 12 + length
    return types


def assert_png(path: Path | None, name: str, height: tuple[int, int] = (250, 500)) -> bytes:
    """A PNG named `name`, 800 px wide, `height` px high, with no chunk that could vary."""
    assert path is not None and path.name == name
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert set(chunk_types(data)) <= STABLE_CHUNKS, chunk_types(data)
    image = matplotlib.image.imread(path)
    assert image.shape[1] == 800
    assert height[0] <= image.shape[0] <= height[1], image.shape
    return data


# ---- metric_bars -------------------------------------------------------------------------


def test_metric_bars_same_rows_give_same_bytes(tmp_path: Path) -> None:
    first = assert_png(bars.metric_bars(METRICS, tmp_path / "a"), "metrics.png")
    second = assert_png(bars.metric_bars(METRICS, tmp_path / "b"), "metrics.png")
    assert first == second


def test_metric_bars_change_with_the_data(tmp_path: Path) -> None:
    first = bars.metric_bars(METRICS, tmp_path / "a")
    changed = [*METRICS[:-1], ("rmse", 53.2, 50.0, False)]
    second = bars.metric_bars(changed, tmp_path / "b")
    assert first is not None and second is not None
    assert first.read_bytes() != second.read_bytes()


def test_metric_bars_ignore_user_rcparams(tmp_path: Path) -> None:
    """A user's matplotlibrc (here: thick lines, a dark style) must not change the image."""
    plain = bars.metric_bars(METRICS, tmp_path / "a")
    with matplotlib.rc_context({"lines.linewidth": 6, "axes.facecolor": "black", "font.size": 20}):
        styled = bars.metric_bars(METRICS, tmp_path / "b")
    assert plain is not None and styled is not None
    assert plain.read_bytes() == styled.read_bytes()


def test_metric_bars_nothing_to_compare(tmp_path: Path) -> None:
    assert bars.metric_bars([], tmp_path) is None
    no_base = [("accuracy", None, 0.9, True), ("rmse", None, 3.0, False)]
    assert bars.metric_bars(no_base, tmp_path) is None
    assert bars.metric_bars([("accuracy", float("nan"), 0.9, True)], tmp_path) is None
    assert not (tmp_path / "metrics.png").exists()


def test_metric_bars_largest_relative_change_first_and_limited(tmp_path: Path) -> None:
    rows = [(f"m{i:02d}", 1.0, 1.0 + i / 100, True) for i in range(30)]
    ranked = bars._ranked_metrics([*rows, ("from_zero", 0.0, 0.5, True), ("gone", 1, None, True)])
    assert [r.name for r in ranked[:3]] == ["from_zero", "m29", "m28"]
    assert ranked[-1].name == "gone"
    few = assert_png(bars.metric_bars(rows, tmp_path / "few", limit=5), "metrics.png")
    many = assert_png(
        bars.metric_bars(rows, tmp_path / "many", limit=30), "metrics.png", height=(500, 1000)
    )
    assert len(few) < len(many)


# ---- confusion matrices ------------------------------------------------------------------


def test_confusion_matrices_string_labels_base_and_head(
    tmp_path: Path, iris: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    base, head = iris
    first = assert_png(
        confusion.confusion_matrices(base, head, tmp_path / "a"), "confusion_matrix.png"
    )
    second = assert_png(
        confusion.confusion_matrices(base, head, tmp_path / "b"), "confusion_matrix.png"
    )
    assert first == second
    alone = assert_png(
        confusion.confusion_matrices(None, head, tmp_path / "c"), "confusion_matrix.png"
    )
    assert alone != first


def test_confusion_labels_are_the_sorted_union(iris: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    base, head = iris
    assert set(base["y_pred"]) != set(head["y_pred"])  # a depth-1 tree misses a class
    labels, total = confusion._class_labels([base, head], 20)
    assert labels == ["setosa", "versicolor", "virginica"] and total == 3
    numeric = pd.DataFrame({"y_true": [10, 2, 2, 1], "y_pred": [2, 10, 1.0, 1]})
    assert confusion._class_labels([numeric], 20)[0] == ["1", "2", "10"]


def test_confusion_tick_names_keep_classes_apart() -> None:
    long = [f"category_{i:02d}_long_name" for i in (4, 7, 12)]
    assert confusion._tick_names(long) == ["…04…", "…07…", "…12…"]
    assert confusion._tick_names(["setosa", "versicolor"]) == ["setosa", "versicolor"]
    assert confusion._tick_names(["a_really_long_label", "b"]) == ["a_really_lo…", "b"]


def test_confusion_many_classes_capped_by_support(tmp_path: Path, digits: pd.DataFrame) -> None:
    labels, total = confusion._class_labels([digits], 4)
    support = digits["y_true"].value_counts()
    assert total == 10 and len(labels) == 4
    assert labels == sorted(labels, key=int)
    assert min(support[int(lab)] for lab in labels) >= max(
        support[c] for c in support.index if str(c) not in labels
    )
    capped = assert_png(
        confusion.confusion_matrices(None, digits, tmp_path / "a", max_classes=4),
        "confusion_matrix.png",
    )
    full = assert_png(
        confusion.confusion_matrices(None, digits, tmp_path / "b"), "confusion_matrix.png"
    )
    assert capped != full


def test_confusion_matrices_empty_or_malformed(tmp_path: Path) -> None:
    empty = pd.DataFrame({"y_true": [], "y_pred": []})
    assert confusion.confusion_matrices(None, empty, tmp_path) is None
    with pytest.raises(MetricsError, match="no y_pred column") as info:
        confusion.confusion_matrices(None, pd.DataFrame({"y_true": [1, 0]}), tmp_path)
    assert "y_true and y_pred" in info.value.line()


# ---- ROC and precision-recall ------------------------------------------------------------


def test_roc_pr_binary(tmp_path: Path, cancer: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    base, head = cancer
    paths = curves.roc_pr(base, head, tmp_path / "a")
    assert [p.name for p in paths] == ["roc.png", "pr.png"]
    first = [assert_png(p, p.name) for p in paths]
    again = [p.read_bytes() for p in curves.roc_pr(base, head, tmp_path / "b")]
    assert first == again
    alone = [p.read_bytes() for p in curves.roc_pr(None, head, tmp_path / "c")]
    assert alone[0] != first[0] and alone[1] != first[1]


def test_roc_pr_multiclass_micro_average(
    tmp_path: Path, iris: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    base, head = iris
    scores = curves._scores(head, "head")
    assert scores is not None and scores.what == "micro-average over 3 classes"
    assert len(scores.y) == 3 * len(head) and len(scores.per_class) == 3
    paths = curves.roc_pr(base, head, tmp_path)
    assert [assert_png(p, p.name) for p in paths]


def test_roc_pr_nothing_without_scores(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    base, head = cancer
    assert curves.roc_pr(base, head.drop(columns="y_score"), tmp_path) == []
    one_class = head[head["y_true"] == 1]
    assert curves.roc_pr(None, one_class, tmp_path) == []
    # a base without scores still leaves the head's curves
    assert len(curves.roc_pr(base.drop(columns="y_score"), head, tmp_path)) == 2


# ---- regression --------------------------------------------------------------------------


def test_regression_base_and_head(
    tmp_path: Path, diabetes: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    base, head = diabetes
    first = assert_png(regression.regression(base, head, tmp_path / "a"), "residuals.png")
    assert first == assert_png(regression.regression(base, head, tmp_path / "b"), "residuals.png")
    alone = assert_png(regression.regression(None, head, tmp_path / "c"), "residuals.png")
    assert alone != first


def test_regression_nothing_numeric(
    tmp_path: Path, iris: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    assert regression.regression(None, iris[1], tmp_path) is None  # string labels
    assert regression.regression(None, pd.DataFrame({"y_true": [], "y_pred": []}), tmp_path) is None


# ---- history -----------------------------------------------------------------------------


def test_history_one_point(tmp_path: Path) -> None:
    path = history_plot.history([("a1b2c3d", 0.9)], "accuracy", tmp_path)
    assert_png(path, "history.png")


def test_history_many_points_with_the_pr(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    points = [(f"{i:07x}", 50 + float(rng.normal())) for i in range(200)]
    path = history_plot.history(
        points, "rmse", tmp_path, head=("feed123", 52.0), name="rmse", higher_is_better=False
    )
    first = assert_png(path, "history-rmse.png")
    again = history_plot.history(
        points, "rmse", tmp_path / "b", head=("feed123", 52.0), name="rmse", higher_is_better=False
    )
    assert again is not None and again.read_bytes() == first
    other = history_plot.history(
        points, "rmse", tmp_path / "c", head=("feed123", 48.0), name="rmse"
    )
    assert other is not None and other.read_bytes() != first


def test_history_nothing_to_draw(tmp_path: Path) -> None:
    assert history_plot.history([], "accuracy", tmp_path, head=("abc", 1.0)) is None
    assert history_plot.history([("abc", float("nan"))], "accuracy", tmp_path) is None


# ---- slices ------------------------------------------------------------------------------


def test_slice_deltas(tmp_path: Path) -> None:
    rows = [
        ("sex=F", -0.04, 120, True),
        ("sex=M", 0.01, 130, False),
        ("age=>60", -0.07, 25, True),
        ("age=<30", float("nan"), 3, False),
    ]
    first = assert_png(
        slices.slice_deltas(rows, "accuracy", tmp_path / "a"),
        "slices-accuracy.png",
        height=(200, 500),
    )
    reordered = list(reversed(rows))
    assert first == assert_png(
        slices.slice_deltas(reordered, "accuracy", tmp_path / "b"),
        "slices-accuracy.png",
        height=(200, 500),
    )
    passed = [(label, d, n, False) for label, d, n, _ in rows]
    other = slices.slice_deltas(passed, "accuracy", tmp_path / "c")
    assert other is not None and other.read_bytes() != first


def test_slice_deltas_limit_and_empty(tmp_path: Path) -> None:
    assert slices.slice_deltas([], "accuracy", tmp_path) is None
    rows = [(f"group={i}", i / 100 - 0.2, 10 + i, i < 3) for i in range(80)]
    path = slices.slice_deltas(rows, "f1/macro", tmp_path, limit=30)
    assert_png(path, "slices-f1_macro.png", height=(700, 1000))


# ---- the user's own images ---------------------------------------------------------------


def test_copy_user_plots(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for rel in (
        "plots/loss.png",
        "plots/a/b.png",
        "plots/a-b.png",
        "plots/sub/curve.SVG",
        "plots/notes.txt",
        "docs/readme.md",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    (tmp_path / "outside.png").write_bytes(b"x")
    patterns = [
        "plots/**/*.png",
        "plots/*.png",
        "plots/sub/*",
        "missing/*.png",
        "docs/*",
        "../*.png",
        "/etc/*.png",
    ]
    out = tmp_path / "report"
    copied, warnings = user.copy_user_plots(patterns, root, out)
    names = [p.name for p in copied]
    assert names == ["plots-a-b.png", "plots-a-b-2.png", "plots-loss.png", "plots-sub-curve.svg"]
    assert all(p.parent == out / "user" for p in copied)
    assert copied[0].read_bytes() == b"plots/a-b.png"  # path order decides who gets '-2'
    assert copied[1].read_bytes() == b"plots/a/b.png"
    assert warnings == [
        "train.plots: 'missing/*.png' matched no file",
        "train.plots: 'docs/*' matched no image (png, jpg, jpeg, gif, svg)",
        "train.plots: '../*.png' matched files outside the repository (skipped)",
        "train.plots: '/etc/*.png' is not a path relative to the directory of mlci.yaml",
    ]
    again, _ = user.copy_user_plots(patterns, root, tmp_path / "again")
    assert [p.name for p in again] == names


def test_copy_user_plots_nothing_configured(tmp_path: Path) -> None:
    assert user.copy_user_plots([], tmp_path, tmp_path / "out") == ([], [])
    assert not (tmp_path / "out").exists()


# ---- across processes --------------------------------------------------------------------


SCRIPT = """
import sys
from pathlib import Path
import pandas as pd
from mlci.report.plots import bars, confusion
rows = [("accuracy", 0.91, 0.935, True), ("f1_macro", 0.89, 0.885, True),
        ("log_loss", 0.31, 0.25, False), ("rmse", 53.2, 56.1, False),
        ("new_metric", None, 4.0, True)]
bars.metric_bars(rows, Path(sys.argv[1]))
head = pd.read_csv(sys.argv[2])
confusion.confusion_matrices(None, head, Path(sys.argv[1]))
assert "matplotlib.pyplot" not in sys.modules, "plots must not touch pyplot"
"""


def test_same_bytes_in_a_fresh_process(
    tmp_path: Path, iris: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """Content-addressed uploads need the bytes stable across runs, not only within one."""
    csv = tmp_path / "predictions.csv"
    iris[1].to_csv(csv, index=False)
    here = bars.metric_bars(METRICS, tmp_path / "here")
    here_cm = confusion.confusion_matrices(None, pd.read_csv(csv), tmp_path / "here")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "MPLBACKEND": "Agg"}
    subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "there"), str(csv)],
        check=True,
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    assert here is not None and here_cm is not None
    assert (tmp_path / "there" / "metrics.png").read_bytes() == here.read_bytes()
    assert (tmp_path / "there" / "confusion_matrix.png").read_bytes() == here_cm.read_bytes()


def test_save_any_figure(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    fig.subplots().plot([0, 1], [1, 0])
    path = style.save(fig, tmp_path / "deep" / "x.png")
    assert_png(path, "x.png", height=(450, 450))


def test_curves_match_scikit_learn() -> None:
    """The numpy ROC/PR curves give scikit-learn's AUC, average precision and PR points."""
    import numpy as np
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    from mlci.report.plots.curves import _curve

    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(5, 300))
        y = rng.integers(0, 2, n)
        score = np.round(rng.random(n), int(rng.integers(1, 4)))  # ties included
        if y.min() == y.max():
            continue
        fpr, tpr, _ = roc_curve(y, score)
        assert _curve("roc", y, score)[2] == pytest.approx(auc(fpr, tpr), abs=1e-12)
        precision, recall, _ = precision_recall_curve(y, score)
        x, yy, ap = _curve("pr", y, score)
        assert ap == pytest.approx(average_precision_score(y, score), abs=1e-12)
        assert np.allclose(x, recall) and np.allclose(yy, precision)

"""Repositories shaped like the public CML and DVC projects that adopt mlci as they are.

Each builder writes a project the way its authors did, before mlci: a CML example with
`metrics.txt` and `plot.png` that its workflow `cat`s and posts; a DVC pipeline with a
committed (and later stale) `metrics.json`; a project logging with dvclive; a project in
a sub-folder with its own requirements and a progress-bar log. The training is real
scikit-learn on datasets it ships; `python` is the test's interpreter (on PATH).
"""

from __future__ import annotations

from pathlib import Path

from tests.projects import commit

CML_TRAIN = """import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split

C = 1.0
x, y = load_breast_cancer(return_X_y=True)
x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0)
model = LogisticRegression(C=C, max_iter=200).fit(x_tr[:, :4], y_tr)
acc = model.score(x_te[:, :4], y_te)
with open("metrics.txt", "w") as f:
    f.write(f"Accuracy: {acc}\\n")
ConfusionMatrixDisplay.from_estimator(model, x_te[:, :4], y_te)
plt.savefig("plot.png", dpi=40)
print("trained")
"""

CML_WORKFLOW = """name: model-training
on: [push]
jobs:
  run:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v3
      - uses: iterative/setup-cml@v1
      - name: Train model
        env:
          REPO_TOKEN: ${{ secrets.GITHUB_TOKEN }}
        run: |
          pip install -r requirements.txt
          python train.py

          echo "## Model metrics" > report.md
          cat metrics.txt >> report.md

          echo "## Data viz" >> report.md
          echo "![](./plot.png)" >> report.md

          cml comment create report.md
"""


def build_cml(root: Path) -> str:
    """The CML getting-started example: train.py, metrics.txt (not committed), plot.png."""
    commit(
        root,
        "CML example",
        {
            "train.py": CML_TRAIN,
            "requirements.txt": "scikit-learn\nmatplotlib\n",
            ".github/workflows/cml.yaml": CML_WORKFLOW,
            ".gitignore": "metrics.txt\nplot.png\n",
            "README.md": "# CML example\n",
        },
    )
    return "train.py"


DVC_PREPARE = """import csv
import importlib.util
from pathlib import Path

import yaml

# the wine data scikit-learn ships, read without importing scikit-learn (a fast stage)
shipped = Path(importlib.util.find_spec("sklearn").origin).parent / "datasets" / "data"
params = yaml.safe_load(open("params.yaml"))["prepare"]
rows = list(csv.reader(open(shipped / "wine_data.csv")))[1:]
with open("data/wine.csv", "w", newline="") as f:
    w = csv.writer(f)
    for row in rows:
        w.writerow([*row[: params["features"]], row[-1]])
"""

DVC_TRAIN = """import csv
import json
import yaml
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

params = yaml.safe_load(open("params.yaml"))["train"]
rows = [[float(v) for v in r] for r in csv.reader(open("data/wine.csv"))]
x, y = [r[:-1] for r in rows], [int(r[-1]) for r in rows]
x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0)
model = DecisionTreeClassifier(max_depth=params["max_depth"], random_state=0).fit(x_tr, y_tr)
json.dump({"accuracy": model.score(x_te, y_te), "depth": model.get_depth()},
          open("metrics.json", "w"))
"""

DVC_YAML = """stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py]
    params: [prepare.features]
    outs: [data/wine.csv]
  train:
    cmd: python train.py
    deps: [train.py, data/wine.csv]
    params: [train.max_depth]
    metrics:
      - metrics.json:
          cache: false
"""


def build_dvc(root: Path) -> tuple[str, str]:
    """A DVC pipeline whose metrics.json was committed once, then the model changed
    without it: (the commit of metrics.json, the later commit that made it stale)."""
    _dvc(root, "init", "-q")
    commit(
        root,
        "DVC pipeline",
        {
            "prepare.py": DVC_PREPARE,
            "train.py": DVC_TRAIN,
            "dvc.yaml": DVC_YAML,
            "params.yaml": "prepare:\n  features: 6\ntrain:\n  max_depth: 1\n",
            "data/.gitkeep": "",
        },
    )
    _dvc(root, "repro", "-q")
    written = commit(root, "metrics of the first model")
    text = (root / "train.py").read_text()
    text = text.replace("random_state=0)\nmodel", "random_state=1)\nmodel")
    stale = commit(root, "split with another seed (metrics.json not updated)", {"train.py": text})
    return written, stale


def _dvc(root: Path, *args: str) -> None:
    import subprocess
    import sys

    dvc = Path(sys.executable).with_name("dvc")
    subprocess.run([str(dvc), *args], cwd=root, check=True, capture_output=True, text=True)


DVCLIVE_TRAIN = '''"""SGD on digits, logged as dvclive does: dvclive/metrics.json, per-step tsv."""
import json
import time
from pathlib import Path

import numpy as np
import yaml
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

params = yaml.safe_load(open("params.yaml"))
x, y = load_digits(return_X_y=True)
x_tr, x_te, y_tr, y_te = train_test_split(x / 16, y, test_size=0.3, random_state=0)
model = SGDClassifier(loss="log_loss", alpha=params["alpha"], random_state=0)
live = Path("dvclive")
series = {"acc": [], "loss": []}
for step in range(params["epochs"]):
    model.partial_fit(x_tr, y_tr, classes=np.arange(10))
    series["acc"].append(model.score(x_te, y_te))
    series["loss"].append(log_loss(y_te, model.predict_proba(x_te), labels=np.arange(10)))
for name, values in series.items():
    path = live / "plots" / "metrics" / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{time.time():.0f}\\t{i}\\t{v}" for i, v in enumerate(values)]
    path.write_text("timestamp\\tstep\\t" + name + "\\n" + "\\n".join(lines) + "\\n")
summary = {"acc": series["acc"][-1], "loss": series["loss"][-1], "step": params["epochs"] - 1}
(live / "metrics.json").write_text(json.dumps(summary))
'''


def build_dvclive(root: Path) -> None:
    commit(
        root,
        "digits with dvclive",
        {
            "train.py": DVCLIVE_TRAIN,
            "params.yaml": "alpha: 0.01\nepochs: 4\n",
            "requirements.txt": "scikit-learn\ndvclive\n",
            ".gitignore": "dvclive/\n",
        },
    )


SUB_TRAIN = """import sys
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error
from sklearn.model_selection import train_test_split

ALPHA = 1.0
x, y = load_diabetes(return_X_y=True)
x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0)
for epoch in range(1, 4):  # a Keras-like progress bar: colours and carriage returns
    sys.stdout.write(f"\\x1b[1mEpoch {epoch}/3\\x1b[0m\\r\\x1b[32m" + "=" * epoch + "\\x1b[0m\\n")
pred = Ridge(alpha=ALPHA).fit(x_tr, y_tr).predict(x_te)
mae, mse = mean_absolute_error(y_te, pred), mean_squared_error(y_te, pred)
open("metrics.txt", "w").write(
    f"Mean Absolute Error = {mae:.2f}, Mean Squared Error = {mse:.1f}.\\n"
)
"""

SUB_WORKFLOW = """name: regression
on: [pull_request]
jobs:
  train:
    runs-on: ubuntu-latest
    defaults:
      run:
        working-directory: regression
    steps:
      - uses: actions/checkout@v4
      - run: pip install -r requirements.txt
      - run: |
          python train.py
          cat metrics.txt >> report.md
          cml comment create report.md
"""


def build_subfolder(root: Path) -> None:
    """A repository whose model lives in regression/ with its own requirements."""
    commit(
        root,
        "regression model in a sub-folder",
        {
            "README.md": "# several projects\n",
            "regression/train.py": SUB_TRAIN,
            "regression/requirements.txt": "scikit-learn\n",
            "regression/.gitignore": "metrics.txt\n",
            ".github/workflows/regression.yml": SUB_WORKFLOW,
        },
    )

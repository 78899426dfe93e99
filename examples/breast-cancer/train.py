"""Train a tumour classifier on scikit-learn's breast cancer data and write what mlci reads.

Outputs: metrics.json (held-out scores), predictions.csv (one row per test example, with
a `size` column to slice by) and the params come from params.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MODELS = {"logistic": LogisticRegression, "forest": RandomForestClassifier}


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    data = load_breast_cancer(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=params["test_size"], random_state=params["seed"],
        stratify=data.target,
    )
    model = make_pipeline(StandardScaler(), MODELS[params["model"]](**params["model_params"]))
    print(f"fitting {params['model']} on {len(x_train)} rows")
    model.fit(x_train, y_train)
    score = model.predict_proba(x_test)[:, 1]
    pred = model.predict(x_test)
    metrics = {
        "accuracy": accuracy_score(y_test, pred),
        "f1": f1_score(y_test, pred),
        "roc_auc": roc_auc_score(y_test, score),
        "log_loss": log_loss(y_test, score),
    }
    Path("metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    size = x_test["mean radius"].map(lambda r: "large" if r >= 15 else "small")
    rows = ["id,y_true,y_pred,y_score,size"]
    rows += [f"{i},{t},{p},{float(s):.17g},{z}" for i, t, p, s, z in
             zip(x_test.index, y_test, pred, score, size)]
    Path("predictions.csv").write_text("\n".join(rows) + "\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()

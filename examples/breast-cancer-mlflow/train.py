"""Train a tumour classifier and log everything to MLflow; mlci reads the run back.

mlci creates the run and sets MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_ID and MLFLOW_RUN_ID,
so `mlflow.start_run()` below resumes it. Run alone, it starts a run of its own.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.sklearn
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    data = load_breast_cancer(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=params["test_size"], random_state=params["seed"],
        stratify=data.target,
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(**params["model_params"]))
    with mlflow.start_run():
        mlflow.log_params({"model": params["model"], **params["model_params"]})
        model.fit(x_train, y_train)
        score = model.predict_proba(x_test)[:, 1]
        pred = model.predict(x_test)
        mlflow.log_metrics({
            "accuracy": accuracy_score(y_test, pred),
            "f1": f1_score(y_test, pred),
            "roc_auc": roc_auc_score(y_test, score),
            "log_loss": log_loss(y_test, score),
        })
        size = x_test["mean radius"].map(lambda r: "large" if r >= 15 else "small")
        rows = ["id,y_true,y_pred,y_score,size"]
        rows += [f"{i},{t},{p},{float(s):.17g},{z}" for i, t, p, s, z in
                 zip(x_test.index, y_test, pred, score, size)]
        Path("predictions.csv").write_text("\n".join(rows) + "\n")
        mlflow.log_artifact("predictions.csv")
        mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])


if __name__ == "__main__":
    main()

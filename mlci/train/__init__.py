"""Training: the user's own command (command.py) or the built-in pipeline (sklearn.py), run once
by runner.py into a run record; input fingerprints and the run cache (inputs.py, cache.py);
MLflow runs (mlflow_run.py).

Kept empty so that importing one runner does not import the other's heavy libraries.
"""

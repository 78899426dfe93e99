"""Matching the two prediction files: row i of base and head is the same example."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlci.errors import MetricsError

if TYPE_CHECKING:
    import pandas as pd


def align(
    base: pd.DataFrame, head: pd.DataFrame, *, base_name: str, head_name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Put base and head rows on the same examples: by `id` when both have it, else by order."""
    for frame, name in ((base, base_name), (head, head_name)):
        if "y_true" not in frame.columns:
            raise MetricsError(
                f"predictions have no y_true column (columns: {', '.join(map(str, frame))})",
                where=name,
                hint="write y_true, y_pred and an id per example",
            )
    by_id = "id" in base.columns and "id" in head.columns
    if by_id:
        base, head = _align_by_id(base, head, base_name, head_name)
    elif len(base) != len(head):
        raise MetricsError(
            f"base and head predictions differ in length: {len(base)} rows in {base_name}, "
            f"{len(head)} in {head_name}",
            where="train.predictions",
            hint="write an `id` column in both files, or evaluate both models on the same test set",
        )
    base, head = base.reset_index(drop=True), head.reset_index(drop=True)
    _check_same_truth(base, head, base_name, head_name, by_id)
    return base, head


def _align_by_id(
    base: pd.DataFrame, head: pd.DataFrame, base_name: str, head_name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    base_ids, head_ids = _ids(base, base_name), _ids(head, head_name)
    only_head = head_ids.difference(base_ids)
    only_base = base_ids.difference(head_ids)
    if len(only_head) or len(only_base):
        sample = ", ".join(map(str, list(only_head[:3]) + list(only_base[:3])))
        raise MetricsError(
            f"the ids do not match: {len(only_head)} of {len(head)} ids in {head_name} are "
            f"not in {base_name}, {len(only_base)} of {len(base)} ids in {base_name} are not "
            f"in {head_name} (e.g. {sample})",
            where="train.predictions",
            hint="evaluate both models on the same test set, with the same `id` per example",
        )
    return base.iloc[base_ids.get_indexer(head_ids)], head


def _ids(frame: pd.DataFrame, name: str) -> pd.Index:
    import pandas as pd

    ids = pd.Index(_id_text(frame["id"]))
    if not ids.is_unique:
        dup = ids[ids.duplicated()].unique()
        raise MetricsError(
            f"{len(dup)} ids appear more than once (e.g. {', '.join(dup[:3])})",
            where=name,
            hint="give every example its own `id`",
        )
    return ids


def _id_text(ids: pd.Series) -> pd.Series:
    """Ids as text, numbers written one way: 7, 7.0 and "7" are the same example."""
    import numpy as np
    import pandas as pd

    numeric = pd.to_numeric(ids, errors="coerce")
    if numeric.notna().all() and bool(np.all(np.isfinite(numeric))):
        whole = numeric.to_numpy(float) == np.round(numeric.to_numpy(float))
        if whole.all():
            return numeric.astype(np.int64).astype(str)
        return numeric.map(repr)
    return ids.astype(str)


def _check_same_truth(
    base: pd.DataFrame, head: pd.DataFrame, base_name: str, head_name: str, by_id: bool
) -> None:
    import numpy as np
    import pandas as pd

    b, h = base["y_true"], head["y_true"]
    numeric = pd.api.types.is_numeric_dtype(b) and pd.api.types.is_numeric_dtype(h)
    if numeric:
        same = np.isclose(b.to_numpy(float), h.to_numpy(float), equal_nan=True)
    else:
        same = (b.astype(str) == h.astype(str)).to_numpy()
    if same.all():
        return
    first = int(np.argmin(same))
    at = f"id {head['id'].iloc[first]}" if by_id else f"row {first + 1}"
    raise MetricsError(
        f"y_true differs in {int((~same).sum())} of {len(same)} examples between {base_name} "
        f"and {head_name} (first at {at})",
        where="train.predictions",
        hint="compare models on the same test set with the same labels"
        + ("" if by_id else "; if the rows are in another order, write an `id` column"),
    )

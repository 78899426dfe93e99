"""The whole of mlci.yaml built from its YAML nodes, section by section (train has its
own module)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlci.config.node import Node, kind, suggest
from mlci.config.schema import (
    BASELINE_SOURCES,
    PLOT_KINDS,
    REPORT_NAME,
    BaselineConfig,
    Bound,
    Config,
    GateRule,
    GithubConfig,
    MetricSpec,
    MlflowConfig,
    RegisterConfig,
    ReportConfig,
)
from mlci.config.training import train


def build(doc: Node, path: Path) -> Config:
    """The Config of a whole mlci.yaml document, each section built by its own function."""
    top = doc.mapping(
        ("train", "baseline", "metrics", "precision", "gates", "report", "github", "mlflow")
    )
    if "train" not in top:
        doc.fail("has no 'train' section", hint="add train.command or train.sklearn")
    parts: dict[str, Any] = {"path": path, "train": train(top["train"])}
    builders: dict[str, Callable[[Node], Any]] = {
        "baseline": _baseline,
        "metrics": _metrics,
        "gates": _gates,
        "report": _report,
        "github": _github,
        "precision": _precision,
        "mlflow": _mlflow,
    }
    for key, build in builders.items():
        if key in top:
            parts[key] = build(top[key])
    if "mlflow" in top and parts["mlflow"].register is not None and parts["train"].mlflow is None:
        top["mlflow"].value["register"].fail(
            "needs train.mlflow: only a run mlci made in MLflow can be registered",
            hint="add train.mlflow {experiment: NAME}, or remove mlflow.register",
        )
    return Config(**parts)


def _precision(node: Node) -> int:
    digits = node.integer(low=0)
    if digits > 12:
        node.fail(f"must be at most 12, got {digits}")
    return digits


def _baseline(node: Node) -> BaselineConfig:
    m = node.mapping(("ref", "retrain", "sources"))
    sources = None
    if "sources" in m:
        sources = m["sources"].strings()
        for name in sources:
            if name not in BASELINE_SOURCES:
                m["sources"].fail(
                    f"'{name}' is not a baseline source",
                    hint=suggest(name, BASELINE_SOURCES, "choose from"),
                )
        if len(set(sources)) != len(sources):
            m["sources"].fail("names a source twice")
    return BaselineConfig(
        ref=m["ref"].text() if "ref" in m else None,
        retrain=m["retrain"].boolean() if "retrain" in m else True,
        sources=sources,
    )


def _metrics(node: Node) -> dict[str, MetricSpec]:
    if not isinstance(node.value, dict):
        node.fail(f"must be a mapping of metric names, got {kind(node.value)}")
    out = {}
    for name, spec in node.value.items():
        m = spec.mapping(("higher_is_better",))
        hib = m["higher_is_better"].boolean() if "higher_is_better" in m else None
        out[name] = MetricSpec(higher_is_better=hib)
    return out


def _bound(node: Node) -> Bound:
    v = node.value
    if isinstance(v, str):
        match = re.fullmatch(r"(\d+(?:\.\d+)?)%", v.strip())
        if not match:
            node.fail(
                f"must be a number or a percentage like \"2%\", got '{v}'",
                hint='write 0.01 for an absolute bound or "2%" relative to the baseline',
            )
        return Bound(float(match.group(1)), relative=True)
    value = node.number()
    if value < 0:
        node.fail(f"must not be negative, got {value:g}", hint="bounds are sizes of a change")
    return Bound(value)


def _gates(node: Node) -> tuple[GateRule, ...]:
    if not isinstance(node.value, list):
        node.fail(f"must be a list of rules, got {kind(node.value)}")
    return tuple(_gate(item) for item in node.value)


def _gate(node: Node) -> GateRule:
    m = node.mapping(
        ("metric", "min", "max", "max_drop", "max_rise", "noise", "slices", "min_slice_size")
    )
    if "metric" not in m:
        node.fail("needs 'metric': the name of the metric the rule checks")
    out: dict[str, Any] = {"metric": m["metric"].text(), "line": node.line}
    if not any(k in m for k in ("min", "max", "max_drop", "max_rise")):
        node.fail("needs a bound: min, max, max_drop or max_rise")
    for key in ("min", "max"):
        if key in m:
            out[key] = m[key].number()
    if out.get("min") is not None and out.get("max") is not None and out["min"] > out["max"]:
        m["min"].fail(f"({out['min']:g}) is greater than max ({out['max']:g})")
    for key in ("max_drop", "max_rise"):
        if key in m:
            out[key] = _bound(m[key])
    if "noise" in m:
        n = m["noise"]
        if isinstance(n.value, bool):
            out["noise"] = 0.95 if n.value else None
        else:
            conf = n.number()
            if not 0 < conf < 1:
                n.fail(f"must be true, false or a confidence in (0, 1), got {conf:g}")
            out["noise"] = conf
    if "slices" in m:
        out["slices"] = m["slices"].strings()
    if "min_slice_size" in m:
        out["min_slice_size"] = m["min_slice_size"].integer(low=1)
    return GateRule(**out)


def _report(node: Node) -> ReportConfig:
    m = node.mapping(("name", "title", "plots"))
    out: dict[str, Any] = {}
    if "name" in m:
        name = m["name"].text()
        if not REPORT_NAME.fullmatch(name):
            m["name"].fail(
                f"'{name}' may hold only letters, digits, '-' and '_' (at most 64)",
                hint="it becomes the comment marker and the check name",
            )
        out["name"] = name
    if "title" in m:
        out["title"] = m["title"].text()
    if "plots" in m:
        plots = m["plots"].strings() if m["plots"].value != [] else ()
        for i, kind in enumerate(plots):
            if kind not in PLOT_KINDS:
                hint = suggest(kind, PLOT_KINDS, "choose from")
                item = m["plots"].value[i] if isinstance(m["plots"].value, list) else m["plots"]
                item.fail(f"'{kind}' is not a plot mlci makes", hint=hint)
        out["plots"] = plots
    return ReportConfig(**out)


def _github(node: Node) -> GithubConfig:
    m = node.mapping(("comment", "check", "status", "summary", "assets_branch", "assets_keep_days"))
    out: dict[str, Any] = {
        k: m[k].boolean() for k in ("comment", "check", "status", "summary") if k in m
    }
    if "assets_branch" in m:
        out["assets_branch"] = m["assets_branch"].text()
    if "assets_keep_days" in m:
        out["assets_keep_days"] = m["assets_keep_days"].integer(low=1)
    return GithubConfig(**out)


def _mlflow(node: Node) -> MlflowConfig:
    m = node.mapping(("register",))
    if "register" not in m:
        return MlflowConfig()
    r = m["register"].mapping(("model", "alias"))
    if "model" not in r:
        m["register"].fail("needs 'model': the registered model name")
    return MlflowConfig(
        register=RegisterConfig(
            model=r["model"].text(), alias=r["alias"].text() if "alias" in r else "champion"
        )
    )

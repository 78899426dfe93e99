"""The input fingerprint (the run cache's key) of a repository with 10,000 tracked files and
1 GB of data under `train.inputs`, cold (no stat cache in .mlci/) and warm.

Two layouts of the same gigabyte: untracked data that git ignores (a DVC pull) under
`data/**`, which mlci must hash itself once and then keeps by size, mtime and inode; and
the same data committed, where git's own blob ids answer and nothing is read. "Cold" means
mlci's stat cache is empty; the files are in the OS page cache either way (dropping it
needs root and would measure the disk). Run alone or through `make bench`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import git, sandbox_env, table

FILES = 10_000
DATA_BYTES = 1 << 30
CHUNKS = 8  # the gigabyte as 8 files of 128 MiB
WARM_REPEAT = 3


def _repo(root: Path, env: dict[str, str], *, commit_data: bool) -> Path:
    root.mkdir()
    git(root, env, "init", "-q", "-b", "main")
    for i in range(FILES):
        folder = root / "src" / f"pkg{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i % 100:03d}.py").write_text(f"VALUE = {i}\n")
    (root / "mlci.yaml").write_text(
        "train:\n  command: [python, train.py]\n  metrics: metrics.json\n"
        "  inputs: ['src/**', 'data/**', train.py]\n"
    )
    (root / "train.py").write_text("print('train')\n")
    (root / ".gitignore").write_text(".mlci/\n" + ("" if commit_data else "data/\n"))
    data = root / "data"
    data.mkdir()
    block = os.urandom(1 << 20)
    for c in range(CHUNKS):
        with (data / f"part{c}.bin").open("wb") as f:
            for i in range(DATA_BYTES // CHUNKS // len(block)):
                f.write(block[:-8] + (c * 100_000 + i).to_bytes(8, "big"))
    fast = ("-c", "core.compression=0", "-c", "gc.auto=0")  # a benchmark, not an archive
    git(root, env, *fast, "add", "-A")
    git(root, env, *fast, "commit", "-q", "-m", "10,000 files and 1 GB")
    return root


def _fingerprint(root: Path) -> tuple[float, str]:
    from mlci import workspace
    from mlci.train import inputs

    started = time.perf_counter()
    value = inputs.of_checkout(workspace.open_workspace(cwd=root))
    return time.perf_counter() - started, value


def measure(root: Path) -> dict[str, Any]:
    cache = root / ".mlci" / "cache" / "blobs.json"
    cache.unlink(missing_ok=True)
    cold, first = _fingerprint(root)
    warm = []
    for _ in range(WARM_REPEAT):
        seconds, again = _fingerprint(root)
        if again != first:
            raise RuntimeError("the fingerprint changed with nothing changed")
        warm.append(seconds)
    return {"cold_s": cold, "warm_s": statistics.median(warm), "fingerprint": first}


def main() -> dict[str, Any]:
    found = {}
    with tempfile.TemporaryDirectory(prefix="mlci-bench-inputs-") as tmp:
        scratch = Path(tmp)
        env = sandbox_env(scratch / "home")
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            untracked = _repo(scratch / "untracked", env, commit_data=False)
            found["1 GB untracked, ignored (data/**)"] = measure(untracked)
            shutil.rmtree(untracked)  # one gigabyte on disk at a time
            committed = _repo(scratch / "committed", env, commit_data=True)
            found["1 GB committed (git's blob ids)"] = measure(committed)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    print(
        table(
            f"input fingerprint: {FILES:,} tracked files and 1 GB under train.inputs",
            ["the gigabyte is", "cold", f"warm (median of {WARM_REPEAT})"],
            [[k, f"{v['cold_s']:.2f} s", f"{v['warm_s']:.3f} s"] for k, v in found.items()],
        )
    )
    return found


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()

"""The last line of defence for the token: any token value mlci knows is replaced in every
text it writes or posts (report files, the comment, the job summary, its own messages).

mlci never puts a token into a text on purpose; this catches the accidents, such as a
training log that printed its environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

HIDDEN = "***"
MIN_LENGTH = 8  # shorter values would redact ordinary words


def token_names(env: Mapping[str, str]) -> list[str]:
    """The variables that hold a token: MLCI_TOKEN, GITHUB_TOKEN and ACTIONS_*_TOKEN."""
    return [
        name
        for name in env
        if name in ("MLCI_TOKEN", "GITHUB_TOKEN") or re.fullmatch(r"ACTIONS_\w*_TOKEN", name)
    ]


def secrets(env: Mapping[str, str] | None = None) -> list[str]:
    source = os.environ if env is None else env
    values = {source[name].strip() for name in token_names(source)}
    return sorted((v for v in values if len(v) >= MIN_LENGTH), key=len, reverse=True)


def text(value: str, env: Mapping[str, str] | None = None) -> str:
    """value with every known token replaced by ***."""
    for secret in secrets(env):
        value = value.replace(secret, HIDDEN)
    return value

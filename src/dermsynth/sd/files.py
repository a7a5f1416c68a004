"""File modes of saved model folders."""

from __future__ import annotations

import os
from pathlib import Path


def public_modes(folder: str | Path) -> None:
    """safetensors writes private files (0600): give every file the mode a plain open() would."""
    mask = os.umask(0)
    os.umask(mask)
    for path in Path(folder).rglob("*"):
        if path.is_file():
            path.chmod(0o666 & ~mask)

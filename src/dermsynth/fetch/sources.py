"""The sources file (config/sources.yaml): what each external input is fetched from, and which
config key says where it goes.

Each top-level entry is one input the CLI can name (`glide`, `sd`, `ham10000`, ...), with a
`kind` (how it is fetched) and `dest` keys into the merged config. A destination that is null,
or a path under resources/demo/ (the demo builds those), is not read from outside: nothing is
fetched for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from dermsynth.errors import DataError

KINDS = ("url", "hub", "dataverse", "fitzpatrick17k", "manual")
# the names `dermsynth fetch` takes: a group, or one entry of the sources file
GROUPS = {
    "weights": ("glide", "inception", "torchvision", "sd"),
    "ham10000": ("ham10000",),
    "fitzpatrick17k": ("fitzpatrick17k",),
    "splits": ("splits",),
    "ddi": ("ddi",),
}
DEMO_PREFIX = "resources/demo/"


def load_sources(path: str | Path) -> dict[str, dict]:
    """The sources file's entries by name, each with a known `kind`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "sources file not found")
    sources = yaml.safe_load(path.read_text()) or {}
    for name, entry in sources.items():
        if not isinstance(entry, Mapping) or entry.get("kind") not in KINDS:
            raise DataError(path, f"{name}: kind must be one of {KINDS}")
    return sources


def names_for(asked: Iterable[str], sources: Mapping[str, object]) -> list[str]:
    """The sources entries that the names `asked` stand for (groups or entries), in the
    sources file's order; all of them where nothing is asked."""
    asked = list(asked)
    if not asked:
        return list(sources)
    wanted = set()
    for name in asked:
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in sources:
            wanted.add(name)
        else:
            known = sorted(set(GROUPS) | set(sources))
            raise ValueError(f"nothing to fetch is named {name!r}; known: {', '.join(known)}")
    return [name for name in sources if name in wanted]


def config_value(config: Mapping, key: str) -> object:
    """The value of a dotted `key` (e.g. glide.base.init) in the merged config; None where the
    config does not set it (an optional setting, e.g. a classifier's `weights`)."""
    value: object = config
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def destination(config: Mapping, key: str) -> str | None:
    """The path the config reads at `key`, or None where it reads nothing from outside."""
    value = config_value(config, key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DataError(key, f"the config's value is not a path: {value!r}")
    return None if value.startswith(DEMO_PREFIX) else value

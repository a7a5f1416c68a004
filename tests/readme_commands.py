"""The shell commands of the README, as a user copies them: every line of its ```bash blocks
(continuation lines joined, comments dropped), split into the steps that `&&` and `;` chain,
each step classified by how a test can run it without training anything.

Kinds of step:
- `install`: `python3 -m venv .venv`, `pip install ...`: CI's `.ci/run` runs the same install;
- `tests`: a `pytest` line: CI's `.ci/run` runs the same command (running it from a test would
  run the suite inside itself);
- `ci_script`: `.ci/*.sh` (with or without sudo): the script exists and is executable;
- `snakemake`: run dry (`-n` added) in a copy of the workflow, on the placeholder real tree when
  it names `config/paper.yaml`;
- `after_demo`: needs the demo's products (`--report`, reading `results/`): run on the built demo
  graph (tests/test_workflow.py);
- `benchmark`: `python benchmarks/X.py ARGS`: every `--flag` it passes is one its `--help` shows
  (a benchmark times minutes of work; CI does not run them);
- `dermsynth`: the `dermsynth` command, run as typed, on the placeholder real tree when it names
  `config/paper.yaml`.
A step of no kind fails the test that reads it: a new README command needs a way to be checked.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Step:
    line: int  # the README line the command starts on
    text: str  # the step as typed
    kind: str

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text)


def readme_lines(path: Path) -> list[tuple[int, str]]:
    """(README line number, command) for every command of its ```bash blocks."""
    source = path.read_text()
    commands = []
    for block in BLOCK.finditer(source):
        first = source.count("\n", 0, block.start(1)) + 1
        pending, start = "", 0
        for offset, raw in enumerate(block.group(1).splitlines()):
            line = raw.rstrip()
            if not pending:
                start = first + offset
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            command = _without_comment(pending + line).strip()
            pending = ""
            if command:
                commands.append((start, command))
    return commands


def _without_comment(line: str) -> str:
    """The line up to a `#` that starts a shell comment (not one inside quotes)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        kept = list(lexer)
    except ValueError:  # unbalanced quotes: keep the line for the test to report
        return line
    if not kept:
        return ""
    # cut the raw text after the last kept word, so quoting stays as typed
    hash_at = [m.start() for m in re.finditer(r"(?<=\s)#", line)]
    for at in hash_at:
        if _balanced(line[:at]):
            return line[:at]
    return line


def _balanced(text: str) -> bool:
    try:
        shlex.split(text)
    except ValueError:
        return False
    return True


def split_steps(command: str) -> list[str]:
    """The steps of a command chained by `&&` or `;` (outside quotes)."""
    steps, current, quote = [], "", None
    i = 0
    while i < len(command):
        c = command[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif command.startswith("&&", i) or c == ";":
            steps.append(current.strip())
            current = ""
            i += 2 if c == "&" else 1
            continue
        current += c
        i += 1
    steps.append(current.strip())
    return [s for s in steps if s]


def kind_of(step: str) -> str | None:
    words = shlex.split(step)
    if words[0] == "sudo":
        words = words[1:]
    program = Path(words[0]).name
    if words[:3] == ["python3", "-m", "venv"] or program == "pip":
        return "install"
    if program == "pytest":
        return "tests"
    if words[0].startswith(".ci/"):
        return "ci_script"
    if program == "snakemake":
        return "after_demo" if "--report" in words else "snakemake"
    if program in ("python", "python3") and len(words) > 1:
        if words[1].startswith("benchmarks/"):
            return "benchmark"
        if words[1] == "-c" and "results/" in words[2]:
            return "after_demo"
    if program == "dermsynth":
        return "dermsynth"
    return None


def readme_steps(path: Path) -> list[Step]:
    """Every step of every README command, classified."""
    return [
        Step(line, step, kind_of(step) or "unknown")
        for line, command in readme_lines(path)
        for step in split_steps(command)
    ]


def local_program(words: list[str], bin_dir: Path) -> list[str]:
    """The words with the program resolved as a user with the activated venv has it:
    `.venv/bin/X` and `X` both run this interpreter's `X`."""
    program = Path(words[0]).name
    if program in ("python", "python3"):
        return [str(bin_dir / "python"), *words[1:]]
    return [str(bin_dir / program), *words[1:]]


def dry(words: list[str]) -> list[str]:
    """A snakemake command with `-n` added right after the program (before any option that
    swallows the words after it)."""
    return words if "-n" in words or "--dry-run" in words else [words[0], "-n", *words[1:]]

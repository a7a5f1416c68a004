"""Send a rule's logging, warnings and tracebacks to its log file."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def to_rule_log(path: str | Path) -> Iterator[logging.Logger]:
    """Log to `path` (and stderr's tqdm bars there too); a failure's traceback ends the log."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("dermsynth")
    # captured warnings go to "py.warnings", which logging gives a NullHandler: log them here
    warnings_logger = logging.getLogger("py.warnings")
    with open(path, "w", buffering=1) as stream, redirect_stderr(stream):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
        warnings_logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logging.captureWarnings(True)
        try:
            yield logger
        except BaseException:
            stream.write(traceback.format_exc())
            # also to the real stderr, so Snakemake's own output shows the reason
            sys.__stderr__.write(f"error, see {path}:\n{traceback.format_exc()}")
            raise
        finally:
            logger.removeHandler(handler)
            warnings_logger.removeHandler(handler)
            logging.captureWarnings(False)

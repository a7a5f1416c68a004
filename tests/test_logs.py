"""dermsynth.logs: a rule's log file holds its messages, warnings and the reason it failed."""

from __future__ import annotations

import logging
import warnings

import pytest

from dermsynth.logs import to_rule_log


def test_rule_log_holds_log_messages_and_warnings(tmp_path):
    path = tmp_path / "logs" / "rule.log"
    with to_rule_log(path):
        logging.getLogger("dermsynth.data.ingest").info("read 12 images")
        warnings.warn("few images in class df", UserWarning, stacklevel=1)
    text = path.read_text()
    assert "INFO dermsynth.data.ingest: read 12 images" in text
    assert "WARNING py.warnings: " in text
    assert "UserWarning: few images in class df" in text


def test_rule_log_ends_with_the_traceback_of_a_failure_and_reraises(tmp_path):
    path = tmp_path / "rule.log"
    with pytest.raises(KeyError, match="no_such_class"), to_rule_log(path):
        raise KeyError("no_such_class")
    lines = path.read_text().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "KeyError: 'no_such_class'"


def test_rule_log_takes_nothing_after_the_rule(tmp_path):
    loggers = [logging.getLogger("dermsynth"), logging.getLogger("py.warnings")]
    before = [list(logger.handlers) for logger in loggers]
    with to_rule_log(tmp_path / "rule.log"):
        pass
    assert [logger.handlers for logger in loggers] == before
    logging.getLogger("dermsynth").info("after the rule")
    assert "after the rule" not in (tmp_path / "rule.log").read_text()

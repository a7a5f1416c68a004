"""dermsynth.errors: a data error says where, in the words an editor uses."""

from __future__ import annotations

from dermsynth.errors import DataError, csv_line


def test_data_error_message_starts_with_the_file_and_line():
    error = DataError("data/pairs.csv", "unknown dx 'x'", line=5)
    assert str(error) == "data/pairs.csv, line 5: unknown dx 'x'"
    assert (error.path, error.line) == ("data/pairs.csv", 5)


def test_data_error_without_a_line_names_only_the_file():
    assert str(DataError("data/pairs.csv", "file not found")) == "data/pairs.csv: file not found"


def test_data_error_is_a_value_error():
    assert isinstance(DataError("f", "m"), ValueError)


def test_csv_line_of_the_first_data_row_is_two_as_the_header_is_line_one():
    assert [csv_line(position) for position in (0, 1, 10)] == [2, 3, 12]

"""dermsynth.class_order: Table 2's numbering of the HAM10000 classes, matched by name."""

from __future__ import annotations

import pytest

from dermsynth.class_order import paper_class_number, paper_order

# HAM10000's seven, in the workflow's (alphabetical) order; Table 2 numbers them otherwise
HAM = {
    "akiec": "actinic keratoses and intraepithelial carcinoma",
    "bcc": "basal cell carcinoma",
    "bkl": "benign keratosis-like lesions",
    "df": "dermatofibroma",
    "mel": "melanoma",
    "nv": "melanocytic nevi",
    "vasc": "vascular lesions",
}


def test_paper_order_numbers_ham10000_classes_as_table_2_does():
    assert paper_order(HAM) == ["mel", "nv", "akiec", "bkl", "bcc", "df", "vasc"]
    # a class the paper lacks follows the paper's, in the order given
    assert paper_order({"x": "psoriasis", "nv": "melanocytic nevi"}) == ["nv", "x"]


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("Melanoma ", 1),  # case and surrounding space do not matter
        ("actinic keratoses and intraepithelial carcinoma", 3),  # the footnote's name, cut at "/"
        ("benign keratosis-like lesions", 4),  # cut at " ("
        ("melano", None),  # a word cut short is no match
        ("psoriasis", None),
    ],
)
def test_a_class_name_matches_table_2_in_full_or_up_to_a_qualifier(name, number):
    assert paper_class_number(name) == number

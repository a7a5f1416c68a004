"""Paper 1's order of the HAM10000 classes: Table 2 numbers them 1-7 (melanoma first), and
Tables 2-3 and Figures 1-2 list them so; the reader study's and the classifiers' reports follow it.
"""

from __future__ import annotations

from collections.abc import Mapping

# Table 2's classes 1-7 as its footnote names them (paper 1, Tables 2-3, Figures 1-2); a class
# is matched when its name is the start of one of these, as "actinic keratoses and
# intraepithelial carcinoma" of "actinic keratoses and intraepithelial carcinoma/bowen disease"
PAPER_CLASS_NAMES = (
    "melanoma",
    "melanocytic nevi",
    "actinic keratoses and intraepithelial carcinoma/bowen disease",
    "benign keratosis-like lesions (solar lentigines/seborrheic keratoses and lichen-planus "
    "like keratoses)",
    "basal cell carcinoma",
    "dermatofibroma",
    "vascular lesions",
)


def paper_class_number(name: str) -> int | None:
    """Table 2's class number (1-7) of a class name, or None."""
    name = name.strip().casefold()
    for number, paper_name in enumerate(PAPER_CLASS_NAMES, start=1):
        if paper_name == name or (paper_name.startswith(name) and paper_name[len(name)] in "/ ("):
            return number
    return None


def paper_order(classes: Mapping[str, str]) -> list[str]:
    """Class codes in Table 2's order (melanoma first); classes it lacks follow in given order."""
    numbers = {code: paper_class_number(name) for code, name in classes.items()}
    known = sorted((n, code) for code, n in numbers.items() if n is not None)
    return [code for _, code in known] + [code for code, n in numbers.items() if n is None]

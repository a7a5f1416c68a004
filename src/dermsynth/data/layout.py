"""The datasets' files as distributed, under each dataset's root folder: one metadata CSV and
the folders of its images. The workflow's raw inputs, the ingestion and the demo datasets all
read the layout from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawLayout:
    """A dataset's metadata CSV and image folders, relative to its root."""

    metadata: str
    images: tuple[str, ...]


RAW_LAYOUT = {
    "ham10000": RawLayout(
        metadata="HAM10000_metadata.csv",
        images=("HAM10000_images_part_1", "HAM10000_images_part_2"),
    ),
    "fitzpatrick17k": RawLayout(metadata="fitzpatrick17k.csv", images=("images",)),
    "ddi": RawLayout(metadata="ddi_metadata.csv", images=("images",)),
}

"""dermsynth.reader_study.figures: Figure 2's ROC panels and the confusion matrices of a reader's
answers, on four hand-made answers."""

from __future__ import annotations

import pandas as pd
from PIL import Image

from dermsynth.reader_study import figures
from dermsynth.reader_study.figures import plot_reader_figures

AI, REAL = "AI-generated", "real"
# true mel, mel, nv, nv; the reader calls the second melanoma a nevus
ANSWERS = pd.DataFrame(
    {
        "image_id": ["img-000000", "img-000001", "img-000002", "img-000003"],
        "class": ["mel", "mel", "nv", "nv"],
        "predicted_class": ["mel", "nv", "nv", "nv"],
        "source": [AI, REAL, AI, REAL],
        "predicted_source": [AI, REAL, AI, REAL],
    }
)
NOT_THE_PAPERS_ORDER = {"nv": "melanocytic nevi", "mel": "melanoma"}


def test_plot_reader_figures_writes_figure_2_and_the_confusion_matrices_and_nothing_else(
    tmp_path, monkeypatch
):
    drawn = {}
    save_figure = figures.save_figure

    def save_and_keep(fig, path, dpi=110):
        drawn[path.name] = {
            "title": fig.get_suptitle(),
            "entity_rows": [label.get_text() for label in fig.axes[0].get_yticklabels()],
        }
        save_figure(fig, path, dpi)

    monkeypatch.setattr(figures, "save_figure", save_and_keep)
    plot_reader_figures(
        ANSWERS,
        NOT_THE_PAPERS_ORDER,
        roc_path=tmp_path / "roc.png",
        confusion_path=tmp_path / "confusion.png",
        run="demo",
        method="glide",
        reader="SIMULATED reader",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["confusion.png", "roc.png"]
    for name in ("roc.png", "confusion.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG"
        # a simulated reader's figure is never taken for a real one's
        assert "SIMULATED reader" in drawn[name]["title"]
    assert drawn["confusion.png"]["entity_rows"] == ["mel", "nv"]  # Table 2's order

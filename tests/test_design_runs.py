"""dermsynth.design.runs: the classifier runs a config asks for, and their names."""

from __future__ import annotations

import pytest

from dermsynth.design.runs import GridRun, grid_runs, parse_run_id, run_settings

PAPER_SOURCES = [
    f"{method}-{variant}"
    for method in ("text2img", "inpaint", "inoutpaint")
    for variant in ("pretrained", "dreambooth")
]
PAPER_GRID = {
    "real_per_class": [1, 8, 16, 32, 64, 128, 228],
    "sources": PAPER_SOURCES,
    "synthetic_per_real": 10,
    "transforms": [False, True],
    "seeds": [111108, 111109, 111110, 111111, 111112],
    "dose_response": {
        "real_per_class": [128, 228],
        "synthetic_per_real": [10, 25, 50, 75],
        "first_index": 10,
        "sources": ["text2img-dreambooth"],
        "seeds": [119108, 119109, 119110, 119111, 119112],
    },
}


def test_run_ids_round_trip():
    for run in (
        GridRun("authors", 1, "none", 0, False, 0),
        GridRun("strict", 228, "inoutpaint-dreambooth", 75, True, 4),
        GridRun("authors", 128, "text2img-dreambooth", 25, True, 119108, 10),
    ):
        assert parse_run_id(run.run_id, run.protocol) == run
    run = GridRun("authors", 8, "inpaint-pretrained", 10, True, 111108)
    assert run.run_id == "n8_sinpaint-pretrained_x10_t1_seed111108"
    assert run.path_id == "authors/n8_sinpaint-pretrained_x10_t1_seed111108"
    dose = GridRun("authors", 128, "text2img-dreambooth", 25, False, 119108, 10)
    assert dose.run_id == "n128_stext2img-dreambooth_x25from10_t0_seed119108"
    assert dose.last_index == 35
    with pytest.raises(ValueError, match="not a grid run id"):
        parse_run_id("n8_sinpaint_x10_t2_seed0", "authors")
    with pytest.raises(ValueError, match="'none' goes with 0"):
        GridRun("authors", 8, "none", 10, True, 0)
    with pytest.raises(ValueError, match="letters, digits and hyphens"):
        GridRun("authors", 8, "in_paint", 10, True, 0)
    with pytest.raises(ValueError, match="protocol 'ours'"):
        GridRun("ours", 8, "none", 0, True, 0)


def test_the_paper_grid_has_490_runs_and_80_dose_response_runs_per_protocol():
    runs = grid_runs(PAPER_GRID)
    main = [r for r in runs if r.first_index == 0]
    # 7 real counts x (none + 3 methods x 2 variants) x transforms yes/no x 5 seeds
    assert len(main) == 7 * 7 * 2 * 5 == 490
    # dose response: 2 real counts x 1 source x (10, 25, 50, 75) from index 10 x 2 x 5
    assert len(runs) - len(main) == 2 * 4 * 2 * 5 == 80
    assert {r.protocol for r in runs} == {"authors"}
    assert len({r.run_id for r in runs}) == len(runs) == 570
    assert {r.synthetic_per_real for r in runs if r.source == "none"} == {0}
    both = grid_runs({**PAPER_GRID, "protocols": ["authors", "strict"]})
    assert len(both) == 2 * 570 and len({r.path_id for r in both}) == 1140


def test_an_unknown_grid_key_is_an_error():
    with pytest.raises(ValueError, match=r"unknown grid key\(s\) \['seed'\]"):
        grid_runs({**PAPER_GRID, "seed": 0})


def test_dose_response_runs_take_their_own_settings_over_the_grids():
    section = {
        "real_per_class": [128],
        "sources": ["text2img-dreambooth"],
        "synthetic_per_real": 10,
        "transforms": [False],
        "seeds": [1],
        "settings": {"regime": "authors", "epochs": 50},
        "dose_response": {
            "real_per_class": [128],
            "synthetic_per_real": [25],
            "first_index": 10,
            "settings": {"restore_best": True},
        },
    }
    grid = {k: v for k, v in section.items() if k != "settings"}
    runs = {run.run_id: run for run in grid_runs(grid)}
    main, dose = (
        runs["n128_stext2img-dreambooth_x10_t0_seed1"],
        runs["n128_stext2img-dreambooth_x25from10_t0_seed1"],
    )
    assert run_settings(section, main) == {"regime": "authors", "epochs": 50}
    assert run_settings(section, dose) == {"regime": "authors", "epochs": 50, "restore_best": True}
    # a dose run that is also a grid run cannot take two sets of settings
    clash = {
        **grid,
        "dose_response": {**grid["dose_response"], "synthetic_per_real": [10], "first_index": 0},
    }
    with pytest.raises(ValueError, match="also main-grid runs"):
        grid_runs(clash)
    clash["dose_response"].pop("settings")
    assert len(grid_runs(clash)) == 2  # none, and the one run both name

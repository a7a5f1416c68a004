"""dermsynth.check and `dermsynth check`: every external input of a config present, readable,
as recorded, loadable into its architecture; the datasets' rows; disk; GPU. The graph is the
real snakemake's, on the placeholder real tree (datasets placed, weights missing) and on the
demo; weights files are written with meta tensors (the right keys and shapes, no bytes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from workflow_helpers import (
    REPO,
    copy_workflow,
    place_paper_inputs,
    remove_paper_weights,
)

from dermsynth import check
from dermsynth.check import (
    Finding,
    check_digests,
    check_disk,
    check_file,
    check_gpu,
    check_rows,
    check_weights,
    efficientnet_state,
    fetch_hint,
    format_findings,
    glide_state,
    inception_state,
    recorded_digests,
    weight_checks,
)
from dermsynth.cli import main
from dermsynth.plan import (
    ExternalInput,
    Plan,
    PlanError,
    load_config,
    snakemake_args,
    snakemake_graph,
)

PAPER = ["config/paper.yaml"]

# a sources file as `dermsynth fetch` reads it (config/sources.yaml): entries by name, a `dest`
# config key for each file, a `name` under a folder destination, a published digest or none
SOURCES = """
glide:
  kind: url
  files:
    - {url: "https://example.org/base.pt", dest: glide.base.init}
    - {url: "https://example.org/upsample.pt", dest: glide.upsample.init}
fitzpatrick17k:
  kind: fitzpatrick17k
  dest: datasets.fitzpatrick17k.root
splits:
  kind: url
  files:
    - {url: "https://example.org/t.csv", dest: splits.fitzpatrick17k.paper.released,
       name: fitzpatrick17k_10label_clean_training.csv}
torchvision:
  kind: url
  files:
    - {url: "https://example.org/e.pth", sha256_prefix: dc08266a,
       dest: classify.grid.settings.weights}
ddi:
  kind: manual
  dest: datasets.ddi.root
"""


@pytest.fixture(scope="module")
def paper_tree(tmp_path_factory):
    """The placeholder real tree with the datasets placed and no weights, our sources file, and
    the graph Snakemake builds for config/paper.yaml there (asked once)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("paper"))
    place_paper_inputs(workdir)
    weights = remove_paper_weights(workdir)
    (workdir / "config" / "sources.yaml").write_text(SOURCES)
    (workdir / "config" / "sources.lock.csv").unlink(missing_ok=True)
    graph = snakemake_graph(workdir, snakemake_args([], PAPER, "profiles/slurm"))
    return workdir, graph, weights


def table_rows(out: str) -> list[list[str]]:
    """The check table's rows, split on its runs of two spaces or more."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[2:] if line.strip()]


@pytest.mark.workflow
def test_check_on_the_paper_tree_without_weights_lists_them_and_exits_1(
    paper_tree, monkeypatch, capsys
):
    workdir, graph, weights = paper_tree
    monkeypatch.setattr(check, "snakemake_graph", lambda wd, args: graph)  # the fixture's
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--directory", str(workdir), "--configfile", *PAPER])
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    rows = {row[1]: row for row in table_rows(out) if row[0] == "input"}
    for path in weights:
        assert rows[path][2] == "missing", rows[path]
    hint = "dermsynth fetch glide --configfile config/paper.yaml"
    assert rows["resources/weights/glide/base.pt"][3] == hint
    assert rows["resources/weights/sd/stable-diffusion-2-1-base"][3].startswith("put it here")
    # a placeholder is no dataset: an empty metadata file would stop ingestion
    assert rows["resources/raw/ham10000/HAM10000_metadata.csv"][2] == "empty file"
    assert rows["resources/raw/ddi/images"][3].startswith("request it (config/sources.yaml: ddi)")
    released = (
        "resources/raw/fitzpatrick17k/fitz_metadata/fitzpatrick17k_10label_clean_training.csv"
    )
    assert rows[released][3] == "dermsynth fetch splits --configfile config/paper.yaml"
    assert rows["resources/reference/shavlokhova2023_table1.csv"][2].startswith("ok, ")
    assert "problem(s) would stop the run" in out


@pytest.mark.workflow
def test_check_on_the_demo_finds_nothing_that_would_stop_it(tmp_path, capsys):
    """The demo's datasets and weights are made by rules: none is an external input."""
    workdir = copy_workflow(tmp_path)
    main(["check", "--directory", str(workdir)])  # exit code 0: main returns
    out = capsys.readouterr().out
    assert out.rstrip().endswith("nothing found that would stop the run")
    checks = {row[0] for row in table_rows(out)[:-1]}
    assert checks <= {"input", "disk", "gpu"} and "disk" in checks


def test_check_of_a_graph_snakemake_refuses_is_one_line_and_exit_code_2(
    tmp_path, monkeypatch, capsys
):
    def refuse(workdir, args):  # as dermsynth.plan reads Snakemake's refusal
        raise PlanError("MissingRuleException: No rule to produce no_such_target (...)")

    monkeypatch.setattr(check, "snakemake_graph", refuse)
    with pytest.raises(SystemExit) as exit_:
        main(["check", "no_such_target", "--directory", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == "dermsynth check: MissingRuleException: No rule to produce no_such_target (...)\n"


# --- what to do, and the digests `dermsynth fetch` records ----------------------------------


def test_a_missing_input_names_the_fetch_that_gets_it_or_where_it_goes():
    import yaml

    config = load_config(REPO, PAPER)
    sources = yaml.safe_load(SOURCES)
    assert fetch_hint("resources/weights/glide/upsample.pt", sources, config, PAPER) == (
        "dermsynth fetch glide --configfile config/paper.yaml"
    )
    # the split file's own entry, not the dataset's whose folder holds it
    released = (
        "resources/raw/fitzpatrick17k/fitz_metadata/fitzpatrick17k_10label_clean_training.csv"
    )
    assert fetch_hint(released, sources, config, []) == "dermsynth fetch splits"
    assert fetch_hint("resources/raw/fitzpatrick17k/images", sources, config, []) == (
        "dermsynth fetch fitzpatrick17k"
    )
    two = ["config/paper.yaml", "mine.yaml"]  # one flag for all, as Snakemake's
    assert fetch_hint("resources/weights/glide/base.pt", sources, config, two).endswith(
        "--configfile config/paper.yaml mine.yaml"
    )
    # no sources file (or no entry): where to put it by hand
    assert fetch_hint("resources/weights/glide/base.pt", {}, config, PAPER) == (
        "put it here (README: The real datasets)"
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_recorded_digests_come_from_the_lock_file_then_the_published_ones(tmp_path):
    import yaml

    config = load_config(REPO, PAPER)
    (tmp_path / "config").mkdir()
    lock = "path,source,sha256,bytes,revision\nresources/weights/glide/base.pt,u,AB12,5,\n"
    (tmp_path / "config" / "sources.lock.csv").write_text(lock)
    digests = recorded_digests(tmp_path, config, yaml.safe_load(SOURCES))
    assert digests["resources/weights/glide/base.pt"].sha256 == "ab12"
    assert digests["resources/weights/glide/base.pt"].size == 5
    torchvision = digests[config["classify"]["grid"]["settings"]["weights"]]
    assert (torchvision.sha256, torchvision.where) == ("dc08266a", "config/sources.yaml")
    assert recorded_digests(tmp_path / "nowhere", config, {}) == {}  # neither file: none


@pytest.mark.parametrize(
    ("content", "recorded", "size", "status"),
    [
        (b"weights", sha256(b"weights"), 7, "ok, sha256 as"),
        (b"weights", sha256(b"weights")[:8], None, "ok, sha256 as"),  # a published prefix
        (b"weightz", sha256(b"weights"), 7, "sha256 "),
        (b"weights!", sha256(b"weights"), 7, "8 bytes; lock records 7"),
    ],
    ids=["same", "same-prefix", "other-bytes", "other-size"],
)
def test_a_file_is_checked_against_its_recorded_digest(tmp_path, content, recorded, size, status):
    (tmp_path / "w.pt").write_bytes(content)
    digests = {"w.pt": check.Digest(recorded, size, "lock")}
    [finding] = check_digests(tmp_path, ExternalInput("w.pt", ("r",)), digests)
    assert finding.status.startswith(status), finding
    assert finding.fails == (not status.startswith("ok"))


def test_a_folder_is_checked_file_by_file_where_files_under_it_are_recorded(tmp_path):
    (tmp_path / "sd" / "unet").mkdir(parents=True)
    (tmp_path / "sd" / "unet" / "w.bin").write_bytes(b"unet")
    (tmp_path / "sd" / "model_index.json").write_bytes(b"{}")
    digests = {
        "sd/unet/w.bin": check.Digest(sha256(b"unet"), 4, "lock"),
        "sd/model_index.json": check.Digest(sha256(b"[]"), 2, "lock"),
        "sdx/other.bin": check.Digest(sha256(b""), 0, "lock"),  # another folder's
    }
    findings = check_digests(tmp_path, ExternalInput("sd", ("r",)), digests)
    assert [(f.path, f.fails) for f in findings] == [
        ("sd/model_index.json", True),
        ("sd/unet/w.bin", False),
    ]


# --- files: present, readable, size --------------------------------------------------------


def test_an_input_is_missing_empty_or_there_with_its_size(tmp_path):
    item = ExternalInput("a/w.pt", ("r",))
    assert check_file(tmp_path, item, "fetch it").status == "missing"
    assert check_file(tmp_path, item, "fetch it").todo == "fetch it"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.pt").write_bytes(b"")
    assert check_file(tmp_path, item, "x").status == "empty file"
    (tmp_path / "a" / "w.pt").write_bytes(b"1" * 1500)
    assert check_file(tmp_path, item, "x") == Finding("input", "a/w.pt", "ok, 1.5 kB")
    folder = check_file(tmp_path, ExternalInput("a", ("r",)), "x")
    assert (folder.status, folder.fails) == ("ok, 1 files, 1.5 kB", False)


# --- weights against their architectures -----------------------------------------------------


def meta_file(path: Path, state: dict) -> None:
    """A weights file with these keys and shapes and no data (meta tensors save as such)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: torch.empty(v.shape, device="meta") for k, v in state.items()}, path)


def test_glide_state_is_the_network_the_fine_tune_loads_its_weights_into():
    from dermsynth.glide.options import create_model_and_diffusion

    config = load_config(REPO, [])  # the demo's small GLIDEs, built for real on the CPU
    for kind in ("base", "upsample"):
        options = {**reference_options(kind), **config["glide"][kind]["options"]}
        model, _ = create_model_and_diffusion(**{**options, "use_fp16": False})
        real = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert {k: tuple(v.shape) for k, v in glide_state(config, kind).items()} == real


def reference_options(kind: str) -> dict:
    from dermsynth.glide.options import (
        model_and_diffusion_defaults,
        model_and_diffusion_defaults_upsampler,
    )

    return (
        model_and_diffusion_defaults()
        if kind == "base"
        else model_and_diffusion_defaults_upsampler()
    )


@pytest.fixture(scope="module")
def paper_weights_tree(tmp_path_factory):
    """config/paper.yaml's weights as meta files at its paths: GLIDE's two, the Inception, the
    EfficientNetV2-M; and a Stable Diffusion folder of each kind (configs, empty weights)."""
    workdir = tmp_path_factory.mktemp("weights")
    config = load_config(REPO, PAPER)
    for kind in ("base", "upsample"):
        meta_file(workdir / config["glide"][kind]["init"], glide_state(config, kind))
    meta_file(workdir / config["metrics"]["inception"]["weights"], inception_state(config))
    meta_file(
        workdir / config["classify"]["grid"]["settings"]["weights"], efficientnet_state(config)
    )
    for kind, folder in config["sd"]["models"].items():
        diffusers_folder(workdir / folder, in_channels=4 if kind == "text2img" else 9)
    return workdir, config


def diffusers_folder(folder: Path, in_channels: int) -> None:
    components = ["unet", "vae", "text_encoder", "tokenizer", "scheduler"]
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps(dict.fromkeys(components, ["x", "y"])))
    for name, files in {
        "unet": ["config.json", "diffusion_pytorch_model.safetensors"],
        "vae": ["config.json", "diffusion_pytorch_model.safetensors"],
        "text_encoder": ["config.json", "model.safetensors"],
        "tokenizer": ["vocab.json", "merges.txt"],
        "scheduler": ["scheduler_config.json"],
    }.items():
        (folder / name).mkdir()
        for file in files:
            (folder / name / file).write_text("{}")
    (folder / "unet" / "config.json").write_text(json.dumps({"in_channels": in_channels}))


def test_weights_of_their_architecture_load_by_keys_and_shapes(paper_weights_tree):
    workdir, config = paper_weights_tree
    checks = weight_checks(config)
    assert len(checks) == 6  # GLIDE x 2, Inception, EfficientNetV2-M (grid and DDI: one), SD x 2
    for path in checks:
        finding = check_weights(workdir, ExternalInput(path, ("r",)), checks)
        assert (finding.check, finding.fails) == ("weights", False), finding
        sound = "a complete diffusers folder" if "/sd/" in path else "keys and shapes match"
        assert finding.status.endswith(sound), finding


def test_weights_of_another_network_are_refused_naming_the_keys(paper_weights_tree, tmp_path):
    workdir, config = paper_weights_tree
    base = config["glide"]["base"]["init"]
    upsample = workdir / config["glide"]["upsample"]["init"]
    swapped = tmp_path / base
    swapped.parent.mkdir(parents=True)
    swapped.write_bytes(upsample.read_bytes())  # the upsampler where the base model goes
    finding = check_weights(tmp_path, ExternalInput(base, ("r",)), weight_checks(config))
    assert finding.fails and finding.status.startswith("not GLIDE base: ")
    assert "shape (" in finding.status or "missing (" in finding.status
    # one tensor dropped, one misshapen: both named
    state = efficientnet_state(config)
    first, second = list(state)[:2]
    state.pop(first)
    state[second] = torch.empty(3, device="meta")
    path = config["classify"]["ddi"]["settings"]["weights"]
    meta_file(tmp_path / path, state)
    finding = check_weights(tmp_path, ExternalInput(path, ("r",)), weight_checks(config))
    assert finding.fails and f"1 missing ({first})" in finding.status
    assert f"{second} (3,) != " in finding.status


def test_a_stable_diffusion_folder_of_the_other_kind_or_without_a_config_is_refused(
    paper_weights_tree, tmp_path
):
    workdir, config = paper_weights_tree
    text2img = config["sd"]["models"]["text2img"]
    diffusers_folder(tmp_path / text2img, in_channels=9)  # an inpainting UNet
    checks = weight_checks(config)
    finding = check_weights(tmp_path, ExternalInput(text2img, ("r",)), checks)
    assert finding.fails and "UNet has 9 input channels" in finding.status
    (tmp_path / text2img / "vae" / "config.json").unlink()
    finding = check_weights(tmp_path, ExternalInput(text2img, ("r",)), checks)
    assert finding.fails and "vae/config.json" in finding.status


def test_a_weights_file_that_is_no_torch_file_is_a_finding_not_a_crash(tmp_path):
    config = load_config(REPO, PAPER)
    path = config["metrics"]["inception"]["weights"]
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text("<html>not found</html>")  # what a failed download leaves
    finding = check_weights(tmp_path, ExternalInput(path, ("r",)), weight_checks(config))
    assert finding.fails and "cannot be read" in finding.status


# --- datasets: rows against the published counts, images present -------------------------------

HAM = "lesion_id,image_id,dx,dx_type,age,sex,localization\n" + "".join(
    f"L{i},ISIC_{i},nv,histo,50,male,back\n" for i in range(3)
)
F17K = "md5hash,fitzpatrick_scale,label\n" + "".join(
    f"h{i},2,{label}\n" for i, label in enumerate(["psoriasis", "psoriasis", "acne"])
)
DDI = ",DDI_ID,DDI_file,skin_tone,malignant,disease\n" + "".join(
    f"{i},{i},{i:06d}.png,12,False,x\n" for i in range(3)
)


@pytest.mark.parametrize(
    ("dataset", "metadata", "images", "missing_images", "status", "fails"),
    [
        (
            "ham10000",
            HAM,
            ["ISIC_0.jpg", "ISIC_1.jpg", "ISIC_2.jpg"],
            "error",
            "3 rows, published 10015; 3 of them with their image",
            False,
        ),
        (
            "ham10000",
            HAM,
            ["ISIC_0.jpg", "ISIC_2.jpg"],
            "error",
            "3 rows, published 10015; 2 of them with their image",
            True,
        ),
        (
            "fitzpatrick17k",
            F17K,
            ["h0.jpg"],
            "error",
            "3 rows, published 16577; 2 in the config's classes; 1 of them with their image",
            True,
        ),
        (
            "fitzpatrick17k",
            F17K,
            ["h0.jpg"],
            "skip",
            "3 rows, published 16577; 2 in the config's classes; 1 of them with their image",
            False,
        ),
        (
            "ddi",
            DDI,
            ["000000.png", "000001.png", "000002.png"],
            "error",
            "3 rows, published 656; 3 of them with their image",
            False,
        ),
        ("ddi", "", [], "error", "cannot be read as ddi's metadata (no column DDI_file)", True),
    ],
    ids=["ham-all", "ham-one-missing", "f17k-missing", "f17k-skip", "ddi", "ddi-empty"],
)
def test_a_datasets_rows_are_counted_against_the_published_count_and_their_images(
    tmp_path, dataset, metadata, images, missing_images, status, fails
):
    from dermsynth.data.layout import RAW_LAYOUT

    config = load_config(REPO, PAPER)
    config["datasets"]["fitzpatrick17k"]["missing_images"] = missing_images
    root = tmp_path / config["datasets"][dataset]["root"]
    layout = RAW_LAYOUT[dataset]
    for folder in layout.images:
        (root / folder).mkdir(parents=True)
    for name in images:
        (root / layout.images[-1] / name).write_bytes(b"x")
    (root / layout.metadata).write_text(metadata)
    finding = check_rows(tmp_path, dataset, config)
    assert finding.status.startswith(status), finding
    assert finding.fails == fails


# --- the run's needs -----------------------------------------------------------------------


def test_disk_space_short_of_the_images_to_write_would_stop_the_run(tmp_path):
    assert not check_disk(tmp_path, 1000).fails
    short = check_disk(tmp_path, 10**18)
    assert short.fails and "need up to 1000000.0 TB" in short.status


def test_no_visible_gpu_is_said_but_stops_nothing(monkeypatch):
    plan = Plan(rules=[], peak_gpus=0, makespan_hours=0.0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    finding = check_gpu(plan)
    assert (finding.status, finding.fails) == ("none visible (torch.cuda)", False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "NVIDIA H100")
    assert check_gpu(plan).status == "ok, 2 visible (NVIDIA H100)"


def test_the_table_ends_with_how_many_problems_would_stop_the_run():
    findings = [
        Finding("input", "a.csv", "ok, 1 kB"),
        Finding("input", "w.pt", "missing", "dermsynth fetch glide", fails=True),
    ]
    lines = format_findings(findings).splitlines()
    assert lines[0].split() == ["check", "path", "status", "what", "to", "do"]
    assert lines[3].split() == ["input", "w.pt", "missing", "dermsynth", "fetch", "glide"]
    assert lines[-1] == "1 problem(s) would stop the run"
    assert format_findings(findings[:1]).endswith("nothing found that would stop the run")

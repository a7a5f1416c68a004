"""`dermsynth fetch` end to end: the paper config's destinations, the repository's own
config/sources.yaml with every URL, the Hub endpoint and the Dataverse server pointed at a
local server that holds small stand-ins of each input."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
import yaml
from http_server import (
    WEIGHTS,
    FixtureServer,
    add_hub_repo,
    diffusers_files,
    fitzpatrick17k_csv,
    jpeg,
    open_hub,
    serve_dataverse,
    serving,
    zip_of,
)

from dermsynth.cli import main
from dermsynth.data.ingest import ingest_ham10000
from dermsynth.fetch.download import Retry
from dermsynth.fetch.lock import Lock
from dermsynth.fetch.run import fetch_inputs

REPOSITORY = Path(__file__).resolve().parents[1]
COMMITS = {"text2img": "1" * 40, "inpaint": "9" * 40}
HAM_METADATA = (
    b"lesion_id,image_id,dx,dx_type,age,sex,localization\n"
    b"HAM_1,ISIC_1,nv,histo,40.0,male,back\n"
    b"HAM_2,ISIC_2,mel,histo,55.0,female,face\n"
)


@pytest.fixture
def server(monkeypatch):
    open_hub(monkeypatch)
    yield from serving(monkeypatch)


@pytest.fixture
def workflow(tmp_path, server) -> Path:
    """A workflow directory: the repository's config (config.yaml, schema, paper.yaml) and its
    sources file with every source moved to `server`, which serves a stand-in of each."""
    shutil.copytree(REPOSITORY / "config", tmp_path / "config", ignore=_only_config)
    sources = yaml.safe_load((REPOSITORY / "config" / "sources.yaml").read_text())
    serve_inputs(server, sources)
    assert_local(sources, server.root)
    (tmp_path / "config" / "sources.yaml").write_text(yaml.safe_dump(sources, sort_keys=False))
    return tmp_path


def assert_local(sources: object, root: str) -> None:
    """Every address a fetch may ask (not a `page` to show) is the local server's: a source
    added to config/sources.yaml without a stand-in here fails instead of reaching out."""
    if isinstance(sources, dict):
        for key, value in sources.items():
            if key in ("url", "server", "endpoint"):
                assert str(value).startswith(root), f"{key} {value} is not the local server"
            else:
                assert_local(value, root)
    elif isinstance(sources, list):
        for value in sources:
            assert_local(value, root)


def _only_config(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n.startswith("sources")]  # not the repository's lock


def stand_in(path: str) -> bytes:
    return b"stand-in of " + path.encode() * 50


def serve_inputs(server: FixtureServer, sources: dict) -> None:
    """Serve a stand-in of every source at the local server and point `sources` at it."""
    for name in ("glide", "inception", "torchvision", "splits"):
        for item in sources[name]["files"]:
            path = urlsplit(item["url"]).path
            item["url"] = server.add(path, stand_in(path))
            if "sha256_prefix" in item:  # as published: the first 8 hex of the file's sha256
                item["sha256_prefix"] = hashlib.sha256(stand_in(path)).hexdigest()[:8]
    sources["sd"]["endpoint"] = server.root
    for repo in sources["sd"]["repos"]:
        files = diffusers_files(in_channels=4 if repo["pipeline"] == "text2img" else 9)
        add_hub_repo(server, repo["repo"], COMMITS[repo["pipeline"]], files, lfs=WEIGHTS)
    ham = sources["ham10000"]
    ham["server"] = server.root
    images = {1: "HAM10000_images_part_1.zip", 2: "HAM10000_images_part_2.zip"}
    serve_dataverse(
        server,
        ham["persistent_id"],
        {
            "HAM10000_metadata.csv": HAM_METADATA,
            **{name: zip_of({f"ISIC_{k}.jpg": jpeg(k)}) for k, name in images.items()},
            "ISIC2018_Task3_Test_Images.zip": b"not asked for",
        },
        tabular=["HAM10000_metadata.csv"],
    )
    f17k = sources["fitzpatrick17k"]
    rows = [
        ("a" * 32, "psoriasis", server.add("/atlas/a.jpg", jpeg(1))),
        ("b" * 32, "lichen planus", server.url("/atlas/gone.jpg")),  # 404
        ("c" * 32, "acne", server.add("/atlas/c.jpg", jpeg(3))),  # not an F17k-9 class
    ]
    f17k["csv"]["url"] = server.add(urlsplit(f17k["csv"]["url"]).path, fitzpatrick17k_csv(rows))


def fetch(workflow: Path, *args: str) -> int:
    try:
        main(["fetch", "--directory", str(workflow), *args])
    except SystemExit as exit:
        return exit.code
    raise AssertionError("fetch returned without an exit status")


def summary(out: str) -> dict[str, list[str]]:
    """The summary table's rows by destination: [status, bytes, digest check]."""
    rows = {}
    for line in out.splitlines():
        cells = [c for c in line.split("  ") if c.strip()]
        if len(cells) >= 5 and cells[1].strip().startswith("resources/"):
            rows[cells[1].strip()] = [c.strip() for c in cells[2:]]
    return rows


def test_fetch_puts_every_input_of_the_paper_config_where_it_reads_it(workflow, capsys):
    code = fetch(workflow, "--configfile", "config/paper.yaml", "--jobs", "2")
    out = capsys.readouterr().out
    rows = summary(out)

    weights = "resources/weights"
    assert rows[f"{weights}/glide/base.pt"][0::2] == ["fetched", "recorded-new"]
    assert rows[f"{weights}/glide/upsample.pt"][0::2] == ["fetched", "recorded-new"]
    inception = f"{weights}/inception/weights-inception-2015-12-05-6726825d.pth"
    assert rows[inception][0::2] == ["fetched", "recorded-new"]
    torchvision = f"{weights}/torchvision/efficientnet_v2_m-dc08266a.pth"
    assert rows[torchvision][0::2] == [
        "fetched",
        "published",
    ]  # the paper's two classifiers: one file
    assert rows[f"{weights}/sd/stable-diffusion-2-1-base"][0::2] == ["fetched", "published"]
    assert rows[f"{weights}/sd/stable-diffusion-inpainting"][0::2] == ["fetched", "published"]
    ham = "resources/raw/ham10000"
    assert rows[f"{ham}/HAM10000_metadata.csv"][0::2] == ["fetched", "published"]
    assert rows[f"{ham}/HAM10000_images_part_1"][0::2] == ["fetched", "published"]
    f17k = "resources/raw/fitzpatrick17k"
    assert rows[f"{f17k}/fitzpatrick17k.csv"][0::2] == ["fetched", "recorded-new"]
    assert rows[f"{f17k}/images"][0] == "missing 1"
    released = f"{f17k}/fitz_metadata/fitzpatrick17k_10label_clean_training.csv"
    assert rows[released][0::2] == ["fetched", "recorded-new"]
    assert rows["resources/raw/ddi"][0] == "manual"
    assert "request it at https://stanfordaimi.azurewebsites.net/" in out
    assert "put ddi_metadata.csv and images/ in resources/raw/ddi/" in out
    assert code == 0  # a manual input and missing images are no failures

    glide = "/diffusion/dec-2021/base.pt"  # its path at OpenAI's storage
    assert (workflow / f"{weights}/glide/base.pt").read_bytes() == stand_in(glide)
    assert (workflow / ham / "HAM10000_images_part_2" / "ISIC_2.jpg").read_bytes() == jpeg(2)
    assert not (workflow / ham / "archives" / "HAM10000_images_part_1.zip").exists()
    assert (workflow / f17k / "images" / ("a" * 32 + ".jpg")).read_bytes() == jpeg(1)
    assert not (workflow / f17k / "images" / ("c" * 32 + ".jpg")).exists()
    missing = pd.read_csv(workflow / f17k / "missing.csv", dtype=str)
    assert list(missing["md5hash"]) == ["b" * 32] and list(missing["reason"]) == ["HTTP 404"]
    assert "set datasets.fitzpatrick17k.missing_images: skip" in out
    lock = Lock.load(workflow / "config" / "sources.lock.csv")
    paths = {e.path for e in lock.entries.values()}
    assert (
        f"{weights}/glide/base.pt" in paths
        and f"{weights}/sd/stable-diffusion-inpainting/unet/config.json" in paths
    )
    inpaint = [e for e in lock.entries.values() if "stable-diffusion-inpainting" in e.source]
    assert {e.revision for e in inpaint} == {COMMITS["inpaint"]}


def test_a_second_fetch_checks_every_file_against_the_lock_and_downloads_nothing(
    workflow, server, capsys
):
    fetch(workflow, "--configfile", "config/paper.yaml")
    server.requests.clear()
    capsys.readouterr()

    code = fetch(workflow, "--configfile", "config/paper.yaml")
    rows = summary(capsys.readouterr().out)
    assert rows["resources/weights/glide/base.pt"][0::2] == ["verified", "locked"]
    assert rows["resources/weights/sd/stable-diffusion-2-1-base"][0::2] == ["verified", "locked"]
    splits = "resources/raw/fitzpatrick17k/fitz_metadata/fitzpatrick17k_10label_clean_training.csv"
    assert rows[splits][0::2] == ["verified", "locked"]
    assert rows["resources/raw/ham10000/HAM10000_images_part_1"][0] == "present"
    assert code == 0
    asked = {path for _, path, _ in server.requests}
    assert asked == {"/atlas/gone.jpg"}  # only the image still missing is tried again


def test_bytes_that_changed_at_the_source_fail_against_the_lock(workflow, server, capsys):
    fetch(workflow, "weights", "--configfile", "config/paper.yaml")
    base = workflow / "resources" / "weights" / "glide" / "base.pt"
    base.unlink()
    url = yaml.safe_load((workflow / "config/sources.yaml").read_text())["glide"]["files"][0]["url"]
    server.add(urlsplit(url).path, b"a newer upload under the same name")
    capsys.readouterr()

    code = fetch(workflow, "glide", "--configfile", "config/paper.yaml")
    out = capsys.readouterr().out
    status = summary(out)["resources/weights/glide/base.pt"][0]
    assert status.startswith("failed: ") and "digest mismatch" in status
    assert code == 1
    assert not base.exists() and not base.with_name("base.pt.part").exists()


def test_fetch_fetches_only_what_is_named(workflow, capsys):
    assert fetch(workflow, "splits", "ddi", "--configfile", "config/paper.yaml") == 0
    rows = summary(capsys.readouterr().out)
    assert sorted(rows) == [
        "resources/raw/ddi",
        "resources/raw/fitzpatrick17k/fitz_metadata/fitzpatrick17k_10label_clean_held_out_set.csv",
        "resources/raw/fitzpatrick17k/fitz_metadata/fitzpatrick17k_10label_clean_training.csv",
    ]
    assert not (workflow / "resources" / "weights").exists()


def test_a_dry_run_lists_what_a_fetch_would_download_and_asks_no_server(workflow, server, capsys):
    splits = workflow / "resources/raw/fitzpatrick17k/fitz_metadata"
    splits.mkdir(parents=True)
    (splits / "fitzpatrick17k_10label_clean_training.csv").write_text("placed by hand\n")
    assert fetch(workflow, "--dry-run", "--configfile", "config/paper.yaml") == 0
    rows = summary(capsys.readouterr().out)
    statuses = {dest: cells[0] for dest, cells in rows.items()}
    assert statuses["resources/weights/glide/base.pt"] == "to fetch"
    assert statuses[
        f"{splits.relative_to(workflow)}/fitzpatrick17k_10label_clean_training.csv"
    ] == ("present")
    assert statuses["resources/raw/ddi"] == "manual"
    assert server.requests == []
    assert not (workflow / "resources" / "weights").exists()


def test_the_demo_config_reads_nothing_to_fetch(workflow, server, capsys):
    assert fetch(workflow) == 0
    assert "nothing to fetch" in capsys.readouterr().out
    assert server.requests == []


def test_ham10000_lands_in_the_layout_ingestion_reads(workflow, server):
    config = {"datasets": {"ham10000": {"root": "raw/ham10000"}}}
    rows, _ = fetch_inputs(workflow, config, ["ham10000"], progress=False, retry=Retry(2, 0.01))
    assert [r.status for r in rows] == ["fetched", "fetched", "fetched"]
    classes = {"nv": "melanocytic nevi", "mel": "melanoma"}
    pairs = ingest_ham10000(workflow / "raw" / "ham10000", classes, "{name}")
    assert sorted(pairs["image_id"]) == ["ISIC_1", "ISIC_2"]


def test_a_dataverse_file_unlike_its_published_checksum_fails_its_row(workflow, server):
    sources = yaml.safe_load((workflow / "config" / "sources.yaml").read_text())
    serve_dataverse(
        server, sources["ham10000"]["persistent_id"],
        {"HAM10000_metadata.csv": HAM_METADATA, "HAM10000_images_part_1.zip": zip_of({}),
         "HAM10000_images_part_2.zip": zip_of({})},
        tabular=["HAM10000_metadata.csv"], wrong_checksum=["HAM10000_metadata.csv"],
    )  # fmt: skip
    config = {"datasets": {"ham10000": {"root": "raw/ham10000"}}}
    rows, _ = fetch_inputs(workflow, config, ["ham10000"], progress=False)
    row = next(r for r in rows if r.destination == "raw/ham10000/HAM10000_metadata.csv")
    assert row.failed and "digest mismatch" in row.status and "md5" in row.status
    assert not (workflow / "raw" / "ham10000" / "HAM10000_metadata.csv").exists()


def test_a_file_found_in_place_with_no_digest_to_check_is_left_unchecked_and_unlocked(
    workflow, server, capsys
):
    base = workflow / "resources" / "weights" / "glide" / "base.pt"
    base.parent.mkdir(parents=True)
    base.write_bytes(b"a checkpoint someone put here")
    assert fetch(workflow, "glide", "--configfile", "config/paper.yaml") == 0

    rows = summary(capsys.readouterr().out)
    assert rows["resources/weights/glide/base.pt"][0::2] == ["present", "-"]
    assert rows["resources/weights/glide/upsample.pt"][0::2] == ["fetched", "recorded-new"]
    locked = {e.path for e in Lock.load(workflow / "config" / "sources.lock.csv").entries.values()}
    assert locked == {"resources/weights/glide/upsample.pt"}
    assert server.ranges("/diffusion/dec-2021/base.pt") == []

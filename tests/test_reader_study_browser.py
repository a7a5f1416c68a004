"""dermsynth.reader_study.page in a real browser: a reader answers every image by clicking,
reloads, exports, and the scorer reads back exactly the answers given.

Runs headless Chromium from Debian's `chromium` and `chromium-driver`; skipped where they (or
selenium) are missing, except on CI (CI set), which installs them and must run this test.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from dermsynth.errors import DataError
from dermsynth.reader_study.packet import build_packet
from dermsynth.reader_study.score import classification_reports
from dermsynth.reader_study.sheet import read_answers

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CLASSES = {"mel": "melanoma", "nv": "melanocytic nevi"}
SIZE = 32
DOWNLOAD_SECONDS = 15


def require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = f"no headless browser for the page test: missing {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def downloads(tmp_path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(tmp_path, downloads):
    """Headless Chromium that saves downloads to `downloads` and never touches the network."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1000,800",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    # an explicit driver path: selenium would otherwise look for (and download) one
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    yield driver
    driver.quit()


def make_packet(folder: Path, seed: int) -> tuple[Path, pd.DataFrame]:
    """2 classes x (2 synthetic + 2 real) images of flat colours; the packet and its key."""
    rows = {"synthetic": [], "real": []}
    for c, code in enumerate(CLASSES):
        for s, source in enumerate(rows):
            for i in range(2):
                file = folder / "inputs" / f"{source}-{code}-{i}.png"
                file.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (20, 20), (60 + 90 * c, 50 + 100 * s, 40 + 80 * i)).save(file)
                rows[source].append({"id": file.stem, "file": str(file), "class": code})
    for source, table in rows.items():
        pd.DataFrame(table).to_csv(folder / f"{source}.csv", index=False)
    key = build_packet(
        folder / "synthetic.csv",
        folder / "real.csv",
        folder / "packet",
        folder / "key.csv",
        classes=CLASSES,
        synthetic_per_class=2,
        real_per_class=2,
        image_size=SIZE,
        seed=seed,
        title="Reader study (browser test)",
    )
    return folder / "packet", key


def shown_id(browser) -> str:
    """The id of the image on screen, from the image's own file name, once it has loaded."""
    from selenium.webdriver.support.wait import WebDriverWait

    image = browser.find_element("id", "image")
    WebDriverWait(browser, 5, poll_frequency=0.02).until(
        lambda _: browser.execute_script("return arguments[0].complete", image)
    )
    assert browser.execute_script("return arguments[0].naturalWidth", image) == SIZE
    return Path(image.get_attribute("src")).stem


def intended(key: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """The answers the test clicks: the entity wrong on every other image, the source wrong on
    every third; as (class code, source) by image id."""
    other_class = {c: next(o for o in CLASSES if o != c) for c in CLASSES}
    other_source = {"AI-generated": "real", "real": "AI-generated"}
    answers = {}
    for k, (image_id, cls, source) in enumerate(key[["image_id", "class", "source"]].to_numpy()):
        answers[image_id] = (
            cls if k % 2 == 0 else other_class[cls],
            source if k % 3 else other_source[source],
        )
    return answers


def wait_until_stored(browser, index: int) -> None:
    """Wait until Chromium's storage holds the page's place `index`, read in a second tab.

    A page's localStorage writes reach the browser process asynchronously, so a reload at once
    can read the store before the last write lands (seen once on a loaded 2-core machine). The
    page saves on every click; the test checks that a reload restores what was stored."""
    from selenium.webdriver.support.wait import WebDriverWait

    page, url = browser.current_window_handle, browser.current_url
    browser.switch_to.new_window("tab")
    try:
        browser.get(url)  # the page only reads the store when it loads
        script = (
            "const packet = JSON.parse(document.getElementById('packet').textContent);"
            "const saved = JSON.parse(localStorage.getItem(packet.storageKey));"
            "return saved ? saved.index : null;"
        )
        WebDriverWait(browser, 10, poll_frequency=0.05).until(
            lambda driver: driver.execute_script(script) == index
        )
    finally:
        browser.close()
        browser.switch_to.window(page)


def reload_until_shown(browser, image_id: str, seconds: float = 15) -> None:
    """Reload the page until it opens at `image_id`, for at most `seconds`.

    On a loaded 2-core CI machine a reload right after the last click has twice opened a fresh
    page (the first image) although a second tab already read the stored place: the reload can
    race Chromium's own commit of the page's storage. A reader reloads seconds later; the test
    asks that a reload restores the stored place and answers, not that the first one does."""
    from selenium.webdriver.support.wait import WebDriverWait

    def reloaded(driver) -> bool:
        driver.refresh()
        return shown_id(driver) == image_id

    WebDriverWait(browser, seconds, poll_frequency=0.5).until(
        reloaded, f"a reload never opened the page at {image_id}, its stored place"
    )


def click_answer(browser, entity: str, source: str) -> None:
    browser.find_element("id", f"entity-{list(CLASSES).index(entity) + 1}").click()
    browser.find_element("id", "source-ai" if source == "AI-generated" else "source-real").click()


def shows_answer(browser, entity: str, source: str) -> bool:
    entity_input = browser.find_element("id", f"entity-{list(CLASSES).index(entity) + 1}")
    source_id = "source-ai" if source == "AI-generated" else "source-real"
    return entity_input.is_selected() and browser.find_element("id", source_id).is_selected()


def export(browser, downloads: Path) -> Path:
    browser.find_element("id", "export").click()
    target = downloads / "answers.csv"
    deadline = time.monotonic() + DOWNLOAD_SECONDS
    # Chromium writes to a .crdownload file and renames it when done
    while not target.exists() or any(downloads.glob("*.crdownload")):
        assert time.monotonic() < deadline, f"no answers.csv in {DOWNLOAD_SECONDS} s"
        time.sleep(0.1)
    return target


def test_answers_clicked_in_the_page_survive_a_reload_and_score_as_given(
    tmp_path, browser, downloads
):
    packet, key = make_packet(tmp_path, seed=0)
    given = intended(key)
    browser.get(packet.joinpath("index.html").as_uri())
    seen = []
    for k in range(len(key)):
        seen.append(shown_id(browser))
        click_answer(browser, *given[seen[-1]])
        if k < len(key) - 1:
            browser.find_element("id", "next").click()
    assert seen == list(key["image_id"])  # the page shows the packet's order
    assert browser.find_element("id", "next").get_property("disabled")

    wait_until_stored(browser, len(key) - 1)
    reload_until_shown(browser, seen[-1])  # the answers and the place are kept in localStorage
    assert "8 answered" in browser.find_element("id", "progress").text
    while not browser.find_element("id", "prev").get_property("disabled"):
        browser.find_element("id", "prev").click()
    for k, image_id in enumerate(seen):
        assert shown_id(browser) == image_id
        assert shows_answer(browser, *given[image_id])
        if k < len(seen) - 1:
            browser.find_element("id", "next").click()

    answers = read_answers(export(browser, downloads), key, CLASSES)
    columns = ["image_id", "predicted_class", "predicted_source"]
    clicked = {i: (c, s) for i, c, s in answers[columns].itertuples(index=False)}
    assert clicked == given
    reports = classification_reports(answers, CLASSES).set_index(["subset", "task", "label"])
    assert reports.loc[("all", "entity", "accuracy"), "f1"] == 4 / 8  # right on every other
    assert reports.loc[("all", "source", "accuracy"), "f1"] == 5 / 8  # wrong on k = 0, 3, 6


def test_an_early_export_leaves_unanswered_cells_empty(tmp_path, browser, downloads):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    packet, key = make_packet(tmp_path, seed=1)
    browser.get(packet.joinpath("index.html").as_uri())
    browser.find_element("id", "entity-1").click()  # entity only, no source yet
    # the second image by keyboard: the arrow moves on (not the focused radio's choice)
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT, "2", "r").perform()
    assert shown_id(browser) == key["image_id"][1]
    exported = pd.read_csv(export(browser, downloads), dtype=str, keep_default_na=False)
    assert list(exported.columns) == ["image_id", "entity", "source"]
    assert list(exported["image_id"]) == list(key["image_id"])
    assert exported.iloc[0].tolist() == [key["image_id"][0], "melanoma", ""]
    assert exported.iloc[1].tolist() == [key["image_id"][1], "melanocytic nevi", "real"]
    assert (exported.iloc[2:, 1:] == "").all().all()
    assert "7 images still unanswered" in browser.find_element("id", "status").text
    with pytest.raises(DataError, match=r"line 2: column 'source': no source given"):
        read_answers(downloads / "answers.csv", key, CLASSES)

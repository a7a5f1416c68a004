"""The packet's browser page: one image at a time, the two questions, answers kept in the
browser's localStorage, and an export to answers.csv (the answer sheet's columns).

One self-contained file (inline CSS and JS, images by relative path), so a reader can open it
from a folder with no network. It holds the image ids and the entity names, never the key.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Sequence

from dermsynth.reader_study.sheet import ANSWER_COLUMNS, SOURCES


def storage_key(title: str, image_ids: Sequence[str]) -> str:
    """The localStorage key of a packet: file:// pages share one origin, so each packet has its
    own key, or two packets opened in one browser would mix their answers."""
    digest = hashlib.sha256("\n".join([title, *image_ids]).encode()).hexdigest()
    return f"dermsynth-reader:{digest[:16]}"


def render_page(title: str, image_ids: Sequence[str], entity_names: Sequence[str]) -> str:
    """The page's HTML for images `image_ids` (in packet order) and the entities offered."""
    packet = {
        "storageKey": storage_key(title, image_ids),
        "ids": list(image_ids),
        "columns": list(ANSWER_COLUMNS),
    }
    # "</" inside a script element would end it early
    packet_json = json.dumps(packet, indent=None).replace("</", "<\\/")
    shortcut = len(entity_names) <= 9
    entities = "\n".join(
        f'      <label class="option"><input type="radio" name="entity" id="entity-{k}" '
        f'value="{html.escape(name)}">{f"<kbd>{k}</kbd>" if shortcut else ""}'
        f"<span>{html.escape(name)}</span></label>"
        for k, name in enumerate(entity_names, start=1)
    )
    entity_keys = f"<kbd>1</kbd>&ndash;<kbd>{len(entity_names)}</kbd> entity, " if shortcut else ""
    ai, real = (html.escape(s) for s in SOURCES)
    return (
        PAGE.replace("__TITLE__", html.escape(title))
        .replace("__IMAGES__", str(len(image_ids)))
        .replace("__ENTITIES__", entities)
        .replace("__ENTITY_KEYS__", entity_keys)
        .replace("__SOURCE_AI__", ai)
        .replace("__SOURCE_REAL__", real)
        .replace("__PACKET__", packet_json)
    )


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  :root { --accent: #2f5d8a; --line: #d5dbe1; --muted: #5b6670; --done: #3a8a5c; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         color: #1d2329; background: #f4f6f8; }
  header { display: flex; align-items: baseline; justify-content: space-between; gap: 1rem;
           padding: .8rem 1.5rem; background: #fff; }
  h1 { font-size: 1.1rem; margin: 0; }
  #progress { color: var(--muted); font-variant-numeric: tabular-nums; white-space: nowrap; }
  .bar { height: 4px; background: var(--line); }
  #bar { height: 100%; width: 0; background: var(--done); transition: width .2s; }
  main { display: flex; flex-wrap: wrap; justify-content: center; align-items: flex-start;
         gap: 1.5rem; padding: 1.5rem; }
  .panel { background: #fff; border: 1px solid var(--line); border-radius: 6px; }
  figure { margin: 0; padding: .75rem; }
  #image { display: block; width: min(62vh, 480px); height: min(62vh, 480px);
           object-fit: contain; background: #111; }
  figcaption { margin-top: .4rem; text-align: center; color: var(--muted);
               font: .85rem ui-monospace, SFMono-Regular, Menlo, monospace; }
  form { padding: 1rem 1.25rem; width: 25rem; max-width: 100%; }
  fieldset { border: 0; margin: 0 0 .9rem; padding: 0; }
  legend { font-weight: 600; margin-bottom: .3rem; }
  .option { display: flex; align-items: center; gap: .5rem; padding: .25rem .45rem;
            border-radius: 4px; cursor: pointer; }
  .option:hover { background: #eef2f6; }
  .option:has(input:checked) { background: #e3ecf5; }
  kbd { font: .75rem ui-monospace, monospace; color: var(--muted); border: 1px solid var(--line);
        border-radius: 3px; padding: 0 .3rem; }
  .row { display: flex; gap: .5rem; flex-wrap: wrap; }
  button { font: inherit; padding: .4rem .7rem; border: 1px solid var(--line);
           border-radius: 4px; background: #fff; cursor: pointer; }
  button:hover:not(:disabled) { border-color: var(--accent); }
  button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
  button:disabled { opacity: .4; cursor: default; }
  hr { border: 0; border-top: 1px solid var(--line); margin: 1rem 0; }
  #status { min-height: 1.4em; margin: .5rem 0 0; color: var(--muted); font-size: .9rem; }
  details { margin-bottom: .9rem; color: var(--muted); font-size: .9rem; }
  summary { cursor: pointer; color: #1d2329; }
</style>
</head>
<body>
<header>
  <h1>__TITLE__</h1>
  <span id="progress" aria-live="polite"></span>
</header>
<div class="bar"><div id="bar"></div></div>
<main>
  <figure class="panel">
    <img id="image" alt="the image to assess">
    <figcaption id="image-id"></figcaption>
  </figure>
  <form class="panel" id="answers" autocomplete="off">
    <details>
      <summary>Instructions</summary>
      <p>__IMAGES__ skin lesion images follow in random order; some are AI-generated, some
      real. For each, choose the diagnostic entity and whether the image is AI-generated or
      real. Answers are kept in this browser, so you may close the page and come back. When
      done, export the answers and send the file <code>answers.csv</code>.</p>
      <p>Keys: __ENTITY_KEYS__<kbd>A</kbd> AI-generated, <kbd>R</kbd> real,
      <kbd>&larr;</kbd> <kbd>&rarr;</kbd> previous / next.</p>
    </details>
    <fieldset>
      <legend>1. Entity</legend>
__ENTITIES__
    </fieldset>
    <fieldset>
      <legend>2. Source</legend>
      <label class="option"><input type="radio" name="source" id="source-ai"
        value="__SOURCE_AI__"><kbd>A</kbd><span>__SOURCE_AI__</span></label>
      <label class="option"><input type="radio" name="source" id="source-real"
        value="__SOURCE_REAL__"><kbd>R</kbd><span>__SOURCE_REAL__</span></label>
    </fieldset>
    <div class="row">
      <button type="button" id="prev">&larr; Previous</button>
      <button type="button" id="next" class="primary">Next &rarr;</button>
      <button type="button" id="next-open">Next unanswered</button>
    </div>
    <hr>
    <button type="button" id="export">Export answers (CSV)</button>
    <p id="status" aria-live="polite"></p>
  </form>
</main>
<script id="packet" type="application/json">__PACKET__</script>
<script>
"use strict";
(function () {
  const packet = JSON.parse(document.getElementById("packet").textContent);
  const ids = packet.ids;
  const $ = (id) => document.getElementById(id);
  const entityInputs = Array.from(document.querySelectorAll("input[name=entity]"));
  const sourceInputs = Array.from(document.querySelectorAll("input[name=source]"));
  const state = load();
  let index = Math.min(Math.max(state.index || 0, 0), ids.length - 1);

  function load() {
    try {
      const saved = JSON.parse(localStorage.getItem(packet.storageKey));
      if (saved && typeof saved.answers === "object") return saved;
    } catch (err) { /* no storage, or a damaged entry: start afresh */ }
    return { answers: {}, index: 0 };
  }

  function save() {
    state.index = index;
    try {
      localStorage.setItem(packet.storageKey, JSON.stringify(state));
    } catch (err) {
      say("This browser does not keep the answers: export them before closing the page.");
    }
  }

  function say(text) { $("status").textContent = text; }

  function answer(id) { return state.answers[id] || { entity: "", source: "" }; }

  function complete(id) { const a = answer(id); return Boolean(a.entity && a.source); }

  function show() {
    const id = ids[index];
    $("image").src = "images/" + id + ".png";
    $("image-id").textContent = id;
    const a = answer(id);
    entityInputs.forEach((input) => { input.checked = input.value === a.entity; });
    sourceInputs.forEach((input) => { input.checked = input.value === a.source; });
    $("prev").disabled = index === 0;
    $("next").disabled = index === ids.length - 1;
    const done = ids.filter(complete).length;
    $("progress").textContent =
      "Image " + (index + 1) + " of " + ids.length + " \\u00b7 " + done + " answered";
    $("bar").style.width = (100 * done / ids.length) + "%";
    if (index + 1 < ids.length) new Image().src = "images/" + ids[index + 1] + ".png";
  }

  function record() {
    const checked = (inputs) => (inputs.find((input) => input.checked) || { value: "" }).value;
    state.answers[ids[index]] = { entity: checked(entityInputs), source: checked(sourceInputs) };
    save();
    show();
  }

  function go(to) {
    index = Math.min(Math.max(to, 0), ids.length - 1);
    save();
    show();
  }

  function nextOpen() {
    for (let step = 1; step <= ids.length; step++) {
      const k = (index + step) % ids.length;
      if (!complete(ids[k])) { go(k); return; }
    }
    say("Every image is answered.");
  }

  function quote(value) {
    return /[",\\r\\n]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }

  function exportCsv() {
    const rows = [packet.columns].concat(
      ids.map((id) => [id, answer(id).entity, answer(id).source]));
    const text = rows.map((row) => row.map(quote).join(",")).join("\\r\\n") + "\\r\\n";
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = "answers.csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    const open = ids.length - ids.filter(complete).length;
    say("Exported answers.csv" + (open ? " (" + open + " images still unanswered)." : "."));
  }

  entityInputs.concat(sourceInputs).forEach((input) => input.addEventListener("change", record));
  $("prev").addEventListener("click", () => go(index - 1));
  $("next").addEventListener("click", () => go(index + 1));
  $("next-open").addEventListener("click", nextOpen);
  $("export").addEventListener("click", exportCsv);
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    let input = null;
    if (key === "arrowleft" || key === "arrowright") {
      event.preventDefault();  // radios would otherwise move their own selection
      go(index + (key === "arrowright" ? 1 : -1));
    } else if (/^[1-9]$/.test(key) && entityInputs.length <= 9) {
      input = entityInputs[Number(key) - 1];
    } else if (key === "a") {
      input = $("source-ai");
    } else if (key === "r") {
      input = $("source-real");
    }
    if (input) { input.checked = true; record(); }
  });
  show();
})();
</script>
</body>
</html>
"""

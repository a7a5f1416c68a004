"""A real HTTP server on 127.0.0.1 for the fetch tests: in-memory files, Range requests, and
faults scripted per path.

    with FixtureServer() as server:
        server.add("/w/base.pt", payload, faults=["cut", "500"])
        fetch_url(server.url("/w/base.pt"), dest)

Each request of a path takes the next of its faults, then the path serves normally:
- "404": answers 404 Not Found;
- "500": answers 500 Internal Server Error;
- "cut": sends the headers and half the body it owes, then closes the connection;
- "wrong": sends bytes of the right length that are not the file's (a digest mismatch);
- "ignore_range": sends the whole file with 200, whatever Range was asked.
`server.requests` lists every request as (method, path with query, Range header or None).
`add_hub_repo` serves one model repository the way the Hugging Face Hub's API does, for
huggingface_hub's own snapshot_download to read (after `open_hub`); `serve_dataverse` a
Dataverse dataset. A test module's fixture: `yield from serving(monkeypatch)`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

FAULTS = ("404", "500", "cut", "wrong", "ignore_range")


class FixtureServer:
    """ThreadingHTTPServer on 127.0.0.1, port 0 (a free one), in a daemon thread."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.faults: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def root(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.root + path

    def add(
        self,
        path: str,
        body: bytes | str,
        *,
        faults: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Serve `body` at `path` (a query, if given, must match too); returns its URL."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {FAULTS}")
        with self._lock:
            self.files[path] = body.encode() if isinstance(body, str) else body
            self.faults[path] = list(faults)
            self.headers[path] = dict(headers or {})
        return self.url(path)

    def add_json(self, path: str, record: object) -> str:
        return self.add(path, json.dumps(record), headers={"Content-Type": "application/json"})

    def ranges(self, path: str) -> list[str | None]:
        """The Range header of each GET of `path`, in order."""
        return [r for method, p, r in self.requests if method == "GET" and p == path]

    def _take_fault(self, path: str) -> str | None:
        with self._lock:
            pending = self.faults.get(path)
            return pending.pop(0) if pending else None


def _handler(server: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: a cut is a closed socket

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            range_header = self.headers.get("Range")
            server.requests.append((self.command, self.path, range_header))
            path = self.path if self.path in server.files else urlsplit(self.path).path
            if path not in server.files:
                self._status_only(404, "Not Found")
                return
            fault = server._take_fault(path) if body else None
            if fault in ("404", "500"):
                self._status_only(int(fault), "Not Found" if fault == "404" else "Server Error")
                return
            data = server.files[path]
            if fault == "wrong":
                data = bytes(b ^ 0xFF for b in data)
            start = _range_start(range_header) if fault != "ignore_range" else None
            if start is not None and start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if start is not None:
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                data = data[start:]
            else:
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data)))
            for name, value in server.headers[path].items():
                self.send_header(name, value)
            self.end_headers()
            if not body:
                return
            if fault == "cut":
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

        def _status_only(self, status: int, reason: str) -> None:
            message = f"{status} {reason}".encode()
            self.send_response(status, reason)
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(message)

    return Handler


def _range_start(value: str | None) -> int | None:
    match = re.fullmatch(r"bytes=(\d+)-", value or "")
    return int(match.group(1)) if match else None


def git_blob_id(data: bytes) -> str:
    """Git's object id of a file's bytes (what the Hub lists as a file's `oid`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def add_hub_repo(
    server: FixtureServer,
    repo_id: str,
    commit: str,
    files: Mapping[str, bytes],
    *,
    lfs: Iterable[str] = (),
    revision: str = "main",
) -> None:
    """Serve a model repository as the Hub's API does: `revision` resolving to `commit`
    (/api/models/<repo>/revision/<rev>), the recursive tree listing of `commit` with each
    file's git blob id and, for the files in `lfs`, its LFS sha256
    (/api/models/<repo>/tree/<commit>), and each file at /<repo>/resolve/<commit>/<path>
    with the X-Repo-Commit and ETag headers huggingface_hub reads."""
    lfs = set(lfs)
    siblings = [{"rfilename": name} for name in files]
    info = {"id": repo_id, "modelId": repo_id, "sha": commit, "siblings": siblings}
    for rev in {revision, commit}:
        server.add_json(f"/api/models/{repo_id}/revision/{rev}", info)
    tree = []
    for name, data in files.items():
        entry = {"type": "file", "oid": git_blob_id(data), "size": len(data), "path": name}
        if name in lfs:
            sha256 = hashlib.sha256(data).hexdigest()
            entry["lfs"] = {"oid": sha256, "size": len(data), "pointerSize": 134}
        tree.append(entry)
        etag = entry["lfs"]["oid"] if name in lfs else entry["oid"]
        server.add(
            f"/{repo_id}/resolve/{commit}/{name}",
            data,
            headers={"X-Repo-Commit": commit, "ETag": f'"{etag}"'},
        )
    server.add_json(f"/api/models/{repo_id}/tree/{commit}", tree)


def serving(monkeypatch: pytest.MonkeyPatch) -> Iterator[FixtureServer]:
    """A test module's `server` fixture: `yield from serving(monkeypatch)` gives a started
    FixtureServer, which requests and httpx reach directly, never through a proxy."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with FixtureServer() as running:
        yield running


def diffusers_files(in_channels: int, seed: int = 0) -> dict[str, bytes]:
    """A folder in the diffusers layout that dermsynth.sd.load.check_folder accepts (4 UNet
    input channels: text-to-image, 9: inpainting), with a safety checker the fetch leaves out;
    the weights are random bytes, not a model."""
    random = hashlib.sha256(b"%d" % seed).digest() * 64
    components = ["unet", "vae", "text_encoder", "tokenizer", "scheduler", "safety_checker"]
    return {
        "model_index.json": json.dumps({c: ["diffusers", "X"] for c in components}).encode(),
        "unet/config.json": json.dumps({"in_channels": in_channels}).encode(),
        "unet/diffusion_pytorch_model.safetensors": random + b"unet",
        "vae/config.json": b"{}",
        "vae/diffusion_pytorch_model.safetensors": random + b"vae",
        "text_encoder/config.json": b"{}",
        "text_encoder/model.safetensors": random + b"text",
        "tokenizer/vocab.json": b"{}",
        "tokenizer/merges.txt": b"#version: 0.2\n",
        "scheduler/scheduler_config.json": b"{}",
        "safety_checker/model.safetensors": random + b"safety",
        "README.md": b"a model card\n",
    }


WEIGHTS = (
    "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/model.safetensors",
    "safety_checker/model.safetensors",
)


def open_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let huggingface_hub reach a local endpoint given explicitly: other test modules set
    HF_HUB_OFFLINE before huggingface_hub is imported, which reads it once; and point its
    default endpoint at a closed local port, so that nothing else answers."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    closed = "http://127.0.0.1:9"  # hf_hub_url swaps this prefix for the endpoint it is given
    monkeypatch.setattr(constants, "ENDPOINT", closed)
    template = closed + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)


def jpeg(seed: int, size: tuple[int, int] = (8, 6)) -> bytes:
    """A small JPEG, its colour from `seed`."""
    from PIL import Image

    stream = io.BytesIO()
    Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, 128)).save(stream, "JPEG")
    return stream.getvalue()


F17K_COLUMNS = (
    "md5hash,fitzpatrick_scale,fitzpatrick_centaur,label,nine_partition_label,"
    "three_partition_label,qc,url,url_alphanum"
)


def fitzpatrick17k_csv(rows: Iterable[tuple[str, str, str]]) -> bytes:
    """fitzpatrick17k.csv with the given (md5hash, label, url) rows, the other columns filled."""
    lines = [F17K_COLUMNS]
    lines += [f"{md5},2,2,{label},inflammatory,non-neoplastic,,{url}," for md5, label, url in rows]
    return ("\n".join(lines) + "\n").encode()


def zip_of(files: Mapping[str, bytes]) -> bytes:
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w") as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)
    return stream.getvalue()


def serve_dataverse(
    server: FixtureServer,
    persistent_id: str,
    files: Mapping[str, bytes],
    *,
    tabular: Iterable[str] = (),
    wrong_checksum: Iterable[str] = (),
    version: str = ":latest-published",
) -> None:
    """Serve a Dataverse dataset's file listing (Native API) and files (Data Access API), as
    Harvard Dataverse does: MD5 checksums, and each file in `tabular` listed as its ingested
    `.tab` and served as uploaded only with format=original. A file in `wrong_checksum` is
    listed with the MD5 of other bytes."""
    tabular, wrong_checksum = set(tabular), set(wrong_checksum)
    listing = []
    for number, (name, data) in enumerate(files.items(), start=101):
        md5 = hashlib.md5(data if name not in wrong_checksum else data + b"!").hexdigest()
        stored = f"{Path(name).stem}.tab" if name in tabular else name
        entry = {
            "id": number,
            "filename": stored,
            "filesize": len(data),
            "md5": md5,
            "checksum": {"type": "MD5", "value": md5},
        }
        if name in tabular:
            entry.update(originalFileName=name, originalFileFormat="text/csv")
            server.add(f"/api/access/datafile/{number}?format=original", data)
            server.add(f"/api/access/datafile/{number}", b"an\tarchival\ttab\tfile\n")
        else:
            server.add(f"/api/access/datafile/{number}", data)
        listing.append({"label": stored, "restricted": False, "dataFile": entry})
    path = f"/api/datasets/:persistentId/versions/{version}/files"
    server.add_json(path, {"status": "OK", "data": listing, "totalCount": len(listing)})

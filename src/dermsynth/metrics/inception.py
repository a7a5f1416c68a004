"""InceptionV3 features of an image set (torch-fidelity's FID network), computed once and cached.

FID, IS, KID and precision/recall/density/coverage are only comparable with the literature when
the network carries torch-fidelity's FID weights (`pt_inception-2015-12-05`, whose sha256 starts
with 6726825d). Offline without them (the demo), a seeded randomly initialised network of the
same architecture stands in, and every product built on it says so.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from torch_fidelity import feature_extractor_inceptionv3 as tf_inception
from tqdm import tqdm

from dermsynth.errors import DataError
from dermsynth.images import load_rgb
from dermsynth.io import atomic_path, file_sha256, save_torch
from dermsynth.metrics.images import read_image_set, thumbnail

log = logging.getLogger("dermsynth.metrics")

FID_WEIGHTS_SHA256_PREFIX = "6726825d"  # torch-fidelity's weights-inception-2015-12-05-6726825d
# the average-pooled pool3 (FID, KID, PRDC, the audit; IS with definitions: paper), the logits (IS)
FEATURES = ("2048", "logits_unbiased")
THUMBNAIL_SIDE = 32


@dataclass(frozen=True)
class ImageFeatures:
    """One image set's features, rows in id order."""

    ids: np.ndarray
    classes: np.ndarray
    files: np.ndarray
    pool: np.ndarray  # (n, 2048) float32
    logits: np.ndarray  # (n, 1008) float32, without bias (torch-fidelity's IS input)
    thumbnails: np.ndarray  # (n, side, side, 3) uint8
    image_size: int
    weights: str  # description of the Inception weights
    comparable: bool  # True only with the FID reference weights

    def subset(self, mask: np.ndarray) -> ImageFeatures:
        return ImageFeatures(
            self.ids[mask],
            self.classes[mask],
            self.files[mask],
            self.pool[mask],
            self.logits[mask],
            self.thumbnails[mask],
            self.image_size,
            self.weights,
            self.comparable,
        )


def write_random_weights(path: str | Path, seed: int) -> None:
    """A seeded, randomly initialised InceptionV3 in torch-fidelity's weights format (demo)."""
    torch.manual_seed(seed)
    # construct without fetching or loading any weights: the layers keep their random init
    with (
        mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: {}),
        mock.patch.object(tf_inception.FeatureExtractorInceptionV3, "load_state_dict"),
    ):
        model = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", list(FEATURES))
    # He init keeps the activations' scale through the 94 conv layers (PyTorch's default
    # shrinks them to ~1e-8 at pool3, where FID would be numerically meaningless)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    save_torch(model.state_dict(), path)


def describe_weights(path: str | Path | None) -> tuple[str, bool]:
    """A description of the weights for the tables, and whether FID/IS are comparable."""
    if path is None:
        return "torch-fidelity FID weights (downloaded)", True
    sha = file_sha256(path)
    if sha.startswith(FID_WEIGHTS_SHA256_PREFIX):
        return f"torch-fidelity FID weights ({Path(path).name})", True
    return (
        f"{Path(path).name} (sha256 {sha[:12]}): not the FID reference weights, "
        "so FID/IS/KID are not comparable with the literature",
        False,
    )


def load_inception(
    weights: str | Path | None, *, download: bool, device: torch.device
) -> tf_inception.FeatureExtractorInceptionV3:
    """torch-fidelity's InceptionV3 from a weights file; downloads only when asked to."""
    if weights is None and not download:
        raise DataError(
            "config metrics.inception",
            "no Inception weights file given and downloading is off: put torch-fidelity's "
            "weights-inception-2015-12-05-6726825d.pth somewhere and set metrics.inception."
            "weights to it, or set metrics.inception.download: true",
        )
    if weights is not None and not Path(weights).is_file():
        raise DataError(weights, "Inception weights file not found (config metrics.inception)")
    model = tf_inception.FeatureExtractorInceptionV3(
        "inception-v3-compat",
        list(FEATURES),
        feature_extractor_weights_path=None if weights is None else str(weights),
    )
    return model.to(device)


def extract_features(
    image_set: str | Path,
    out: str | Path,
    *,
    image_size: int,
    weights: str | Path | None,
    weights_note: str | None = None,
    download: bool = False,
    batch_size: int = 32,
    device: str | None = None,
    workers: int = 2,
) -> ImageFeatures:
    """Decode every image of a set once, batch it through InceptionV3, and cache the features.

    `weights_note` overrides the description of the weights (the demo's random network).
    """
    frame = read_image_set(image_set)
    if frame.empty:
        raise DataError(image_set, "the image set is empty")
    torch_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = load_inception(weights, download=download, device=torch_device)
    description, comparable = describe_weights(weights)
    if weights_note is not None:
        description, comparable = weights_note, False
    pools, logits, thumbs = [], [], []
    files = frame["file"].tolist()
    with ThreadPoolExecutor(max(1, workers)) as pool:  # PIL decodes outside the GIL
        decoded = pool.map(lambda f: load_rgb(f, image_size), files)
        batch: list[np.ndarray] = []
        progress = tqdm(total=len(files), desc=f"inception {Path(image_set).name}", unit="img")
        for pixels in decoded:
            batch.append(pixels)
            thumbs.append(thumbnail(pixels, THUMBNAIL_SIDE))
            if len(batch) == batch_size:
                _forward(model, batch, torch_device, pools, logits)
                progress.update(len(batch))
                batch = []
        if batch:
            _forward(model, batch, torch_device, pools, logits)
            progress.update(len(batch))
        progress.close()
    features = ImageFeatures(
        ids=frame["id"].to_numpy(str),
        classes=frame["class"].to_numpy(str),
        files=np.asarray(files, dtype=str),
        pool=np.concatenate(pools),
        logits=np.concatenate(logits),
        thumbnails=np.stack(thumbs),
        image_size=image_size,
        weights=description,
        comparable=comparable,
    )
    save_features(features, out)
    log.info("%d images -> %s (%s)", len(files), out, description)
    return features


@torch.inference_mode()
def _forward(model, batch: list[np.ndarray], device: torch.device, pools: list, logits: list):
    images = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).contiguous().to(device)
    pool, logit = model(images)
    pools.append(pool.float().cpu().numpy())
    logits.append(logit.float().cpu().numpy())


def save_features(features: ImageFeatures, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as stream:
            np.savez(
                stream,
                ids=features.ids,
                classes=features.classes,
                files=features.files,
                pool=features.pool,
                logits=features.logits,
                thumbnails=features.thumbnails,
                image_size=features.image_size,
                weights=features.weights,
                comparable=features.comparable,
            )


def load_features(path: str | Path) -> ImageFeatures:
    with np.load(path, allow_pickle=False) as data:
        return ImageFeatures(
            ids=data["ids"],
            classes=data["classes"],
            files=data["files"],
            pool=data["pool"],
            logits=data["logits"],
            thumbnails=data["thumbnails"],
            image_size=int(data["image_size"]),
            weights=str(data["weights"]),
            comparable=bool(data["comparable"]),
        )

"""The classifier experiments of both papers, on one training loop. Each module's name says which
paper it serves: `paper1_*` (the GLIDE paper's CNN ablation), `paper2_*` and `authors` (the
Stable Diffusion paper's EfficientNetV2-M grid and DDI experiment); the rest both share.

Importing this package imports no torch; the modules that train import it themselves, and the
gathering modules (`paper1_table3`, `paper2_figure3`, `paper2_ddi_results`, and `evaluate` under
them) never do.

Paper 1 (section 2.4, Tables 2-3): a small Keras-style CNN trained on original, synthetic or
combined HAM10000 images, tested on real images only (or, as an option, on each arm's own
images split 80/20, our reading of section 2.4).

- `paper1_data`: an arm's train/val/test images, decoded once; seeded batches (its seeded
  streams serve `paper2_loader` too).
- `paper1_augment`: Keras ImageDataGenerator-like random affine transforms, per (seed, epoch,
  step).
- `paper1_cnn`: the paper's network.
- `paper1_figures`: confusion matrix, loss curves, Table 3's F1 bars.
- `paper1_run`: one run of the ablation, from files to files (what the rule calls).
- `paper1_table3`: many runs' metrics gathered into Table 3 and Table 2's AI columns.

Paper 2 (Figure 3, skin types, DDI): EfficientNetV2-M on Fitzpatrick17k-9 with n real images
per class and s synthetic images per real image, with and without image transforms, and benign
vs malignant on DDI; which runs exist and which images each reads is `dermsynth.design`'s.

- `authors`: the authors' regime: fastai's `vision_learner` network, freezing, Adam and
  `aug_transforms()` as their scripts ran them, written in torch.
- `paper2_efficientnet`: our regime's timm network, ImageNet weights from a local file, its
  input normalisation; building, saving and loading either regime's network.
- `paper2_transforms`: our regime's transforms axis (flip, crop, rotation, warp, lighting).
- `image_cache`: every image a run can read decoded once into a memory-mapped cache (per
  dataset and size, per synthetic pool); imports no torch.
- `paper2_loader`: seeded batches read from image caches (or from the files, decoded once per
  epoch by DataLoader workers); the authors' regime: random-position training crops, batch
  transforms on the device.
- `paper2_grid`: a grid run's image files (real copies, the synthetic images of its draw).
- `paper2_accuracy`: top-1 / top-3 accuracy with Wilson and the authors' normal intervals, per
  class, skin type, DDI external.
- `paper2_grid_run`: one grid run from files to files.
- `paper2_figure3`: the grid runs gathered into Figure 3, the dose response, the protocols'
  comparison, the skin-type and DDI external tables.
- `paper2_ddi`, `paper2_ddi_run`: the DDI malignancy experiment's images, and one run from files
  to files; `paper2_ddi_results`: its runs gathered into the DDI table and figure.

Both papers:

- `settings`: the training knobs: `CNNSettings` (paper 1) and `GridSettings` (paper 2, either
  regime).
- `train`: the training loop (early stopping, checkpoint and resume after a kill) and the
  predictions of a trained network.
- `state`: what of a network training changes, so that checkpoints (and paper 2's `model.pt`)
  hold only that.
- `evaluate`: the test set's classification report as `metrics.json`, and reading it back.
- `run_files`: the files one run writes (products, timing, resume checkpoint), read once from
  the rule's outputs.
"""

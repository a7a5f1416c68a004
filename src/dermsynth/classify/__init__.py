"""The classifier experiments, one training loop for both papers.

Paper 1 (section 2.4, Tables 2-3): a small Keras-style CNN trained on original, synthetic or
combined HAM10000 images, tested on real images only (or, as an option, on each arm's own
images split 80/20 as section 2.4 did).

- `settings`: the training knobs (paper 1's CNN; paper 2's network in either regime).
- `data`: the train/val/test image lists of a variant, decoded once; seeded batches.
- `augment`: Keras ImageDataGenerator-like random affine transforms, per (seed, epoch, step).
- `cnn`: the paper's network.
- `train`: the training loop of both papers (early stopping, checkpoint and resume after a kill).
- `evaluate`: predictions on the test set and `metrics.json`.
- `figures`: confusion matrix, loss curves, Table 3's F1 bars.
- `table3`: many runs' metrics gathered into Table 3 and Table 2's AI columns.
- `run`: one run of the ablation, from files to files (what the rule calls).

Paper 2 (Figure 3, skin types, DDI): EfficientNetV2-M on Fitzpatrick17k-9 with n real images
per class and s synthetic images per real image, with and without image transforms; which runs
exist and which images each reads is `dermsynth.design`'s.

- `authors`: the authors' regime, fastai's `vision_learner` network, freezing, Adam and
  `aug_transforms()` as their scripts ran them.
- `efficientnet`: our regime's timm network, ImageNet weights from a local file, its input
  normalisation; building, saving and loading either regime's network.
- `transforms`: our regime's transforms axis (flip, crop, rotation, warp, lighting).
- `loader`: image files decoded once per epoch by DataLoader workers, in seeded batches (the
  authors' regime: random-position training crops, batch transforms on the device).
- `grid`: a run's image files (real copies, the synthetic images of its draw).
- `accuracy`: top-1 / top-3 accuracy with Wilson intervals, per class, skin type, DDI external.
- `grid_run`: one grid run from files to files.
- `ddi`, `ddi_run`: the DDI malignancy experiment's images, and one run from files to files.
- `figure3`: the runs gathered into Figure 3, the dose response, the skin-type, DDI external and
  DDI malignancy tables.
"""

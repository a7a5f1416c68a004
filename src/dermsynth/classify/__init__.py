"""The classifier experiments. Paper 1 (section 2.4, Tables 2-3): a small Keras-style CNN trained
on original, synthetic or combined HAM10000 images, tested on real images only.

- `settings`: the CNN's training knobs (paper 1's values as defaults).
- `data`: the train/val/test image lists of a variant, decoded once; seeded batches.
- `augment`: Keras ImageDataGenerator-like random affine transforms, per (seed, epoch, step).
- `cnn`: the paper's network.
- `train`: the training loop (early stopping, checkpoint and resume after a kill).
- `evaluate`: predictions on the test set and `metrics.json`.
- `figures`: confusion matrix, loss curves, Table 3's F1 bars.
- `table3`: many runs' metrics gathered into Table 3 and Table 2's AI columns.
- `run`: one run of the ablation, from files to files (what the rule calls).
"""

"""What the experiments are: which real images, synthetic images, generators, shards and
classifier runs a config implies. Pure functions of the config, the split tables and wildcards;
no model code (torch-free), unit-tested without Snakemake.

Paper 1: `paper1` (which HAM10000 images each split protocol's GLIDE learns from, and how many
of a CNN's test images its generator saw).

Paper 2: two protocols run on the same held-out test set (the authors' released split):

- `authors`: the experiment the authors' released code ran. Each run's seed (their
  `random_state`) draws its 40-per-class validation set and its n real images per class from
  the released training file; a DreamBooth model per class learned from that whole file, and
  synthetic images exist for every training row.
- `strict`: one draw fixed by the split seed, nested pools, DreamBooth models that saw only the
  pool images of the runs that read them, and no validation image seeding a synthetic image
  that a run reads or a model learns from.

Paper 2's modules: `runs` (which classifier runs), `draws` (which real images), `pools` (which
synthetic images and DreamBooth models), `work` (how many images each shard makes and each run
trains on, which `dermsynth.plan` turns into hours).
"""

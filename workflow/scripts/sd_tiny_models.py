"""The demo's tiny Stable Diffusion pipelines, in the diffusers layout of the real ones.

output: text2img (folder: StableDiffusionPipeline, UNet with 4 input channels),
        inpaint (folder: StableDiffusionInpaintPipeline, UNet with 9 input channels)
params: seed (int), texts (class names and prompts whose words get tokenizer entries)
log:    one file
"""

from dermsynth.logs import to_rule_log
from dermsynth.sd.tiny import write_tiny_pipeline

with to_rule_log(snakemake.log[0]):
    for kind in ("text2img", "inpaint"):
        write_tiny_pipeline(
            snakemake.output[kind], kind, seed=snakemake.params.seed, texts=snakemake.params.texts
        )

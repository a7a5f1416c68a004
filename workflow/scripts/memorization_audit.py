"""Cached features of a synthetic set and its generator's training images -> the audit."""

from dermsynth.logs import to_rule_log
from dermsynth.metrics.memorization import AuditSettings, run_audit

with to_rule_log(snakemake.log[0]):
    run_audit(
        snakemake.input.synthetic,
        snakemake.input.real,
        snakemake.output.audit,
        snakemake.output.summary,
        snakemake.output.figure,
        settings=AuditSettings(**snakemake.params.settings),
        run=snakemake.params.run,
        method=snakemake.wildcards.method,
    )

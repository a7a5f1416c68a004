"""A filled answer sheet and the key -> classification reports, ROC AUCs, Table 2's
dermatologist columns, and the ROC (Figure 2) and confusion figures."""

from pathlib import Path

from dermsynth.logs import to_rule_log
from dermsynth.reader_study.figures import plot_reader_figures
from dermsynth.reader_study.score import score_reader
from dermsynth.reader_study.sheet import read_answers, read_key

with to_rule_log(snakemake.log[0]):
    classes = dict(snakemake.params.classes)
    key = read_key(snakemake.input.key, classes)
    answers = read_answers(snakemake.input.answers, key, classes)
    # score_reader writes classification_reports.csv and roc_auc.csv into the reports' folder
    score_reader(
        answers,
        classes,
        Path(snakemake.output.reports).parent,
        paper_table2=snakemake.input.get("paper_table2"),
        table2_path=snakemake.output.table2,
        run=snakemake.params.run,
        method=snakemake.wildcards.method,
        reader=snakemake.params.reader,
    )
    plot_reader_figures(
        answers,
        classes,
        roc_path=snakemake.output.roc,
        confusion_path=snakemake.output.confusion,
        run=snakemake.params.run,
        method=snakemake.wildcards.method,
        reader=snakemake.params.reader,
    )

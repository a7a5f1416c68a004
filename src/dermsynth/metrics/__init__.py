"""Paper 1, sections 2.2 and 3.1: image-quality metrics of synthetic sets (Table 1) and the
memorization audit, on features computed once per image set."""

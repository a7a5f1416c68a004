"""The blinded reader study of paper 1 (Shavlokhova et al. 2023, 2.3 and 3.2), for any set of
synthetic images: a packet of real and synthetic images in random order under opaque ids
(`packet`), its answer sheet and the reading of a filled one (`sheet`), the browser page a reader
may use instead (`page`), a simulated reader for the demo (`simulate`), and the scores of Table 2
and Figure 2 (`score`, `figures`).
"""

"""What a run reports: the summary over seeds, the papers' claims beside their
measurements, report.md, comparisons across runs and the figures."""

"""Everything Ray: the Ray executor of the plan of ``dfu.runs`` (``search``), joining Ray
(``connect``), the shared image datasets, the Tune searcher, the trial and its resources."""

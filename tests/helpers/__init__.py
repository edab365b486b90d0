"""Helpers shared by the tests: hand-made and cloned datasets (``datasets``), run directories
(``run_dirs``), tiny in-memory fold data (``protocol``), a real-image dataset (``digits``), a
local Ray (``ray_cluster``) and the repository's paths and tiny config (``paths``)."""

"""Scoring: metrics per image set and assessment (``metrics``), the patient bootstrap
(``bootstrap``), the results tables (``results``), the ensemble (``ensemble``), choosing on
inner validation (``selection``) and the demo's Bayes oracle as written on disk (``oracle``).
Pure numpy / pandas / scikit-learn."""

"""The test suite, one folder per package of dfu (and cluster, jobs); shared fixtures in
conftest.py, helpers in ``tests.helpers``."""

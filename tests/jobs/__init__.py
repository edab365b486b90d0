"""Tests of the entrypoints (jobs/)."""

"""Tests of dfu.cv."""

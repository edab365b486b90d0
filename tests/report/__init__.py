"""Tests of dfu.report."""

"""Tests of dfu.runs."""

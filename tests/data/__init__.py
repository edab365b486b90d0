"""Tests of dfu.data."""

"""Tests of dfu.training."""

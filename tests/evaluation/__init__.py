"""Tests of dfu.evaluation."""

"""Tests of dfu.config."""

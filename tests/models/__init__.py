"""Tests of dfu.models."""

"""Tests of dfu.demo."""

"""Tests of the Ray executor (cluster/)."""

"""Embedded demo dataset: a synthetic clinic in the Zivot layout with a known oracle."""

from dfu.data.demo.generator import make_demo
from dfu.data.demo.oracle import load_oracle, oracle_probabilities

__all__ = ["make_demo", "load_oracle", "oracle_probabilities"]

"""Embedded demo dataset: a synthetic clinic in the Zivot layout with a known oracle."""

from dfu.demo.generator import make_demo
from dfu.demo.oracle import ensure_posteriors, load_oracle, oracle_probabilities

__all__ = ["make_demo", "ensure_posteriors", "load_oracle", "oracle_probabilities"]

"""Worker processes for image decoding and cropping (``data.workers``; 0 = all cores)."""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from dfu.config import DataConfig


def worker_count(cfg: DataConfig) -> int:
    return cfg.workers or os.cpu_count() or 1


def process_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes, forked (quick to start) unless TensorFlow is loaded: forking a
    process that runs TensorFlow's threads can deadlock, so then a fork server is used."""
    method = "forkserver" if "tensorflow" in sys.modules else None
    if method not in multiprocessing.get_all_start_methods():
        method = None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))

"""Ray Train's V2 ``TensorflowTrainer`` without TensorFlow in the trial and controller processes.

``ray.train.tensorflow``'s package ``__init__`` runs ``import tensorflow``, and both the
trainer's constructor and its ``TensorflowConfig`` live under it. So with Ray's own class
every Tune trial process and every Train controller loads TensorFlow (~0.9 GiB RSS and
~2.5 s each; measured on this machine with Ray 2.60) only to set ``TF_CONFIG`` on the workers.
This module is the same trainer (Ray's V2 ``TensorflowTrainer`` class, same
``DataParallelTrainer`` machinery) with a copy of Ray's ~15-line backend that does
exactly that, so TensorFlow loads only in the Train workers, through ``dfu.keras_setup``.
"""

from __future__ import annotations

from dataclasses import dataclass

import ray
from ray._common.network_utils import build_address
from ray.train._internal.utils import get_address_and_port
from ray.train.backend import Backend, BackendConfig
from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer
from ray.train.v2.tensorflow.tensorflow_trainer import TensorflowTrainer as _RayTensorflowTrainer

from cluster.connect import set_tf_config


@dataclass
class TensorflowConfig(BackendConfig):
    """Ray's ``TensorflowConfig``, importable without TensorFlow.

    ``framework`` stays None: with TENSORFLOW, Train's version probe imports ``keras``
    (Keras 3) into worker 0, and this project runs legacy tf-keras only.
    """

    @property
    def backend_cls(self):
        return _TensorflowBackend


class _TensorflowBackend(Backend):
    """Sets ``TF_CONFIG`` on every worker (what ``MultiWorkerMirroredStrategy`` reads)."""

    def on_start(self, worker_group, backend_config: TensorflowConfig):
        addresses = worker_group.execute(_worker_address)
        ray.get(
            [
                worker_group.execute_single_async(i, set_tf_config, addresses, i)
                for i in range(len(worker_group))
            ]
        )


def _worker_address() -> str:
    return build_address(*get_address_and_port())


class TensorflowTrainer(_RayTensorflowTrainer):
    """``ray.train.tensorflow.TensorflowTrainer`` (V2), with the TensorFlow-free backend above."""

    def __init__(self, train_loop_per_worker, **kwargs):
        # Skips the parent constructor only for its `from ray.train.tensorflow import ...`.
        DataParallelTrainer.__init__(
            self, train_loop_per_worker, backend_config=TensorflowConfig(), **kwargs
        )

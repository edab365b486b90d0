"""Starting and stopping the search's own local Ray (``cluster.connect``)."""

from __future__ import annotations

import ray

import cluster.connect as connect_module
from cluster.connect import connect, environment


def test_a_ray_stopped_in_the_background_is_gone_before_the_next_connect(monkeypatch):
    """``close(wait=False)`` stops Ray while the caller goes on (the search publishes its
    results meanwhile); the next ``connect`` waits for it and starts a fresh Ray instead of
    taking the dying one for a caller's."""
    for name in environment():  # connect sets them for its Ray's processes; restored after
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(connect_module, "dashboard_args", lambda: {"include_dashboard": False})
    assert not ray.is_initialized()
    first = connect()
    node = ray.get_runtime_context().get_node_id()
    first.close(wait=False)
    second = connect()
    try:
        assert (first.how, second.how) == ("local", "local")
        assert ray.is_initialized() and ray.get_runtime_context().get_node_id() != node
        assert ray.get(ray.put(7)) == 7
    finally:
        second.close()
    assert not ray.is_initialized()

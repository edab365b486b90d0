"""A search as its user watches it: the Ray dashboard, in headless Chromium, while it runs.

A ``ray start`` cluster (token auth on, as users run it) gets a search through ``ray job
submit``; its trials use a two-worker group, so Ray Train's state tracking (on in every search
process, ``cluster.connect``) records Train runs. While it runs: the Train state API lists the
run, the Jobs page shows the job and the Actors page the trial processes and Train workers.
The browser is driven over the DevTools protocol (aiohttp's websocket, already installed with
ray[default]); it authenticates with the cluster's token as the dashboard's login does, by
the ``ray-authentication-token`` cookie. Screenshots are left in the test's tmp folder.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.browser import CHROMIUM, FLAGS, needs_chromium
from tests.helpers.paths import REPO
from tests.helpers.ray_cluster import (
    TINY_SEARCH,
    cli_env,
    free_port,
    start_head,
    stop_cluster,
    wait_for,
)

pytestmark = [pytest.mark.slow, needs_chromium()]


def test_a_running_search_is_visible_in_the_dashboard(demo_dir_medium, tmp_path):
    temp_dir = tempfile.mkdtemp(prefix="rdb", dir="/tmp")  # short: Ray's socket paths are limited
    port = free_port()
    env, ray_cli = cli_env()
    address = f"http://127.0.0.1:{port}"
    try:
        start_head(env, ray_cli, port, temp_dir)
        token = _auth_token(env, ray_cli)
        _submit(env, ray_cli, address, demo_dir_medium, tmp_path)
        wait_for(
            lambda: _train_runs(address, token), timeout=600, what="a Train run in the state API"
        )
        pages = asyncio.run(_browse(address, token, ["jobs", "actors"], tmp_path))
    finally:
        stop_cluster(temp_dir)
    assert "jobs.cv_search" in pages["jobs"]  # the job, by its entrypoint
    assert "RayTrainWorker" in pages["actors"]  # the trial's worker group at work
    assert "ImplicitFunc" in pages["actors"]  # the Tune trial process
    assert (tmp_path / "jobs.png").stat().st_size > 10_000


def _auth_token(env: dict, ray_cli: str) -> str:
    """The cluster's token (RAY_AUTH_MODE=token), as ``ray get-auth-token`` prints it."""
    found = subprocess.run(
        [ray_cli, "get-auth-token"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return found.stdout.strip().splitlines()[-1]


def _submit(env: dict, ray_cli: str, address: str, demo, tmp_path: Path) -> None:
    """``ray job submit --no-wait``: a search slow enough (40 epochs of pre-training, two workers
    per trial) to be watched while it runs."""
    subprocess.run(
        [
            ray_cli,
            "job",
            "submit",
            f"--address={address}",
            "--working-dir",
            ".",
            "--no-wait",
            "--",
            "python",
            "-m",
            "jobs.cv_search",
            "--data",
            str(demo),
            "--name",
            "watched",
            "--storage",
            str(tmp_path / "runs"),
            f"data.cache_dir={tmp_path / 'cache'}",
            *TINY_SEARCH,
            "search.combinations=[thermal_map]",
            "search.folds=[0]",
            "search.workers_per_trial=2",
            "training.pretrain.epochs=40",
            "training.pretrain.patience=40",
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _train_runs(address: str, token: str) -> list:
    request = urllib.request.Request(
        f"{address}/api/train/v2/runs/v1",  # Train V2's runs
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read()).get("train_runs", [])
    except OSError:
        return []


async def _browse(address: str, token: str, pages: list[str], out: Path) -> dict[str, str]:
    """Each dashboard page's visible text, with a screenshot, in headless Chromium."""
    import aiohttp

    debug = free_port()
    command = [
        str(CHROMIUM),
        *FLAGS,
        "--window-size=1400,900",
        f"--remote-debugging-port={debug}",
        f"--user-data-dir={out / 'chromium'}",
        "about:blank",
    ]
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        target = await _page_target(debug)
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(target, max_msg_size=0) as ws,
        ):
            cdp = _Cdp(ws)
            await cdp("Network.enable")
            await cdp(
                "Network.setCookie",
                name="ray-authentication-token",
                value=token,
                domain="127.0.0.1",
                path="/",
            )
            texts = {}
            for page in pages:
                await cdp("Page.navigate", url=f"{address}/#/{page}")
                await asyncio.sleep(8)  # the dashboard's first fetches
                found = await cdp("Runtime.evaluate", expression="document.body.innerText")
                texts[page] = found["result"]["value"]
                shot = await cdp("Page.captureScreenshot", format="png")
                (out / f"{page}.png").write_bytes(base64.b64decode(shot["data"]))
            return texts
    finally:
        browser.kill()
        browser.wait()


async def _page_target(debug: int) -> str:
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{debug}/json/list", timeout=2) as r:
                pages = [t for t in json.loads(r.read()) if t["type"] == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        await asyncio.sleep(0.5)
    raise TimeoutError("headless Chromium did not open its DevTools port")


class _Cdp:
    """One DevTools session: ``await cdp(method, **params)`` -> the result of that call."""

    def __init__(self, ws):
        self.ws, self.next_id = ws, 0

    async def __call__(self, method: str, **params) -> dict:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        async for message in self.ws:
            reply = json.loads(message.data)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
        raise RuntimeError(f"{method}: the browser closed the session")

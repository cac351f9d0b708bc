"""deploy/gunicorn.conf.py as production starts it: gunicorn serves with it, bad settings stop it
before it forks, and its worker hook tunes the collector as its notes say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'infora.db'}",
        "INFORA_SECRET_KEY": "deploy-config-test-" + "x" * 20,
        "INFORA_WEB_WORKERS": "1",
        "INFORA_LOG_LEVEL": "WARNING",
        **more,
    }


def _health(url: str, deadline: float) -> dict[str, str]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: dict[str, str] = json.load(response)
                return body
        except urllib.error.HTTPError as err:  # 503 until the schema is made: the server answers
            answer: dict[str, str] = json.load(err)
            return answer
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_gunicorn_serves_with_the_production_config(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(CONFIG)],
        cwd=ROOT,
        env=_env(tmp_path, INFORA_WEB_BIND=f"127.0.0.1:{port}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        report = _health(f"http://127.0.0.1:{port}/health", time.monotonic() + 60)
        assert report["database"] == "ok"
    finally:
        server.terminate()
        output = server.communicate(timeout=60)[0].decode()
    assert server.returncode == 0, output


def test_bad_settings_stop_gunicorn_before_it_forks(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", str(CONFIG)],
        cwd=ROOT,
        env=_env(tmp_path, INFORA_WEB_WORKERS="many", INFORA_WEB_TIMEOUT="0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "INFORA_WEB_WORKERS" in done.stderr and "INFORA_WEB_TIMEOUT" in done.stderr


def test_the_worker_hook_freezes_what_is_loaded_and_raises_the_young_threshold(tmp_path: Path) -> None:
    probe = (
        "import gc, runpy\n"
        f"settings = runpy.run_path({str(CONFIG)!r})\n"
        "assert gc.get_freeze_count() == 0\n"
        "settings['post_worker_init'](None)\n"
        "print(gc.get_freeze_count(), *gc.get_threshold())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    frozen, young, *_ = (int(n) for n in done.stdout.split())
    assert frozen > 10_000 and young == 20_000


def test_one_thread_means_sync_workers_and_more_mean_gthread(tmp_path: Path) -> None:
    probe = f"import runpy\nprint(runpy.run_path({str(CONFIG)!r})['worker_class'])\n"
    classes = []
    for threads in ("1", "4"):
        done = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=ROOT,
            env=_env(tmp_path, INFORA_WEB_THREADS=threads),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        classes.append(done.stdout.strip())
    assert classes == ["sync", "gthread"]


def test_gunicorn_formats_no_access_line_of_its_own(tmp_path: Path) -> None:
    # With JSON logs the config gives gunicorn a logging configuration, and gunicorn then counts its
    # access log as on: its stock logger would build the access fields of every request (here it
    # fails on the empty request) for a logger with no handler.
    probe = (
        "import runpy\n"
        "from gunicorn.config import Config\n"
        f"settings = runpy.run_path({str(CONFIG)!r})\n"
        "cfg = Config()\n"
        "for name, value in settings.items():\n"
        "    if name in cfg.settings:\n"
        "        cfg.set(name, value)\n"
        "log = cfg.logger_class(cfg)\n"
        "assert log.access_log_enabled\n"
        "print(log.access(None, None, {}, None))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=_env(tmp_path, INFORA_LOG_FORMAT="json"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"

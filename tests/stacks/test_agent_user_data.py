"""The drain agent as the user data ships it: the bundle, its hash, and the script, run for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modules.agent_bundle import AGENT_SOURCE, build_agent_bundle, strip_documentation
from modules.settings import load_environment
from modules.worker_launch_template import (
    AGENT_INSTALL_ROOT,
    USER_DATA_LIMIT_BYTES,
    gzipped_size,
    render_user_data,
)
from worker_metrics.contract import WorkerType


def _copy_agent(tmp_path: Path) -> Path:
    copy = tmp_path / "worker_agent"
    shutil.copytree(AGENT_SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_bundle_is_the_same_on_every_build() -> None:
    first, second = build_agent_bundle(), build_agent_bundle()
    assert first == second and first.sha256 == second.sha256
    assert [f.path for f in first.files] == sorted(f.path for f in first.files)
    assert "worker_agent/core.py" in [f.path for f in first.files]


def test_a_code_change_gives_a_new_hash_and_a_docstring_change_does_not(tmp_path: Path) -> None:
    # GIVEN a copy of the agent
    copy = _copy_agent(tmp_path)
    baseline = build_agent_bundle(copy).sha256
    core = copy / "core.py"
    # WHEN only a docstring changes THEN the shipped agent, hence the hash, is the same
    core.write_text(core.read_text().replace("The drain decision", "The drain decisions", 1))
    assert build_agent_bundle(copy).sha256 == baseline
    # WHEN code changes THEN the hash changes
    core.write_text(
        core.read_text().replace(
            "spot_margin_seconds: float = 20.0", "spot_margin_seconds: float = 25.0"
        )
    )
    assert build_agent_bundle(copy).sha256 != baseline


def test_stripping_keeps_the_code_on_its_lines() -> None:
    # GIVEN the agent's core
    source = (AGENT_SOURCE / "core.py").read_text()
    # WHEN its documentation is stripped
    stripped = strip_documentation(source)
    # THEN every line of code is where it was (tracebacks match the repository)
    assert len(stripped.splitlines()) == len(source.splitlines())
    for original, shipped in zip(source.splitlines(), stripped.splitlines(), strict=True):
        if shipped.strip() and shipped.strip() != '""':
            assert original.startswith(shipped.rstrip()) or original.rstrip() == shipped
    assert "pure state machine" not in stripped and "# The worker has seen" not in stripped
    assert len(stripped) < len(source) * 0.8


def test_a_source_that_would_break_the_user_data_is_refused(tmp_path: Path) -> None:
    copy = _copy_agent(tmp_path)
    (copy / "extra.py").write_text('TEMPLATE = "${HOME}"\n')
    with pytest.raises(ValueError, match=r"worker_agent/extra.py: contains '\$\{'"):
        build_agent_bundle(copy)


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_user_data_fits_ec2s_limit_with_room(env: str) -> None:
    # GIVEN each fleet's user data with queue URLs at 160 characters (longer than any)
    settings = load_environment(env)
    for fleet in settings.fleets:
        script = render_user_data(
            settings=fleet,
            region=settings.region,
            queue_urls=["q" * 160] * len(fleet.queues),
            asg_name=f"{settings.name_prefix}-{fleet.key}-workers",
            hook_name=f"{settings.name_prefix}-{fleet.key}-workers-drain",
            agent=build_agent_bundle(),
        )
        # THEN gzipped it fits in 16 KB, with at least 3 KB left for user_data_extra
        assert gzipped_size(script) <= USER_DATA_LIMIT_BYTES - 3072, fleet.key


# ------------------------------------------------------------------ the script, executed


def _sandboxed(script: str, root: Path) -> str:
    """The script with its absolute paths moved under ``root``."""
    for path in ("/etc/academy", "/etc/systemd", AGENT_INSTALL_ROOT):
        script = script.replace(path, f"{root}{path}")
    return script


def _run_user_data(
    tmp_path: Path, agent_starts: bool
) -> tuple[subprocess.CompletedProcess[str], Path]:
    settings = load_environment("prod")
    fleet = settings.fleet(WorkerType.VIDEO)
    script = render_user_data(
        settings=fleet,
        region=settings.region,
        queue_urls=["https://sqs.ap-northeast-2.amazonaws.com/123456789012/academy-video-encode"],
        asg_name="academy-prod-video-workers",
        hook_name="academy-prod-video-workers-drain",
        agent=build_agent_bundle(),
    )
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)  # as on any systemd host
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    # A systemctl that records its calls; the agent's start runs the unit's ExecStartPre check.
    (bin_dir / "systemctl").write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {tmp_path}/systemctl.log\n'
        'if [[ "$*" == *academy-drain-agent* ]]; then\n'
        f'  {"exec" if agent_starts else "exit 1; exec"} "$AGENT_PYTHON" -m worker_agent check\n'
        "fi\n"
    )
    (bin_dir / "systemctl").chmod(0o755)
    user_data = tmp_path / "user-data.sh"
    user_data.write_text(_sandboxed(script, root))
    result = subprocess.run(
        ["bash", str(user_data)],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "AGENT_PYTHON": sys.executable,
            "PYTHONPATH": str(root) + AGENT_INSTALL_ROOT + "/" + build_agent_bundle().sha256,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, root


def test_user_data_installs_the_agent_verified_and_starts_it_before_the_worker(
    tmp_path: Path,
) -> None:
    # GIVEN prod's Video user data, with its paths under a scratch root
    # WHEN bash runs it
    result, root = _run_user_data(tmp_path, agent_starts=True)
    # THEN it succeeds: every agent file is written and matches its sha256 (checked by the script)
    assert result.returncode == 0, result.stderr
    bundle = build_agent_bundle()
    installed = root / AGENT_INSTALL_ROOT.lstrip("/") / bundle.sha256
    for item in bundle.files:
        assert (installed / item.path).read_text() == item.text
    # ...the installed agent runs from there (the unit's ExecStartPre)
    check = subprocess.run(
        [sys.executable, "-m", "worker_agent", "check"],
        env={**os.environ, "PYTHONPATH": str(installed)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and "ready" in check.stdout
    # ...the environment names the hook, the heartbeat and the self-managed protection
    env = (root / "etc/academy/worker.env").read_text()
    assert "LIFECYCLE_HOOK_NAME=academy-prod-video-workers-drain" in env
    assert "DRAIN_HEARTBEAT_SECONDS=1200" in env and "SCALE_IN_PROTECTION=self-managed" in env
    unit = (root / "etc/systemd/system/academy-drain-agent.service").read_text()
    assert f"Environment=PYTHONPATH={root}{AGENT_INSTALL_ROOT}/{bundle.sha256}\n" in unit
    assert "ExecStartPre=/usr/bin/python3 -m worker_agent check" in unit
    # ...and the agent is started before the worker
    calls = (tmp_path / "systemctl.log").read_text().splitlines()
    assert calls == [
        "daemon-reload",
        "enable --now academy-drain-agent.service",
        "enable --now academy-worker@video.service",
    ]


def test_user_data_stops_before_the_worker_when_the_agent_cannot_start(tmp_path: Path) -> None:
    # GIVEN an AMI where the agent's unit fails (e.g. no boto3)
    result, _root = _run_user_data(tmp_path, agent_starts=False)
    # THEN the script fails loudly and never starts the worker
    assert result.returncode == 1
    assert "the drain agent did not start" in result.stderr
    calls = (tmp_path / "systemctl.log").read_text()
    assert "academy-worker@video" not in calls

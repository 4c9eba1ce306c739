"""Real ``terraform init`` + ``validate`` on every synthesized stack, offline."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import Synthesized

pytestmark = [pytest.mark.synth, pytest.mark.terraform]


def test_every_stack_validates(synthesized: Synthesized) -> None:
    stacks = synthesized.stacks()
    assert {"workers-local", "workers-dev", "workers-prod", "tfstate-prod"} <= set(stacks)
    for stack in stacks:
        directory = synthesized.stack_dir(stack)
        init = subprocess.run(
            [
                "terraform",
                f"-chdir={directory}",
                "init",
                "-backend=false",
                "-input=false",
                "-no-color",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert init.returncode == 0, f"{stack}: init failed:\n{init.stderr}"
        validate = subprocess.run(
            ["terraform", f"-chdir={directory}", "validate", "-json", "-no-color"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert '"valid": true' in validate.stdout, f"{stack}:\n{validate.stdout}"

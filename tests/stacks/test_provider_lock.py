"""The committed provider lock file: in every synthesized stack, checked by Terraform.

``.terraform.lock.hcl`` is what lets ``cdktf deploy``/``diff`` skip ``terraform
providers lock`` (which needs the registry) without weakening anything: Terraform
itself verifies the provider against it on every ``init``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from modules import provider_lock
from modules.provider_lock import LOCK_FILE_NAME, PROJECT_LOCK, ProviderLockError
from tests.conftest import Synthesized

MIRROR = Path(os.environ.get("TF_PROVIDER_MIRROR", "/opt/tf-plugins"))
AWS = "registry.terraform.io/hashicorp/aws"
TERRAFORM_TIMEOUT_SECONDS = 300


def _terraform(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", f"-chdir={directory}", *args],
        capture_output=True,
        text=True,
        timeout=TERRAFORM_TIMEOUT_SECONDS,
        check=False,
    )


def _stack(tmp_path: Path, name: str, version: str) -> Path:
    stack = tmp_path / "stacks" / name
    stack.mkdir(parents=True)
    required = {"aws": {"source": "aws", "version": version}}
    (stack / "cdk.tf.json").write_text(json.dumps({"terraform": {"required_providers": required}}))
    return stack


def test_lock_records_the_provider_version_the_bindings_pin() -> None:
    # GIVEN the committed lock file
    text = PROJECT_LOCK.read_text()
    # THEN it locks exactly hashicorp/aws 5.100.0 (the exact pin of the bindings, NOTES §1)
    assert provider_lock.locked_versions(text) == {AWS: "5.100.0"}
    assert 'constraints = "5.100.0"' in text
    # AND it carries the h1 hash of one platform and the zh hash of every released one
    assert len(re.findall(r'"h1:[A-Za-z0-9+/]{43}="', text)) >= 1
    assert len(re.findall(r'"zh:[0-9a-f]{64}"', text)) == 15


@pytest.mark.synth
def test_every_synthesized_stack_carries_the_committed_lock(synthesized: Synthesized) -> None:
    # GIVEN every stack the app synthesized
    for stack in synthesized.stacks():
        directory = synthesized.stack_dir(stack)
        # THEN its folder holds the committed lock, byte for byte
        assert (directory / LOCK_FILE_NAME).read_text() == PROJECT_LOCK.read_text(), stack
        # AND the lock records each provider at exactly the version the stack requires,
        # so cdktf finds no reason to run `terraform providers lock`
        required = provider_lock.required_providers(directory)
        assert required == {AWS: "5.100.0"}, stack


@pytest.mark.terraform
@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
@pytest.mark.skipif(
    not (MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir(),
    reason=f"no offline provider mirror at {MIRROR}",
)
def test_lock_matches_the_mirrored_linux_amd64_package(tmp_path: Path) -> None:
    # GIVEN a configuration requiring the provider, with the committed lock
    stack = _stack(tmp_path, "probe", "5.100.0")
    shutil.copyfile(PROJECT_LOCK, stack / LOCK_FILE_NAME)

    # WHEN Terraform re-computes the linux_amd64 checksums from the provider mirror
    done = _terraform(
        stack, "providers", "lock", f"-fs-mirror={MIRROR}", "-platform=linux_amd64", "-no-color"
    )

    # THEN the lock already held them: the file is unchanged
    assert done.returncode == 0, done.stderr
    assert "All checksums for this platform were already tracked" in done.stdout
    assert (stack / LOCK_FILE_NAME).read_text() == PROJECT_LOCK.read_text()


@pytest.mark.synth
@pytest.mark.terraform
@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_init_refuses_a_provider_that_does_not_match_the_lock(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN a synthesized stack whose lock records another linux_amd64 package (h1) than
    # the one the mirror or cache holds (the zh: hashes of the release zips kept)
    stack = tmp_path / "tfstate-local"
    shutil.copytree(
        synthesized.stack_dir("tfstate-local"), stack, ignore=shutil.ignore_patterns(".terraform")
    )
    lock = stack / LOCK_FILE_NAME
    text, count = re.subn(r'"h1:[^"]+"', '"h1:' + "A" * 43 + '="', lock.read_text())
    assert count == 1
    lock.write_text(text)

    # WHEN Terraform installs the provider
    done = _terraform(stack, "init", "-backend=false", "-input=false", "-no-color")

    # THEN it refuses it: the lock is enforced, not advisory
    assert done.returncode != 0
    assert "doesn't match any of the checksums previously recorded" in " ".join(done.stderr.split())


def test_install_copies_the_lock_into_every_stack(tmp_path: Path) -> None:
    # GIVEN two synthesized stacks requiring the locked version
    stacks = [_stack(tmp_path, name, "5.100.0") for name in ("a", "b")]
    # WHEN the lock is installed
    copies = provider_lock.install(tmp_path)
    # THEN each stack has it
    assert copies == [s / LOCK_FILE_NAME for s in stacks]
    assert all(c.read_text() == PROJECT_LOCK.read_text() for c in copies)


def test_a_stale_lock_stops_synth_naming_both_versions(tmp_path: Path) -> None:
    # GIVEN a stack requiring a version the lock does not record
    _stack(tmp_path, "ok", "5.100.0")
    stale = _stack(tmp_path, "workers-next", "6.0.0")

    # WHEN the lock is installed THEN one line names the provider, both versions and the fix
    with pytest.raises(ProviderLockError) as raised:
        provider_lock.install(tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    assert f"locks {AWS} 5.100.0, but workers-next requires 6.0.0" in message
    assert "make providers-lock" in message
    # AND no stack got a lock that does not cover it
    assert not (stale / LOCK_FILE_NAME).exists()
    assert not (tmp_path / "stacks" / "ok" / LOCK_FILE_NAME).exists()


def test_a_missing_lock_file_is_one_clear_line(tmp_path: Path) -> None:
    _stack(tmp_path, "a", "5.100.0")
    with pytest.raises(ProviderLockError, match=r"\.terraform\.lock\.hcl is missing: restore it"):
        provider_lock.install(tmp_path, lock=tmp_path / LOCK_FILE_NAME)


def test_required_providers_of_hcl_output_in_either_attribute_order(tmp_path: Path) -> None:
    # GIVEN `cdktf synth --hcl` output (version before source, as cdktf writes it)
    stack = tmp_path / "s"
    stack.mkdir()
    (stack / "cdk.tf").write_text(
        'terraform {\n  required_providers {\n    aws = {\n      version = "5.100.0"\n'
        '      source  = "aws"\n    }\n    null = {\n      source = "hashicorp/null"\n'
        '      version = "3.2.0"\n    }\n  }\n  backend "s3" {\n    bucket = "b"\n  }\n}\n'
    )
    # THEN both providers are read with their versions
    assert provider_lock.required_providers(stack) == {
        AWS: "5.100.0",
        "registry.terraform.io/hashicorp/null": "3.2.0",
    }

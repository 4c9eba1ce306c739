"""cdktf app: one worker stack (and one state bootstrap stack) per environment.

Environments are the files ``config/<env>.toml`` (``WORKER_CONFIG_DIR`` points
elsewhere); ``WORKER_ENVS`` (comma-separated) limits synthesis to some of them.
A bad setting stops here with one line naming the file, the setting and the value.
Every stack folder gets a copy of the committed provider lock file
(``modules.provider_lock``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from modules.settings import CONFIG_DIR, SettingsError, available_environments, load_environment

LAMBDA_ZIP = Path(__file__).resolve().parent / "dist" / "queue_depth_lambda.zip"


def main() -> int:
    config_dir = Path(os.environ.get("WORKER_CONFIG_DIR", CONFIG_DIR))
    names = [n for n in os.environ.get("WORKER_ENVS", "").split(",") if n]
    try:
        environments = [
            load_environment(n, config_dir) for n in names or available_environments(config_dir)
        ]
    except SettingsError as err:
        print(f"synth: {err}", file=sys.stderr)
        return 2

    from cdktf import App  # after validation: settings errors cost no jsii start-up

    from modules import provider_lock
    from modules.bootstrap_stack import StateBootstrapStack
    from modules.worker_stack import WorkerAutoscalingStack

    app = App()
    for settings in environments:
        try:
            WorkerAutoscalingStack(app, settings=settings, lambda_zip=LAMBDA_ZIP)
        except ValueError as err:
            print(f"synth: {settings.name}: {err}", file=sys.stderr)
            return 2
        if settings.backend.kind == "s3":
            StateBootstrapStack(app, settings=settings)
    app.synth()
    try:
        # Terraform verifies the provider against it; cdktf then runs no `providers lock`.
        provider_lock.install(Path(app.outdir))
    except provider_lock.ProviderLockError as err:
        print(f"synth: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

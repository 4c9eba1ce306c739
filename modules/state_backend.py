"""Where a stack keeps its Terraform state.

``s3``: an S3 backend with encryption and native S3 locking
(``use_lockfile = true``, Terraform >= 1.10; DynamoDB locking is deprecated).
cdktf 0.21's ``S3Backend`` has no ``use_lockfile`` property, so it is set with
an override (NOTES §1). ``local``: a state file beside the stack, for synth and
validate with no AWS at all (``make validate`` also runs ``init -backend=false``).

For the ``local`` environment the S3 backend lives in the emulated AWS; its
endpoint comes from ``local_endpoint`` or, at init time, from
``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` (the demo sets them).
"""

from __future__ import annotations

from cdktf import LocalBackend, S3Backend, S3BackendEndpointConfig, TerraformStack

from modules.settings import EnvironmentSettings


def configure_backend(stack: TerraformStack, env: EnvironmentSettings) -> None:
    """Attach ``env.backend`` to ``stack``."""
    backend = env.backend
    if backend.kind == "local":
        LocalBackend(stack, path=f"{stack.node.id}.tfstate")
        return
    emulated = env.emulated
    s3 = S3Backend(
        stack,
        bucket=backend.bucket,
        key=backend.key,
        region=backend.region or env.region,
        encrypt=True,
        # An emulated AWS has no STS/IMDS and serves buckets path-style.
        skip_credentials_validation=True if emulated else None,
        skip_requesting_account_id=True if emulated else None,
        skip_metadata_api_check=True if emulated else None,
        skip_region_validation=True if emulated else None,
        use_path_style=True if emulated else None,
        endpoints=S3BackendEndpointConfig(s3=env.local_endpoint) if env.local_endpoint else None,
    )
    s3.add_override("use_lockfile", True)

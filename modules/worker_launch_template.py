"""``WorkerLaunchTemplate``: a fleet's launch template, and the user data that sets up an instance.

* IMDSv2 required (hop limit 1), encrypted gp3 root volume, the fleet's instance profile.
* User data rendered from ``templates/user_data.sh.j2``: the worker's environment
  (queues, ASG, lifecycle hook), and the drain agent (``modules.agent_bundle``)
  written to ``/opt/academy/worker-agent/<sha256>/`` and run as the systemd unit
  ``academy-drain-agent.service``. It is sent gzipped (``base64gzip``; cloud-init
  unpacks it) and must stay within EC2's 16 KB (``USER_DATA_LIMIT_BYTES``).
* ``version`` is the template's latest version number, not ``$Latest``: an ASG
  that names it changes whenever the user data does, so Terraform starts an
  instance refresh; with ``$Latest`` the ASG resource never changes and running
  instances keep the old agent.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from pathlib import Path

import jinja2
from cdktf import Fn, Token
from constructs import Construct

from modules.agent_bundle import HEREDOC_DELIMITER, AgentBundle
from modules.aws import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMetadataOptions,
    LaunchTemplateTagSpecifications,
)
from modules.settings import FleetSettings
from modules.worker_queue import WorkerQueue
from worker_metrics.contract import DIMENSION_NAME

USER_DATA_LIMIT_BYTES = 16_384
"""EC2's limit on user data, raw (here: gzipped), before base64."""

AGENT_INSTALL_ROOT = "/opt/academy/worker-agent"
"""Each agent version lives in ``<root>/<sha256>/``; a new one never overwrites an old one."""

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # renders a shell script, not HTML
)


def render_user_data(
    *,
    settings: FleetSettings,
    region: str,
    queue_urls: Sequence[str],
    asg_name: str,
    hook_name: str,
    agent: AgentBundle,
) -> str:
    """The user data script of a fleet (plain text; ``queue_urls`` may be Terraform tokens)."""
    agent_dir = f"{AGENT_INSTALL_ROOT}/{agent.sha256}"
    directories = sorted({f.path.rsplit("/", 1)[0] for f in agent.files})
    return _TEMPLATES.get_template("user_data.sh.j2").render(
        worker_type=settings.worker_type.value,
        region=region,
        queue_urls=list(queue_urls),
        asg_name=asg_name,
        jobs_per_instance=settings.jobs_per_instance,
        hook_name=hook_name,
        drain=settings.drain_plan,
        protect_from_scale_in=settings.protect_from_scale_in,
        agent=agent,
        agent_dir=agent_dir,
        agent_directories=directories,
        delimiter=HEREDOC_DELIMITER,
        extra=settings.user_data_extra,
    )


_PLACEHOLDER = "@@QUEUE_URL_{}@@"
_PLACEHOLDER_PATTERN = re.compile(r"@@QUEUE_URL_(\d+)@@")


def terraform_string(script: str, tokens: Sequence[str]) -> str:
    """``script`` as a Terraform expression: its text as string literals joined with
    ``tokens`` where ``script`` holds ``@@QUEUE_URL_<i>@@`` placeholders.

    ``Fn.raw_string`` escapes quotes and template sequences but not backslashes,
    which Terraform would then read as escapes (``"\\n"`` in the agent's Python would
    become a newline): they are doubled first.
    """

    def literal(text: str) -> str:
        return Fn.raw_string(text.replace("\\", "\\\\"))

    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER_PATTERN.finditer(script):
        parts.append(literal(script[position : match.start()]))
        parts.append(tokens[int(match.group(1))])
        position = match.end()
    parts.append(literal(script[position:]))
    return Token.as_string(Fn.join("", parts))


def gzipped_size(script: str) -> int:
    """Bytes of ``script`` once gzipped as Terraform's ``base64gzip`` does (level 6)."""
    return len(gzip.compress(script.encode(), compresslevel=6, mtime=0))


class WorkerLaunchTemplate:
    """The launch template of the fleet ``name``, built in ``scope`` (the fleet's own
    scope, so its Terraform address is the one it had before this module existed).

    ``instance_profile_arn``: the fleet's instance profile. ``hook_name``: its
    termination lifecycle hook (the agent completes it). ``agent``: the drain
    agent to install. Raises ``ValueError`` when the user data would exceed
    ``USER_DATA_LIMIT_BYTES`` (with queue URLs counted at their longest).
    """

    def __init__(
        self,
        scope: Construct,
        *,
        settings: FleetSettings,
        name: str,
        region: str,
        queues: Sequence[WorkerQueue],
        instance_profile_arn: str,
        hook_name: str,
        agent: AgentBundle,
    ) -> None:
        self.agent = agent
        self.user_data_script = render_user_data(
            settings=settings,
            region=region,
            queue_urls=[_PLACEHOLDER.format(index) for index in range(len(queues))],
            asg_name=name,
            hook_name=hook_name,
            agent=agent,
        )
        """The script, with ``@@QUEUE_URL_<i>@@`` where Terraform puts each queue's URL."""
        # A queue URL is at most ~130 bytes; size the check with every token at 160.
        worst_case = render_user_data(
            settings=settings,
            region=region,
            queue_urls=["x" * 160 for _ in queues],
            asg_name=name,
            hook_name=hook_name,
            agent=agent,
        )
        size = gzipped_size(worst_case)
        if size > USER_DATA_LIMIT_BYTES:
            raise ValueError(
                f"fleet {settings.key}: user data is {size} bytes gzipped, over EC2's "
                f"{USER_DATA_LIMIT_BYTES}; shorten user_data_extra or the agent"
            )
        self.user_data_gzipped_bytes = size
        self.template = LaunchTemplate(
            scope,
            "launch-template",
            name=name,
            image_id=settings.ami,
            instance_type=settings.instance_types[0],
            update_default_version=True,
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=instance_profile_arn),
            metadata_options=LaunchTemplateMetadataOptions(
                http_endpoint="enabled",
                http_tokens="required",  # IMDSv2 only
                http_put_response_hop_limit=1,
                instance_metadata_tags="enabled",
            ),
            block_device_mappings=[
                LaunchTemplateBlockDeviceMappings(
                    device_name="/dev/xvda",
                    ebs=LaunchTemplateBlockDeviceMappingsEbs(
                        encrypted="true",
                        volume_type="gp3",
                        volume_size=settings.volume_size_gb,
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                LaunchTemplateTagSpecifications(
                    resource_type=kind,
                    tags={"Name": name, DIMENSION_NAME: settings.worker_type.value},
                )
                for kind in ("instance", "volume")
            ],
            user_data=Fn.base64gzip(
                terraform_string(self.user_data_script, [q.url for q in queues])
            ),
        )
        self.id = self.template.id
        # The version number, so that a new version changes the ASG (instance refresh).
        self.version = Token.as_string(self.template.latest_version)

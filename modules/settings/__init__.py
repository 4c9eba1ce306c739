"""Per-environment settings: ``config/<env>.toml`` loaded into frozen, validated dataclasses.

Every field has a documented default. Each dataclass validates itself in
``__post_init__`` and raises ``ValueError`` naming the field and the value;
``load_environment`` re-raises it as ``SettingsError`` prefixed with the file
and the setting's path (``config/prod.toml: fleets.ai.max_size = 1 ...``), so
a bad setting fails at synth time, before any Terraform is written.

One module per table: ``queue`` (``[[fleets.<type>.queues]]``), ``fleet``
(``[fleets.<type>]``), ``workload`` (``[fleets.<type>.workload]``, for the
simulator), ``publisher`` (``[publisher]``), ``backend``,
``environment`` (the document); ``checks`` holds the shared validators and
``loading`` the TOML reader.

No cdktf import here: settings load in milliseconds and the CLI and the tests
reuse them without paying for the jsii runtime.
"""

from modules.settings.backend import BackendSettings
from modules.settings.environment import EnvironmentSettings
from modules.settings.fleet import FleetSettings
from modules.settings.loading import (
    CONFIG_DIR,
    SettingsError,
    available_environments,
    load_environment,
    parse_environment,
)
from modules.settings.publisher import PublisherSettings, TenantBacklogSettings
from modules.settings.queue import QueueSettings
from modules.settings.workload import WorkloadSettings

__all__ = [
    "CONFIG_DIR",
    "BackendSettings",
    "EnvironmentSettings",
    "FleetSettings",
    "PublisherSettings",
    "QueueSettings",
    "SettingsError",
    "TenantBacklogSettings",
    "WorkloadSettings",
    "available_environments",
    "load_environment",
    "parse_environment",
]

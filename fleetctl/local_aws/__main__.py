"""``python -m fleetctl.local_aws``: the CLI (``fleetctl.local_aws.cli``)."""

import sys

from fleetctl.local_aws.cli import main

sys.exit(main())

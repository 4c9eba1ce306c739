"""``python -m fleetctl ...``: the same as the ``fleetctl`` console script."""

import sys

from fleetctl.cli import main

sys.exit(main())

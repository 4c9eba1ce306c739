"""``python -m fleetctl.demo ...``: the same as ``fleetctl demo ...``."""

import sys

from fleetctl.demo import main

sys.exit(main())

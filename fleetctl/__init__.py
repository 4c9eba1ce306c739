"""fleetctl: operator tooling for the worker autoscaling stack (local AWS, demo, scaling model)."""

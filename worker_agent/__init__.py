"""The drain agent: no running job is killed by a scale-in or lost to a Spot interruption."""

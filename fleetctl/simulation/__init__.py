"""Workload simulation: queues, instances and scalers in simulated time, run by the real code."""

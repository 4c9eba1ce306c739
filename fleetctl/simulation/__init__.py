"""Workload simulation: queues, instances and scalers in simulated time, driving the real decisions."""

"""Simulations that run the scheduler's own policies on recorded traces."""

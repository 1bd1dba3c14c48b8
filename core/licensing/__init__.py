"""Licensees, keys, origins, identity, service period, maintenance and look."""

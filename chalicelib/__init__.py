"""Patchcast: domain logic and AWS adapters bundled into every Lambda."""

"""Tooling that never ships in a Lambda: the local stack, the ``patchctl`` CLI, the demo."""

"""Run a command that dies with the local stack: ``python -m patchcast_tools.local.leash PARENT_PID CMD...``.

The stack starts the local AWS and ``chalice local`` in sessions of their own (so a Ctrl-C in the terminal reaches
the stack alone, which then stops them in order). Were the stack killed outright (SIGKILL, an OOM kill, a CI job's
timeout), nothing would stop them, and they would hold their ports for ever. So each child asks Linux to send it
SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``, which survives ``exec``), then becomes the command.
Elsewhere than Linux the command simply runs (the stack's own stop still ends it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _leash_to(parent: int) -> None:
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the leash was on
        sys.exit(0)


def main() -> None:
    if len(sys.argv) < 3 or not sys.argv[1].isascii() or not sys.argv[1].isdigit():
        sys.exit("usage: python -m patchcast_tools.local.leash PARENT_PID COMMAND [ARG...]")
    _leash_to(int(sys.argv[1]))
    os.execvp(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()

"""Where kernel tests run: on this host when its kernel has netem, else in a throwaway VM.

    python -m emulator.lane -- python -m pytest -m kernel tests/kernel

Without root neither is possible: the command still runs on the host, where
the kernel tests skip and say why.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("usage: python -m emulator.lane -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    from .kernel import modprobe_netem, netem_available

    if os.geteuid() != 0:
        print("emulator.lane: not root: kernel tests run on the host and skip", flush=True)
        return subprocess.call(argv)
    modprobe_netem()
    if netem_available():
        print("emulator.lane: this kernel has sch_netem: kernel tests run on the host", flush=True)
        return subprocess.call(argv)
    print("emulator.lane: no sch_netem in this kernel: kernel tests run in a VM with Debian's kernel", flush=True)
    from .vm import VMError, run_in_vm

    try:
        return run_in_vm(argv)
    except VMError as exc:
        print(f"emulator.lane: cannot start the VM: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

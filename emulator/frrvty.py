"""Talking to one FRR daemon over its vty unix socket, the way vtysh does, without vtysh.

Every FRR daemon listens on ``<pathspace>/<daemon>.vty`` (here
``/var/run/frr/<ns>/ospfd.vty``).  vtysh connects there and sends each
command as a NUL-terminated line; the daemon answers with the command's
output followed by three NUL bytes and a status byte (0 = success, 2 =
unknown command, ...).  Starting vtysh costs ~30 ms per call; a command on
an open socket costs ~0.05 ms, so one persistent :class:`Vty` per node lets
the emulator follow the delays with OSPF costs every step::

    with Vty("/var/run/frr/sgemu-ab12cd-leo-0-01/ospfd.vty") as vty:
        vty.run("enable", "configure terminal", "interface sl3", "ip ospf cost 120", "end")
"""

from __future__ import annotations

import socket

# status bytes from FRR's lib/command.h
CMD_SUCCESS, CMD_WARNING = 0, 1
_STATUS = {2: "unknown command", 3: "ambiguous command", 4: "incomplete command", 5: "exceeds the argument count",
           6: "nothing to do", 7: "complete full match", 8: "complete match", 9: "complete list match",
           10: "success daemon", 11: "no such config element", 12: "not my instance", 13: "warning (config failed)"}


class VtyError(RuntimeError):
    """A daemon refused a command (its own message and the status it returned)."""


class Vty:
    """One open vty session with an FRR daemon; commands run in the order given, in one state.

    The session starts in the daemon's view mode: send ``enable`` before
    configuration commands (the daemon itself accepts it without a password
    on its unix socket, as vtysh relies on).
    """

    def __init__(self, path: str, timeout_s: float = 10.0):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout_s)
        try:
            self.sock.connect(self.path)
        except OSError:
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def command(self, line: str) -> str:
        """Run one command; return its output, raise :class:`VtyError` unless it succeeded."""
        self.sock.sendall(line.encode() + b"\0")
        buf = bytearray()
        while not (len(buf) >= 4 and buf[-4:-1] == b"\0\0\0"):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise VtyError(f"{self.path}: the daemon closed the session during {line!r}")
            buf += chunk
        status, text = buf[-1], buf[:-4].decode(errors="replace")
        if status not in (CMD_SUCCESS, CMD_WARNING):
            raise VtyError(f"{line!r}: {text.strip() or _STATUS.get(status, f'status {status}')}")
        return text

    def run(self, *lines: str) -> str:
        """Run several commands in order; return their joined output."""
        return "".join(self.command(line) for line in lines)

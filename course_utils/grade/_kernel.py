"""Kernel launcher used by the grader: ``python -m course_utils.grade._kernel -f CONNECTION_FILE``.

Introduced in lesson 00 (setup), for the instructor grader. Before any learner
code runs it

* turns off core dumps and, when asked, limits the data segment
  (``RLIMIT_DATA``: an allocation beyond it raises ``MemoryError``);
* tries to move the kernel into its own, empty network namespace (Linux; needs
  root or unprivileged user namespaces) and brings up its loopback device;
* in every case patches Python's ``socket`` module so that connections and
  name look-ups to anything but the local machine fail;

then starts an ordinary ipykernel. None of this is a sandbox by itself: code in
the kernel can undo the Python-level patch. The grader starts this launcher
inside bubblewrap (:mod:`course_utils.grade._sandbox`), which is the isolation;
these measures remain for ``--no-sandbox`` runs (docs/instructors.md).

The settings come as JSON in the ``CU_GRADE_KERNEL`` environment variable; the
launcher removes it and writes what it achieved to the file named there.
"""
from __future__ import annotations

import json
import os
import sys

ENV_VAR = "CU_GRADE_KERNEL"
NETWORK_BLOCKED_MESSAGE = "network access is disabled while grading"


def _limits(memory_mb: int, file_mb: int = 0) -> str:
    try:
        import resource
    except ImportError:  # Windows
        return "no resource limits on this OS"
    notes = []
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    if memory_mb > 0:
        limit = memory_mb * 2**20
        try:
            _, hard = resource.getrlimit(resource.RLIMIT_DATA)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))  # hard too: the learner cannot raise it
            notes.append(f"RLIMIT_DATA={limit // 2**20} MB")
        except (ValueError, OSError, AttributeError) as exc:
            notes.append(f"RLIMIT_DATA not set ({exc})")
    if file_mb > 0:
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * 2**20, file_mb * 2**20))
            notes.append(f"RLIMIT_FSIZE={file_mb} MB")
        except (ValueError, OSError, AttributeError) as exc:
            notes.append(f"RLIMIT_FSIZE not set ({exc})")
    return ", ".join(notes)


def _loopback_up() -> None:
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b"\0" * 14))


def _network_namespace() -> str:
    """Unshare the network namespace (Linux). Returns what happened, in words."""
    if not sys.platform.startswith("linux"):
        return "no network namespace (not Linux)"
    import ctypes

    clone_newuser, clone_newnet = 0x10000000, 0x40000000
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError as exc:
        return f"no network namespace ({exc})"
    uid, gid = os.getuid(), os.getgid()
    attempts = ([clone_newnet] if os.geteuid() == 0 else []) + [clone_newuser | clone_newnet]
    error = 0
    for flags in attempts:
        if libc.unshare(flags) != 0:
            error = ctypes.get_errno()
            continue
        if flags & clone_newuser:  # keep our own uid/gid visible inside the new user namespace
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                try:
                    with open(f"/proc/self/{name}", "w") as fh:
                        fh.write(text)
                except OSError:
                    pass
        try:
            _loopback_up()
        except OSError:
            pass
        return "network namespace (no network devices but loopback)"
    return f"no network namespace ({os.strerror(error) if error else 'unshare failed'})"


def block_sockets() -> None:
    """Make Python-level connections and look-ups to non-local hosts fail (best effort)."""
    import ipaddress
    import socket

    def local(host) -> bool:
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if not isinstance(host, str):
            return False
        host = host.split("%", 1)[0].strip("[]")
        if host in ("localhost", "localhost.localdomain", "ip6-localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def allowed(sock, address) -> bool:
        if getattr(socket, "AF_UNIX", None) is not None and sock.family == socket.AF_UNIX:
            return True
        if isinstance(address, tuple) and address:
            return local(address[0])
        return False

    def refuse(what):
        raise PermissionError(13, f"{NETWORK_BLOCKED_MESSAGE} ({what})")

    orig_connect, orig_connect_ex, orig_sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    orig_getaddrinfo, orig_gethostbyname = socket.getaddrinfo, socket.gethostbyname

    def connect(self, address):
        if not allowed(self, address):
            refuse(f"connect to {address!r}")
        return orig_connect(self, address)

    def connect_ex(self, address):
        if not allowed(self, address):
            refuse(f"connect to {address!r}")
        return orig_connect_ex(self, address)

    def sendto(self, data, *args):
        address = args[-1] if args else None
        if not allowed(self, address):
            refuse(f"send to {address!r}")
        return orig_sendto(self, data, *args)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not local(host):
            raise socket.gaierror(socket.EAI_NONAME, f"{NETWORK_BLOCKED_MESSAGE} (look-up of {host!r})")
        return orig_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host):
        if not local(host):
            raise socket.gaierror(socket.EAI_NONAME, f"{NETWORK_BLOCKED_MESSAGE} (look-up of {host!r})")
        return orig_gethostbyname(host)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname


def main() -> None:
    settings = json.loads(os.environ.pop(ENV_VAR, "{}") or "{}")
    report = {"limits": _limits(int(settings.get("memory_mb", 0)), int(settings.get("file_mb", 0)))}
    if settings.get("network_namespace", True):
        report["network"] = _network_namespace()
    else:
        report["network"] = "no network namespace (disabled)"
    if settings.get("block_sockets", True):
        block_sockets()
        report["sockets"] = "python-level block of non-local connections"
    if settings.get("report"):
        try:
            with open(settings["report"], "w", encoding="utf-8") as fh:
                json.dump(report, fh)
        except OSError:
            pass
    from ipykernel import kernelapp

    sys.argv = ["ipykernel_launcher", *sys.argv[1:]]
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()

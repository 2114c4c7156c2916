"""Start bubblewrap as an unprivileged host user when the grader runs as root (grader, lesson 00; Linux).

Run as a script by the grader (standard library only, ``python -I _drop.py SPEC -- bwrap ...``), never
imported by the kernel. Started by root, bubblewrap would map the sandbox's uid to *host* root; started by
uid 65534 it maps it to host uid 65534. But uid 65534 may not reach the Python environment or the course
(a venv under ``/root``, mode 0700) nor the grader's private scratch parent (mode 0700). So, still as root,
this launcher:

1. enters a private mount namespace of its own (the host's mounts are never changed);
2. opens every path the sandbox needs (``SPEC["paths"]``) while it can still reach them;
3. mounts a small empty tmpfs (mode 0755) over each folder that blocks uid 65534 (``SPEC["hide"]``), and
   binds each needed path back at its own place through the descriptor opened in step 2, so the same paths
   now resolve for uid 65534 (and nothing else of the hidden folders is visible);
4. drops to uid/gid ``SPEC["uid"]`` with no supplementary groups and executes bubblewrap (the grader has
   already given the scratch folder to that uid: it is the only folder the sandbox may write).

Where the mount namespace cannot be made (a container without ``CAP_SYS_ADMIN``), it exits with status
``FAILED`` before running anything; :func:`course_utils.grade._sandbox.root_drop` probes this once and the
grader then falls back to starting bubblewrap as root, with a warning in its log.
"""
from __future__ import annotations

import ctypes
import json
import os
import stat
import sys

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV = 4096, 16384, 1 << 18, 2, 4
#: Exit status when the private mount namespace or a mount cannot be made.
FAILED = 97


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: _drop.py SPEC -- COMMAND...", file=sys.stderr)
        return 2
    spec, command = json.loads(argv[0]), argv[2:]
    exe = command[0]
    if os.sep not in exe:  # resolved now: after the drop the interpreter's own library may be out of reach
        for folder in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
            if folder and os.access(os.path.join(folder, exe), os.X_OK):
                exe = os.path.join(folder, exe)
                break
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        if libc.unshare(CLONE_NEWNS) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the host
        held = [(p, os.open(p, os.O_PATH | os.O_NOFOLLOW)) for p in spec["paths"] if os.path.lexists(p)]
        for folder in spec["hide"]:
            _mount(libc, "tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        for path, fd in held:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.makedirs(path, mode=0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                if not os.path.lexists(path):
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            _mount(libc, f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)
        uid = int(spec["uid"])
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise OSError("could not drop to the sandbox's uid")
    except OSError as exc:
        print(f"course_utils.grade: cannot start the sandbox as an unprivileged user: {exc}", file=sys.stderr)
        return FAILED
    os.execv(exe, command)
    return FAILED  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run a graded kernel inside a bubblewrap sandbox (grader, lesson 00; Linux).

``bwrap`` (Debian/Ubuntu package ``bubblewrap``) gives each submission's kernel, without Docker or
root:

* its own user namespace, as uid/gid 65534 ("nobody") and no capabilities; nested user namespaces
  are refused (``--disable-userns``), so no mount can be made writable again;
* its own PID namespace (it cannot see or signal the grader, the other kernels or anything else),
  network namespace (loopback only), IPC and UTS namespaces; ``--die-with-parent`` and a new session;
* a file system made of read-only binds only: the system's ``/usr`` (and ``/lib*``, a few files of
  ``/etc``), the Python environment (the venv and the interpreter it links to), the ``course_utils``
  package, the course's ``pyproject.toml`` and ``datasets/``; read-write only its own scratch folder
  (kernel connection sockets, its home, the course cache); private, size-capped ``/tmp`` and
  ``/dev/shm``. There is **no** ``solutions/``, no other submission, no grader file, no home directory.

The kernel talks to the grader's worker over ZeroMQ ``ipc`` sockets that live in the scratch folder
(a bind mount: the same inode on both sides), never over TCP. Whatever the kernel writes there is
untrusted data for the worker.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

#: uid and gid of the learner's code inside the sandbox ("nobody").
SANDBOX_UID = 65534
#: Files and folders of /etc bound read-only when they exist (dynamic linker, fonts, time zone, TLS roots).
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "localtime", "ssl",
       "ca-certificates", "mime.types", "nsswitch.conf", "hosts")
#: Top-level system folders: bound read-only (or re-created as the same symlink, e.g. merged /usr).
SYSTEM = ("usr", "lib", "lib64", "lib32", "libx32", "bin", "sbin")
#: Parts of /proc that change the whole machine (sysctls, SysRq, IRQs, buses): bound read-only over the
#: sandbox's own /proc. bwrap covers them only when they look writable to the sandbox's uid; when the grader
#: runs as root, that uid is host uid 0 (without capabilities) and root-owned 0644 files stay writable.
PROC_READ_ONLY = ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus")
#: Printed in the log when the grader runs as root and cannot start the sandbox as an unprivileged user.
ROOT_WARNING = ("WARNING: the grader runs as root and cannot start its sandboxes as an unprivileged user (no private "
                "mount namespace here): the sandbox's user is then host root without capabilities (it owns every "
                "root-owned file it can reach; only read-only binds protect them). Run the grader as an "
                "unprivileged user")
#: Printed in the log when the grader runs as root and drops to SANDBOX_UID for each sandbox.
ROOT_NOTE = (f"the grader runs as root: each sandbox is started as host uid {SANDBOX_UID} (bubblewrap launched from a "
             "private mount namespace, see course_utils/grade/_drop.py)")
#: The fix printed when no sandbox is available.
FIX = ("install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`, i.e. `make system-deps`; "
       "Fedora: `sudo dnf install bubblewrap`) and allow unprivileged user namespaces, or run the grader in "
       "the container recipe of docs/instructors.md; or pass --no-sandbox to grade without a sandbox "
       "(only for submissions you trust)")


def bwrap_path() -> str | None:
    """The ``bwrap`` executable, or None."""
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """None when a sandbox can be built here, else why not (in words). Probed once per process."""
    if not sys.platform.startswith("linux"):
        return f"no sandbox on {sys.platform}: bubblewrap needs Linux"
    exe = bwrap_path()
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        proc = subprocess.run([exe, *namespace_args(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                               "--size", str(2**20), "--tmpfs", "/tmp", "true"],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not be started ({exc})"
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap cannot create a sandbox here ({why[-1] if why else f'exit code {proc.returncode}'})"
    return None


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _reachable(path: str) -> bool:
    """Whether uid/gid SANDBOX_UID (no supplementary groups) may search the folder ``path``."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_uid == SANDBOX_UID:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == SANDBOX_UID:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def blocking_folders(paths: list[str]) -> list[str]:
    """The topmost folders above ``paths`` that uid SANDBOX_UID cannot search (e.g. ``/root`` of mode 0700)."""
    found: list[str] = []
    for path in paths:
        parts = os.path.realpath(path).split(os.sep)[1:-1]
        current = ""
        for part in parts:
            current += os.sep + part
            if not _reachable(current):
                if not any(current == f or current.startswith(f + os.sep) for f in found):
                    found = [f for f in found if not f.startswith(current + os.sep)] + [current]
                break
    return found


def _drop_command(bwrap_args: list[str], paths: list[str]) -> list[str]:
    spec = {"uid": SANDBOX_UID, "paths": list(dict.fromkeys(paths)), "hide": blocking_folders(paths)}
    return [os.path.realpath(sys.executable), "-I", "-S", str(Path(__file__).with_name("_drop.py")),
            json.dumps(spec), "--", *bwrap_args]


@functools.lru_cache(maxsize=1)
def root_drop() -> bool:
    """True when the grader runs as root and can start bubblewrap as uid SANDBOX_UID (probed once): then
    the sandbox's user is host uid 65534, not host root. False when not root, or where no private mount
    namespace can be made (the grader then warns, see ROOT_WARNING)."""
    if not _is_root() or not sys.platform.startswith("linux") or bwrap_path() is None:
        return False
    try:
        probe = [bwrap_path(), *namespace_args(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
        proc = subprocess.run(_drop_command(probe, [os.path.realpath(sys.executable)]), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0  # the launcher verifies its drop to SANDBOX_UID before it runs bwrap


def _give_to_sandbox(scratch: str) -> None:
    """Make the grader-made scratch tree belong to SANDBOX_UID (root only; links are not followed)."""
    os.lchown(scratch, SANDBOX_UID, SANDBOX_UID)
    for folder, dirs, files in os.walk(scratch, followlinks=False):
        for name in dirs + files:
            try:
                os.lchown(os.path.join(folder, name), SANDBOX_UID, SANDBOX_UID)
            except OSError:
                pass


def namespace_args() -> list[str]:
    return ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--disable-userns",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--hostname", "grader",
            "--die-with-parent", "--new-session"]


def python_paths() -> list[str]:
    """Folders of the Python environment the kernel needs: the venv and the interpreter it links to."""
    found = []
    for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
              os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))):
        real = os.path.realpath(p)
        if os.path.isdir(real) and real not in found:
            found.append(real)
    # site-packages outside the prefixes (e.g. a user site): only those on sys.path that hold packages
    for p in sys.path:
        real = os.path.realpath(p) if p else ""
        if (real and os.path.isdir(real) and "site-packages" in real
                and not any(real == f or real.startswith(f + os.sep) for f in found)):
            found.append(real)
    return [p for p in found if p != "/" and not any(p == "/" + s or p.startswith("/" + s + "/") for s in SYSTEM)]


def python_executable() -> str:
    """The interpreter path to run inside: the venv's own ``bin/python`` (resolved), so the venv applies."""
    prefix = os.path.realpath(sys.prefix)
    for name in (os.path.basename(sys.executable), "python3", "python"):
        candidate = os.path.join(prefix, "bin", name)
        if os.path.exists(candidate):
            return candidate
    return os.path.realpath(sys.executable)


def command(argv: list[str], *, scratch: str, package_dir: Path, extra_ro: list[str] = (),
            tmp_mb: int = 512, shm_mb: int = 64) -> list[str]:
    """``bwrap ... argv``: run ``argv`` in the sandbox described in this module, with ``scratch`` (an
    absolute path, the same inside and out) as its only writable folder and working directory."""
    exe = bwrap_path()
    if exe is None:
        raise RuntimeError("bwrap is not installed")
    args = [exe, *namespace_args()]
    for name in SYSTEM:
        path = "/" + name
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC:
        path = "/etc/" + name
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc"]
    for path in PROC_READ_ONLY:  # global sysctls & co.: read-only even when the sandbox's uid is host root
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--dev", "/dev",
             "--size", str(int(tmp_mb) * 2**20), "--tmpfs", "/tmp",
             "--size", str(int(shm_mb) * 2**20), "--tmpfs", "/dev/shm"]
    root = package_dir.parent
    ro = [*python_paths(), str(package_dir)]
    for extra in (root / "pyproject.toml", root / "datasets", *map(Path, extra_ro)):
        if extra.exists():
            ro.append(str(extra))
    for path in dict.fromkeys(ro):
        args += ["--ro-bind", path, path]
    etc = os.path.join(scratch, ".etc")
    os.makedirs(etc, exist_ok=True)
    with open(os.path.join(etc, "passwd"), "w", encoding="utf-8") as fh:
        fh.write(f"nobody:x:{SANDBOX_UID}:{SANDBOX_UID}:nobody:{scratch}/home:/usr/sbin/nologin\n")
    with open(os.path.join(etc, "group"), "w", encoding="utf-8") as fh:
        fh.write(f"nogroup:x:{SANDBOX_UID}:\n")
    args += ["--bind", scratch, scratch,
             "--ro-bind", os.path.join(etc, "passwd"), "/etc/passwd",
             "--ro-bind", os.path.join(etc, "group"), "/etc/group",
             "--chdir", scratch, "--"]
    args += list(argv)
    if root_drop():  # as root: start bwrap as uid 65534, so the sandbox's user is not host root
        _give_to_sandbox(scratch)
        return _drop_command(args, [*dict.fromkeys(ro), scratch])
    return args


#: Environment variables passed into the sandbox (names, or prefixes ending in ``_``); nothing else of the
#: instructor's environment (tokens, keys, paths) gets in.
ALLOWED_ENV = ("LANG", "LANGUAGE", "TZ", "LC_", "PYTHONPATH", "PYTHONWARNINGS", "PYTHONHASHSEED",
               "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "MPLBACKEND", "COURSE_",
               "CU_GRADE_", "IPYTHONDIR", "JUPYTER_PLATFORM_DIRS", "PYDEVD_DISABLE_FILE_VALIDATION", "KERAS_BACKEND",
               "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "GRPC_VERBOSITY", "OMP_NUM_THREADS",
               "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "TOKENIZERS_PARALLELISM",
               "CUDA_VISIBLE_DEVICES", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "KEY", "PRIVATE", "AUTH", "COOKIE")


def _allowed(name: str) -> bool:
    if any(w in name.upper() for w in SECRET_WORDS):
        return False
    return any(name == a or (a.endswith("_") and name.startswith(a)) for a in ALLOWED_ENV)


def sandbox_env(env: dict, scratch: str) -> dict:
    """The kernel's environment inside the sandbox: an allow-list of the grader's variables (no secrets),
    and a home, cache and temporary folder of its own."""
    out = {k: v for k, v in env.items() if _allowed(k)}
    home = os.path.join(scratch, "home")
    os.makedirs(home, exist_ok=True)
    out.update({"HOME": home, "USER": "nobody", "LOGNAME": "nobody", "TMPDIR": "/tmp",
                "XDG_CACHE_HOME": os.path.join(home, ".cache"), "XDG_CONFIG_HOME": os.path.join(home, ".config"),
                "COURSE_CACHE": os.path.join(scratch, "cache"), "MPLCONFIGDIR": os.path.join(home, ".mpl"),
                "PATH": os.pathsep.join([os.path.dirname(python_executable()), "/usr/local/bin", "/usr/bin", "/bin"])})
    return out


def pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def sweep(namespace: str | None) -> int:
    """SIGKILL every process still in PID namespace ``namespace``; return how many there were."""
    if not namespace or namespace == pid_namespace(os.getpid()):
        return 0  # never the grader's own namespace
    found = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        if pid_namespace(int(entry)) == namespace:
            found += 1
            try:
                os.kill(int(entry), 9)
            except OSError:
                pass
    return found

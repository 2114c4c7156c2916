"""Run a list of code cells in a fresh, limited kernel and report what each did (grader, lesson 00).

One :func:`run_cells` call = one kernel process (started through
:mod:`course_utils.grade._kernel`) in a scratch folder, talking to this process
over ``ipc`` sockets (``tcp`` on Windows). For every cell it records an
:class:`Outcome`: ``ok``, ``error`` (with the exception's name and value),
``timeout`` (interrupted after the per-cell limit), ``output_limit``,
``memory_limit``, ``kernel_died``, ``total_timeout`` or ``not_run``.

Time limits count **CPU seconds** of the kernel's whole process tree (the
kernel, its children, and the children they have already reaped), sampled by a
watchdog about four times a second, so that a machine busy with other work
does not make a correct submission time out. Each limit has a wall-clock
backstop, ``max(wall_factor * limit, min_wall)`` seconds, so that a kernel that
sleeps or blocks still ends. Official cells (the set-up cell and every other
non-exercise cell of the lesson) run under their own, generous
``official_timeout`` and do not count against the learner's limits. Whatever
happens, every cell gets an outcome and the kernel and its children are killed
at the end.
"""
from __future__ import annotations

import json
import os
import queue
import re
import secrets
import signal
import stat
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MARKER_RE = re.compile(r"\[grader [0-9a-f]{16}\] passed \d\d\.[A-Za-z_]\w*")

#: Cell outcomes that stop the kernel: the cells after it are ``not_run``.
FATAL = ("kernel_died", "memory_limit", "total_timeout", "timeout_killed")


@dataclass
class Limits:
    """Resource limits of one graded kernel (lesson 00).

    Times are CPU seconds of the kernel's process tree, each with a wall-clock
    backstop of ``max(wall_factor * limit, min_wall)`` seconds (see :meth:`wall`).
    ``cell_timeout`` applies to each learner cell (exercise cells, cells the
    learner added, check cells: they run the learner's code); ``total_timeout``
    to all learner cells together; ``official_timeout`` to each official cell
    (the set-up cell and the lesson's other non-exercise cells), which do not
    count against the learner's limits. ``startup_timeout`` and
    ``interrupt_grace`` are wall-clock seconds.
    """

    cell_timeout: float = 180.0
    total_timeout: float = 900.0
    official_timeout: float = 600.0
    wall_factor: float = 4.0
    min_wall: float = 120.0
    memory_mb: int = 4096
    max_output_mb: float = 20.0
    startup_timeout: float = 120.0
    interrupt_grace: float = 5.0
    network_namespace: bool = True
    keep_output_chars: int = 4000
    sandbox: bool = False  # run the kernel under bubblewrap (see course_utils.grade._sandbox)
    tmp_mb: int = 512  # size of the sandbox's private /tmp (MB)
    shm_mb: int = 64  # size of the sandbox's private /dev/shm (MB)
    file_mb: int = 1024  # largest file the kernel may write (RLIMIT_FSIZE, MB; 0 = no limit)
    scratch_mb: int = 2048  # most the kernel may keep in its scratch folder, all files (MB; 0 = no limit)
    max_processes: int = 1024  # processes and threads of the kernel's tree (cgroup pids.max where one can be made)

    def wall(self, cpu_seconds: float) -> float:
        """The wall-clock backstop of a CPU-time limit: ``max(wall_factor * cpu_seconds, min_wall)``."""
        return max(self.wall_factor * cpu_seconds, self.min_wall)

    def run_wall(self) -> float:
        """Wall-clock backstop of one whole run (all cells): that of ``total_timeout + official_timeout``."""
        return self.wall(self.total_timeout + self.official_timeout) + self.startup_timeout


@dataclass
class Outcome:
    """What one cell did."""

    status: str = "not_run"
    ename: str = ""
    evalue: str = ""
    stdout: str = ""
    seconds: float = 0.0
    output_bytes: int = 0
    detail: str = ""  # e.g. why the kernel stopped, or which earlier cell stopped it
    cpu_seconds: float = 0.0  # CPU time of the kernel's process tree during the cell
    official: bool = False  # an official cell (set-up, text code): the learner's limits did not apply
    markers: list[str] = field(default_factory=list)  # "[grader NONCE] passed NN.x" lines seen in the output

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunReport:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    startup_seconds: float = 0.0
    kernel: dict = field(default_factory=dict)  # what the launcher achieved (limits, network)
    log_tail: str = ""

    def to_dict(self) -> dict:
        return {"outcomes": [o.to_dict() for o in self.outcomes], "seconds": self.seconds,
                "startup_seconds": self.startup_seconds, "kernel": self.kernel, "log_tail": self.log_tail}


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except (ValueError, AttributeError):
        return str(-code)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the kernel stopped"
    if code < 0:
        return f"the kernel process was killed by signal {_signal_name(code)}"
    return f"the kernel process exited with code {code}"


def tree_bytes(path: str, max_entries: int = 200_000) -> int:
    """Disk space used under ``path`` (allocated blocks, links not followed); past ``max_entries`` entries
    the answer is "too much" (a very large number)."""
    total, stack, left = 0, [path], max_entries
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    left -= 1
                    if left < 0:
                        return 2**62
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
        except OSError:
            continue
    return total


#: Where a pids cgroup for one kernel can be made (cgroup v2 unified, or the v1 pids hierarchy).
PIDS_CGROUP_ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")


def make_pids_cgroup(limit: int) -> str | None:
    """A fresh cgroup whose ``pids.max`` is ``limit``, or None where none can be made (not root, no pids
    controller, read-only cgroup file system): best effort, the other limits still apply."""
    if limit <= 0 or not sys.platform.startswith("linux"):
        return None
    for base in PIDS_CGROUP_ROOTS:
        if not os.path.isfile(os.path.join(base, "cgroup.procs")):
            continue
        path = os.path.join(base, f"course-grade-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            os.mkdir(path, 0o700)
        except OSError:
            continue
        try:
            with open(os.path.join(path, "pids.max"), "w") as fh:
                fh.write(str(int(limit)))
            return path
        except OSError:
            remove_cgroup(path)
    return None


def remove_cgroup(path: str | None) -> None:
    if not path:
        return
    for _ in range(20):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def memfd_bytes(pids: list[int], max_fds: int = 4096) -> int:
    """Bytes held in memory-only files (``memfd_create``, deleted files on a tmpfs) open in ``pids``: they are in
    no process's resident memory and under no rlimit, so the watchdog adds them (each file counted once)."""
    seen: dict[tuple[int, int], int] = {}
    budget = max_fds
    for pid in pids:
        folder = f"/proc/{pid}/fd"
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    budget -= 1
                    if budget < 0:
                        break
                    try:
                        target = os.readlink(entry.path)
                        if not target.startswith("/memfd:"):
                            continue
                        st = os.stat(entry.path)  # the open file itself, through the descriptor
                    except OSError:
                        continue
                    if stat.S_ISREG(st.st_mode):
                        seen[(st.st_dev, st.st_ino)] = st.st_blocks * 512
        except OSError:
            continue
    return sum(seen.values())


class _Kernel:
    """A kernel process started through the grader's launcher, plus a blocking client."""

    def __init__(self, scratch: str, env: dict, limits: Limits):
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        self.scratch = scratch
        self.limits = limits
        posix = os.name == "posix"
        conn = os.path.join(scratch, "kernel-connection.json")
        # ipc sockets live in the scratch folder, so they work inside a network namespace too.
        ip = os.path.join(scratch, "k") if posix else "127.0.0.1"
        write_connection_file(conn, ip=ip, transport="ipc" if posix else "tcp",
                              key=secrets.token_hex(16).encode())
        self.report_path = os.path.join(scratch, "kernel-report.json")
        self.log_path = os.path.join(scratch, "kernel.log")
        env = dict(env)
        env["CU_GRADE_KERNEL"] = json.dumps({
            "memory_mb": limits.memory_mb, "file_mb": limits.file_mb,
            "network_namespace": limits.network_namespace and posix and not limits.sandbox,
            "block_sockets": True, "report": self.report_path})
        # kept open from the start and read back through the same descriptor: the kernel may rename the
        # file or put a link or a FIFO in its place, the grader never opens that path again
        fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0), 0o600)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(f"{self.log_path} is not a regular file")
        self._log = os.fdopen(fd, "r+b", buffering=0)
        self.sandboxed = bool(limits.sandbox)
        self.kernel_pid: int | None = None  # host pid of the ipykernel process (inside the sandbox)
        self.namespace: str | None = None  # its PID namespace, swept at the end
        self.leftover = 0  # processes still in that namespace after the kernel was killed
        if self.sandboxed:
            from pathlib import Path

            from . import _sandbox

            env = _sandbox.sandbox_env(env, scratch)
            cmd = _sandbox.command(
                [_sandbox.python_executable(), "-m", "course_utils.grade._kernel", "-f", conn,
                 "--HistoryManager.enabled=False"],
                scratch=scratch, package_dir=Path(__file__).resolve().parents[1],
                extra_ro=[env[k] for k in ("COURSE_DATA",) if env.get(k)],
                tmp_mb=limits.tmp_mb, shm_mb=limits.shm_mb)
        else:
            cmd = [sys.executable, "-m", "course_utils.grade._kernel", "-f", conn,
                   "--HistoryManager.enabled=False"]
        kwargs = {"start_new_session": True} if posix else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        self.cgroup = make_pids_cgroup(limits.max_processes) if posix else None
        if self.cgroup:  # the child joins it before it runs anything: all it starts is counted
            procs = os.open(os.path.join(self.cgroup, "cgroup.procs"), os.O_WRONLY)

            def join() -> None:  # pragma: no cover - runs in the child
                os.write(procs, str(os.getpid()).encode())

            kwargs["preexec_fn"] = join
        try:
            self.proc = subprocess.Popen(cmd, cwd=scratch, env=env, stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT, **kwargs)
        finally:
            if self.cgroup:
                os.close(procs)
        import zmq

        context = zmq.Context()
        try:  # one message from an untrusted kernel may not be larger than this (it is dropped): bounded memory
            context.setsockopt(zmq.MAXMSGSIZE, max(64, int(2 * limits.max_output_mb)) * 2**20)
        except Exception:  # noqa: BLE001 - an older pyzmq: the output limit still applies
            pass
        self._context = context
        self.client = BlockingKernelClient(context=context)
        self.client.load_connection_file(conn)
        self.client.start_channels(hb=False)  # liveness comes from the process itself, not heartbeats
        self._psutil_proc = None
        self._cpu = 0.0

    # -- process state -------------------------------------------------------------------------
    def alive(self) -> bool:
        return self.proc.poll() is None

    def tree(self) -> list:
        try:
            import psutil
        except ImportError:
            return []
        try:
            if self._psutil_proc is None:
                self._psutil_proc = psutil.Process(self.proc.pid)
            return [self._psutil_proc, *self._psutil_proc.children(recursive=True)]
        except psutil.Error:
            return []

    def sample(self) -> tuple[float, float | None]:
        """(resident MB, CPU seconds) of the kernel's process tree; CPU is None without psutil.

        CPU counts user + system time of every live process in the tree plus the
        time of children they have already reaped; it never goes down (a child
        that leaves the tree keeps what it used).
        """
        tree = self.tree()
        if not tree:
            return 0.0, None
        rss, cpu = memfd_bytes([p.pid for p in tree]), 0.0
        for p in tree:
            try:
                with p.oneshot():
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    cpu += t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
            except Exception:  # the process ended meanwhile
                pass
        self._cpu = max(self._cpu, cpu)
        return rss / 2**20, self._cpu

    def over_quota(self) -> bool:
        """The scratch folder holds more than ``limits.scratch_mb``: the kernel is killed (and True)."""
        if tree_bytes(self.scratch) <= self.limits.scratch_mb * 2**20:
            return False
        self.kill()
        return True

    def quota_detail(self) -> str:
        return (f"the kernel wrote more than {self.limits.scratch_mb} MB to its folder and was stopped "
                "(the limit of all its files together)")

    def cpu_now(self) -> float | None:
        return self.sample()[1]

    def interrupt(self) -> None:
        if self.alive():
            try:
                if os.name == "posix":
                    os.kill(self.kernel_pid or self.proc.pid, signal.SIGINT)
                else:
                    self.proc.send_signal(signal.CTRL_C_EVENT)
            except OSError:
                pass

    def kill(self) -> None:
        """Kill the kernel and everything it started (its process group and descendants)."""
        children = self.tree()[1:]
        if os.name == "posix":
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        for p in children:
            try:
                p.kill()
            except Exception:
                pass
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.sandboxed:  # nothing started in the sandbox survives it (double forks, new sessions)
            from . import _sandbox

            for _ in range(20):
                left = _sandbox.sweep(self.namespace)
                self.leftover = max(self.leftover, left)
                if not left:
                    break
                time.sleep(0.05)

    def find_kernel(self) -> None:
        """Remember the kernel's host pid and PID namespace (before any learner code runs)."""
        if not self.sandboxed:
            self.kernel_pid = self.proc.pid
            return
        for p in self.tree()[1:]:
            try:
                if p.cmdline()[1:3] == ["-m", "course_utils.grade._kernel"]:  # not bwrap (same argv + more)
                    self.kernel_pid = p.pid
                    break
            except Exception:
                continue
        if self.kernel_pid:
            from . import _sandbox

            self.namespace = _sandbox.pid_namespace(self.kernel_pid)

    def close(self) -> str:
        """Stop the kernel (politely, then by force) and return the tail of its log."""
        try:
            self.client.stop_channels()
        except Exception:
            pass
        try:
            self._context.destroy(linger=0)
        except Exception:  # noqa: BLE001
            pass
        self.kill()
        remove_cgroup(getattr(self, "cgroup", None))
        try:
            fd = self._log.fileno()
            size = os.fstat(fd).st_size
            return os.pread(fd, 3000, max(0, size - 3000)).decode(errors="replace")
        except (OSError, ValueError):
            return ""
        finally:
            try:
                self._log.close()
            except OSError:
                pass

    def launcher_report(self) -> dict:
        """What the launcher says it achieved (written inside the kernel: untrusted, size-capped, no links)."""
        try:
            fd = os.open(self.report_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return {}
                data = json.loads(os.read(fd, 20000).decode("utf-8", errors="replace"))
            finally:
                os.close(fd)
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        report = {str(k)[:40]: str(v)[:300] for k, v in list(data.items())[:10]}
        if self.sandboxed:
            report["network"] = "bubblewrap sandbox: own network namespace (loopback only)"
            report["sandbox"] = "bubblewrap (uid 65534; own user, PID, network, IPC namespaces; read-only system)"
        return report

    # -- start-up and execution ----------------------------------------------------------------
    def wait_ready(self, deadline: float) -> str | None:
        """None when the kernel answers, else why not."""
        msg_id = self.client.kernel_info()
        while True:
            if not self.alive():
                return _describe_exit(self.proc.returncode) + " while starting"
            if time.monotonic() > deadline:
                return "the kernel did not start in time"
            try:
                msg = self.client.get_shell_msg(timeout=0.2)
            except queue.Empty:
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                self.find_kernel()
                # drain the start-up status messages
                try:
                    while True:
                        self.client.get_iopub_msg(timeout=0.2)
                except queue.Empty:
                    pass
                return None

    def execute(self, code: str, cpu_limit: float, wall_deadline: float, run_deadline: float, *,
                total_cpu_left: float | None = None, official: bool = False) -> Outcome:
        """Run one cell; interrupt it past ``cpu_limit`` CPU seconds or at ``wall_deadline`` (backstop).

        ``total_cpu_left``: CPU seconds left of the learner's notebook budget (the kernel is stopped past
        it, ``total_timeout``); ``run_deadline``: wall-clock end of the whole run (kernel stopped).
        """
        lim = self.limits
        out = Outcome(status="ok", official=official)
        start = time.monotonic()
        cpu_start = self.cpu_now()
        msg_id = self.client.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        max_bytes = int(lim.max_output_mb * 2**20)
        pieces: list[str] = []
        kept = 0
        carry = ""  # end of the previous chunk, so that a marker split across messages is still found
        interrupted_for = ""  # "timeout" or "output_limit" once we sent SIGINT
        timeout_detail = ""
        interrupt_deadline = 0.0
        idle = False
        error_seen = False
        next_sample = 0.0
        next_disk = 0.0
        whose = "official cell" if official else "cell"

        def used() -> float:
            if cpu_start is None:  # no psutil: fall back to wall-clock time
                return time.monotonic() - start
            return max(0.0, self._cpu - cpu_start)

        def finish(status: str, detail: str = "") -> Outcome:
            out.status, out.detail = status, detail or out.detail
            out.seconds = time.monotonic() - start
            out.cpu_seconds = used()
            out.stdout = "".join(pieces)
            return out

        while not idle:
            now = time.monotonic()
            if not self.alive():
                return finish("kernel_died", _describe_exit(self.proc.returncode))
            if lim.scratch_mb > 0 and now >= next_disk:  # the scratch folder's total, about once a second
                next_disk = now + 1.0
                if self.over_quota():
                    return finish("output_limit_killed", self.quota_detail())
            if now >= next_sample:  # the watchdog: memory and CPU of the process tree, ~4 times a second
                next_sample = now + 0.25
                rss, _ = self.sample()
                if lim.memory_mb > 0 and rss > lim.memory_mb:
                    self.kill()
                    return finish("memory_limit", f"the kernel used {rss:.0f} MB (limit {lim.memory_mb} MB) "
                                                  "and was stopped")
                cpu = used()
                if total_cpu_left is not None and cpu > total_cpu_left:
                    self.kill()
                    return finish("total_timeout", f"your cells used more than the {lim.total_timeout:g} CPU "
                                                   "seconds allowed for the whole notebook; the kernel was stopped")
                if not interrupted_for and cpu > cpu_limit:
                    interrupted_for, interrupt_deadline = "timeout", now + lim.interrupt_grace
                    timeout_detail = f"the {whose} used more than {cpu_limit:g} CPU seconds"
                    self.interrupt()
            if now > run_deadline:
                self.kill()
                return finish("total_timeout", f"the whole run passed its wall-clock backstop of "
                                               f"{lim.run_wall():g} s; the kernel was stopped")
            if interrupted_for and now > interrupt_deadline:
                self.kill()
                status = "timeout_killed" if interrupted_for == "timeout" else "output_limit_killed"
                return finish(status, f"{timeout_detail or 'the cell'} and ignored the interrupt; "
                                      "the kernel was stopped")
            if not interrupted_for and now > wall_deadline:
                interrupted_for, interrupt_deadline = "timeout", now + lim.interrupt_grace
                timeout_detail = (f"the {whose} ran {wall_deadline - start:.0f} s of wall-clock time (the "
                                  f"backstop of its {cpu_limit:g} CPU-second limit; was it sleeping or waiting?)")
                self.interrupt()
            try:
                msg = self.client.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg.get("msg_type"), msg.get("content", {})
            if kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "stream":
                text = content.get("text", "")
                out.output_bytes += len(text)
                chunk = carry + text
                if "[grader " in chunk:
                    out.markers += [m for m in MARKER_RE.findall(chunk) if m not in out.markers]
                carry = text[-80:]
                if content.get("name") == "stdout" and kept < lim.keep_output_chars:
                    pieces.append(text[: lim.keep_output_chars - kept])
                    kept += len(pieces[-1])
            elif kind in ("display_data", "execute_result", "update_display_data"):
                data = content.get("data", {})
                out.output_bytes += sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values())
            elif kind == "error":
                error_seen = True
                out.ename = str(content.get("ename", ""))[:200]
                out.evalue = ANSI_RE.sub("", str(content.get("evalue", "")))[:3000]
            if out.output_bytes > max_bytes and not interrupted_for:
                interrupted_for, interrupt_deadline = "output_limit", time.monotonic() + lim.interrupt_grace
                self.interrupt()
        self.sample()
        # the execute_reply tells ok / error even when no 'error' message was published
        reply_status = None
        reply_deadline = time.monotonic() + 5
        while time.monotonic() < reply_deadline and self.alive():
            try:
                reply = self.client.get_shell_msg(timeout=0.2)
            except queue.Empty:
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                content = reply.get("content", {})
                reply_status = content.get("status")
                if reply_status == "error" and not error_seen:
                    out.ename = str(content.get("ename", ""))[:200]
                    out.evalue = ANSI_RE.sub("", str(content.get("evalue", "")))[:3000]
                break
        if lim.scratch_mb > 0 and self.over_quota():
            return finish("output_limit_killed", self.quota_detail())
        if interrupted_for == "timeout":
            return finish("timeout", f"{timeout_detail} and was interrupted")
        if interrupted_for == "output_limit":
            return finish("output_limit", f"the cell printed more than {lim.max_output_mb:g} MB and was "
                                          "interrupted")
        if error_seen or reply_status == "error":
            return finish("error")
        return finish("ok")


def run_cells(cells: list[str], scratch: str, env: dict, limits: Limits,
              official: list[bool] | None = None) -> RunReport:
    """Run ``cells`` (code sources) in order in one fresh kernel; one :class:`Outcome` per cell.

    ``official[i]`` marks an official cell (set-up, the lesson's own code): it runs under
    ``limits.official_timeout`` and its CPU time does not count against the learner's limits.
    """
    official = list(official) if official is not None else [False] * len(cells)
    report = RunReport(outcomes=[Outcome(official=o) for o in official])
    t0 = time.monotonic()
    run_deadline = t0 + limits.run_wall()
    kernel = None
    learner_cpu = 0.0  # CPU seconds used so far by the learner's cells
    try:
        kernel = _Kernel(scratch, env, limits)
        problem = kernel.wait_ready(t0 + limits.startup_timeout)
        report.startup_seconds = time.monotonic() - t0
        report.kernel = kernel.launcher_report()
        if problem:
            for o in report.outcomes:
                o.status, o.detail = "kernel_died", problem
            return report
        stopped: tuple[str, str] | None = None  # (status, detail) once the kernel is gone
        for i, code in enumerate(cells):
            o = report.outcomes[i]
            if stopped:
                o.status, o.detail = stopped
                continue
            if not code.strip():
                o.status = "ok"
                continue
            mine = not official[i]
            cpu_limit = limits.cell_timeout if mine else limits.official_timeout
            now = time.monotonic()
            result = kernel.execute(code, cpu_limit, now + limits.wall(cpu_limit), run_deadline,
                                    total_cpu_left=limits.total_timeout - learner_cpu if mine else None,
                                    official=not mine)
            if mine:
                learner_cpu += result.cpu_seconds
            report.outcomes[i] = result
            if result.status in FATAL or result.status == "output_limit_killed":
                cause = {"timeout_killed": "timeout", "output_limit_killed": "output_limit"}.get(
                    result.status, result.status)
                result.status = cause
                stopped = (cause, f"not run: {result.detail} (cell {i + 1} of the graded run)")
    except Exception as exc:  # the grader's own machinery failed: say so in every cell not yet run
        for o in report.outcomes:
            if o.status == "not_run":
                o.status, o.detail = "grader_error", f"{type(exc).__name__}: {exc}"
    finally:
        if kernel is not None:
            report.log_tail = kernel.close()
            if kernel.sandboxed:
                report.kernel["leftover_processes"] = str(kernel.leftover)
        report.seconds = time.monotonic() - t0
    return report

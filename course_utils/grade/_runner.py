"""Run a list of code cells in a fresh, limited kernel and report what each did (grader, lesson 00).

One :func:`run_cells` call = one kernel process (started through
:mod:`course_utils.grade._kernel`) in a scratch folder, talking to this process
over ``ipc`` sockets (``tcp`` on Windows). For every cell it records an
:class:`Outcome`: ``ok``, ``error`` (with the exception's name and value),
``timeout`` (interrupted after the per-cell limit), ``output_limit``,
``memory_limit``, ``kernel_died``, ``total_timeout`` or ``not_run``. A watchdog
polls the kernel's process tree for its resident memory, the deadlines and
whether the kernel is still alive; whatever happens, every cell gets an
outcome and the kernel and its children are killed at the end.
"""
from __future__ import annotations

import json
import os
import queue
import re
import secrets
import signal
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
    """Resource limits of one graded kernel (lesson 00)."""

    cell_timeout: float = 300.0
    total_timeout: float = 1800.0
    memory_mb: int = 4096
    max_output_mb: float = 20.0
    startup_timeout: float = 60.0
    interrupt_grace: float = 5.0
    network_namespace: bool = True
    keep_output_chars: int = 4000


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
            "memory_mb": limits.memory_mb, "network_namespace": limits.network_namespace and posix,
            "block_sockets": True, "report": self.report_path})
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "course_utils.grade._kernel", "-f", conn,
               "--HistoryManager.enabled=False"]
        kwargs = {"start_new_session": True} if posix else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        self.proc = subprocess.Popen(cmd, cwd=scratch, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, **kwargs)
        self.client = BlockingKernelClient()
        self.client.load_connection_file(conn)
        self.client.start_channels()
        self._psutil_proc = None
        self._last_mem_check = 0.0

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

    def rss_mb(self) -> float:
        total = 0
        for p in self.tree():
            try:
                total += p.memory_info().rss
            except Exception:  # the process ended meanwhile
                pass
        return total / 2**20

    def over_memory(self) -> float | None:
        """Resident memory of the kernel's process tree when over the limit (checked ~4 times/s)."""
        if self.limits.memory_mb <= 0:
            return None
        now = time.monotonic()
        if now - self._last_mem_check < 0.25:
            return None
        self._last_mem_check = now
        rss = self.rss_mb()
        return rss if rss > self.limits.memory_mb else None

    def interrupt(self) -> None:
        if self.alive():
            try:
                if os.name == "posix":
                    os.kill(self.proc.pid, signal.SIGINT)
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

    def close(self) -> str:
        """Stop the kernel (politely, then by force) and return the tail of its log."""
        try:
            self.client.stop_channels()
        except Exception:
            pass
        self.kill()
        try:
            self._log.close()
            with open(self.log_path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.log_path) - 3000))
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def launcher_report(self) -> dict:
        try:
            with open(self.report_path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

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
                # drain the start-up status messages
                try:
                    while True:
                        self.client.get_iopub_msg(timeout=0.2)
                except queue.Empty:
                    pass
                return None

    def execute(self, code: str, cell_deadline: float, total_deadline: float) -> Outcome:
        lim = self.limits
        out = Outcome(status="ok")
        start = time.monotonic()
        msg_id = self.client.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        max_bytes = int(lim.max_output_mb * 2**20)
        pieces: list[str] = []
        kept = 0
        carry = ""  # end of the previous chunk, so that a marker split across messages is still found
        interrupted_for = ""  # "timeout" or "output_limit" once we sent SIGINT
        interrupt_deadline = 0.0
        idle = False
        error_seen = False

        def finish(status: str, detail: str = "") -> Outcome:
            out.status, out.detail = status, detail or out.detail
            out.seconds = time.monotonic() - start
            out.stdout = "".join(pieces)
            return out

        while not idle:
            now = time.monotonic()
            if not self.alive():
                return finish("kernel_died", _describe_exit(self.proc.returncode))
            rss = self.over_memory()
            if rss is not None:
                self.kill()
                return finish("memory_limit", f"the kernel used {rss:.0f} MB (limit {lim.memory_mb} MB) "
                                              "and was stopped")
            if now > total_deadline:
                self.kill()
                return finish("total_timeout", f"the whole notebook ran past the {lim.total_timeout:g} s "
                                               "limit; the kernel was stopped")
            if interrupted_for and now > interrupt_deadline:
                self.kill()
                status = "timeout_killed" if interrupted_for == "timeout" else "output_limit_killed"
                return finish(status, "the cell ignored the interrupt; the kernel was stopped")
            if not interrupted_for and now > cell_deadline:
                interrupted_for, interrupt_deadline = "timeout", now + lim.interrupt_grace
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
        if interrupted_for == "timeout":
            return finish("timeout", f"the cell ran longer than {lim.cell_timeout:g} s and was interrupted")
        if interrupted_for == "output_limit":
            return finish("output_limit", f"the cell printed more than {lim.max_output_mb:g} MB and was "
                                          "interrupted")
        if error_seen or reply_status == "error":
            return finish("error")
        return finish("ok")


def run_cells(cells: list[str], scratch: str, env: dict, limits: Limits) -> RunReport:
    """Run ``cells`` (code sources) in order in one fresh kernel; one :class:`Outcome` per cell."""
    report = RunReport(outcomes=[Outcome() for _ in cells])
    t0 = time.monotonic()
    total_deadline = t0 + limits.total_timeout
    kernel = None
    try:
        kernel = _Kernel(scratch, env, limits)
        problem = kernel.wait_ready(min(total_deadline, t0 + limits.startup_timeout))
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
            now = time.monotonic()
            result = kernel.execute(code, min(now + limits.cell_timeout, total_deadline), total_deadline)
            report.outcomes[i] = result
            if result.status in FATAL or result.status == "output_limit_killed":
                cause = {"timeout_killed": "timeout", "output_limit_killed": "output_limit"}.get(
                    result.status, result.status)
                result.status = cause
                if cause == "timeout":
                    result.detail = (f"the cell ran longer than {limits.cell_timeout:g} s, ignored the "
                                     "interrupt, and the kernel was stopped")
                stopped = (cause, f"not run: {result.detail} (cell {i + 1} of the graded run)")
    except Exception as exc:  # the grader's own machinery failed: say so in every cell not yet run
        for o in report.outcomes:
            if o.status == "not_run":
                o.status, o.detail = "grader_error", f"{type(exc).__name__}: {exc}"
    finally:
        if kernel is not None:
            report.log_tail = kernel.close()
        report.seconds = time.monotonic() - t0
    return report

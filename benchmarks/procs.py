"""Processes for the benchmarks: the bench lock, pinning, servers to start and stop, CPU accounting, the machine."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import hashlib
import http.client
import importlib.metadata
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

LOCK_PATH = "/tmp/blacksoil-bench.lock"
ROOT = Path(__file__).resolve().parent.parent
_TICK = os.sysconf("SC_CLK_TCK")
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@contextlib.contextmanager
def bench_lock(path: str = LOCK_PATH) -> Iterator[None]:
    """Hold an exclusive flock so two benchmarks on this machine never overlap."""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {path} (another benchmark is running)…", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log(message: str) -> None:
    """Progress and summaries go to stderr; stdout carries only the JSON result."""
    print(message, file=sys.stderr, flush=True)


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: no proxies, so every request stays on 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


class Server:
    """A child process pinned to one core, its output in a log file. Stopped at exit at the latest."""

    live: ClassVar[set[Server]] = set()

    def __init__(self, name: str, argv: Sequence[str], core: int | None, log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        pin = ["taskset", "-c", str(core)] if core is not None else []
        self._log_handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*pin, *argv], stdout=self._log_handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
        self.pid = self.proc.pid  # taskset execs the command: same pid
        Server.live.add(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        Server.live.discard(self)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log_handle.close()


def cancel_on_sigterm() -> None:
    """Inside the event loop: SIGTERM cancels the current task, so its ``finally`` blocks stop the servers."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


@atexit.register
def _stop_all() -> None:
    for server in list(Server.live):
        server.stop()


def http_get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(server: Server, port: int, path: str, timeout_s: float, headers: dict[str, str] | None = None) -> None:
    """Poll ``GET path`` until it answers 200; raise with the server's log if it dies or times out."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            status, _ = http_get(port, path, headers)
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready on GET {path} after {timeout_s:g}s ({last}):\n{server.log_tail()}")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def cpu_seconds(pids: Sequence[int], descendants: bool = True) -> float:
    """utime+stime from /proc/<pid>/stat of these processes (and, by default, all their descendants)."""
    tree = _children() if descendants else {}
    todo, seen, total = list(pids), set(), 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(tree.get(pid, []))
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICK


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _versions(names: Sequence[str]) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def venv_versions(python: Path, names: Sequence[str]) -> dict[str, str]:
    """Package versions as another interpreter (another venv) sees them."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except m.PackageNotFoundError: return 'not installed'\n"
        "print(json.dumps({'python': sys.version.split()[0], **{n: v(n) for n in sys.argv[1:]}}))\n"
    )
    try:
        done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, timeout=60)
        return dict(json.loads(done.stdout))
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def machine(usable: int | None = None) -> dict[str, object]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError, ValueError):
        mem_kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem_gb = round(mem_kb / 1024 / 1024, 1)
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "cores_usable": usable or len(cores()),
        "memory_gb": mem_gb,
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "packages": _versions(
            ["blacksoil", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "aiohttp", "orjson", "pydantic"]
        ),
    }


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except OSError:
        return platform.system()


def _git(*argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def source_state() -> dict[str, object]:
    """The working tree's blacksoil: its commit and what in src/ differs from it (with a hash of the diff)."""
    try:
        state: dict[str, object] = {"from": "working tree", "commit": _git("rev-parse", "--short", "HEAD")}
        changed = _git("status", "--porcelain", "--", "src").splitlines()
        if changed:
            diff = _git("diff", "HEAD", "--", "src") + "".join(changed)
            state["src_changes"] = [line.split(maxsplit=1)[-1] for line in changed]
            state["src_diff_sha1"] = hashlib.sha1(diff.encode()).hexdigest()[:12]
        return state
    except (OSError, subprocess.CalledProcessError) as exc:
        return {"error": str(exc)}


def export_source(ref: str, into: Path) -> dict[str, object]:
    """Write src/ as committed at ``ref`` into ``into``; return the state to record."""
    commit = _git("rev-parse", "--short", f"{ref}^{{commit}}")
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return {"from": f"git archive {ref}", "commit": commit, "src_changes": []}


def pin(core: int | None) -> None:
    """Run this process (the load generator) on one core; None: anywhere."""
    os.sched_setaffinity(0, {core} if core is not None else set(range(os.cpu_count() or 1)))


def system_busy_s() -> float:
    """CPU seconds the whole machine spent busy (user, nice, system, irq, softirq; not idle, iowait, steal)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (f[0] + f[1] + f[2] + f[5] + f[6]) / _TICK


def steal_s() -> float:
    """CPU seconds the hypervisor gave to others while this guest wanted to run."""
    return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8]) / _TICK


async def wait_quiet(limit_s: float, mine: list[int], threshold: float = 0.15) -> float:
    """Wait until processes other than ``mine`` use < threshold cores (over 1 s); return that level."""
    deadline = time.monotonic() + limit_s
    while True:
        s0, m0 = system_busy_s(), cpu_seconds(mine)
        await asyncio.sleep(1.0)
        level = max(0.0, (system_busy_s() - s0) - (cpu_seconds(mine) - m0))
        if level < threshold or time.monotonic() > deadline:
            return round(level, 2)

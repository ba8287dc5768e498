"""Shared pieces of the integration tests: a real Docker engine, real containers, the built agent,
a real Prometheus, and a parser for the Prometheus text exposition format.

Everything a test starts is registered for clean-up (unittest's addCleanup / an ExitStack), so a
failing test leaves no container, service, network or daemon behind. Standard library only.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

REPO = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker"  # not /usr/local/bin/docker: a newer client comes first in PATH here
HOST_SOCKET = "unix:///var/run/docker.sock"
IMAGE = "busybox:local"
CGROUP_ROOT = Path("/sys/fs/cgroup")

# Every object a test creates carries this prefix plus a per-process token, so that clean-up only
# ever touches what this process made (other work may share the engine).
RUN_TOKEN = f"swit-{os.getpid()}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------------------------
# Waiting


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.25,
               what: str = "condition") -> object:
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last: object = None
    last_error: Exception | None = None
    while True:
        try:
            last = predicate()
            last_error = None
            if last:
                return last
        except Exception as e:  # the condition may be unreachable for a while (agent starting...)
            last_error = e
        if time.monotonic() >= deadline:
            detail = f"last error: {last_error!r}" if last_error else f"last value: {last!r}"
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} ({detail})")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Docker


def run(cmd: list[str], check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def docker(*args: str, host: str | None = None, check: bool = True, timeout: float = 120) -> str:
    cmd = [DOCKER]
    if host:
        cmd += ["-H", host]
    return run(cmd + list(args), check=check, timeout=timeout).stdout.strip()


_engine_checked: set[str] = set()


def ensure_engine(private_dir: str | None = None) -> None:
    """Runs scripts/ensure-docker (the host engine, or a private one under `private_dir`)."""
    key = private_dir or "host"
    if key in _engine_checked and private_dir is None:
        return
    cmd = [str(REPO / "scripts" / "ensure-docker")]
    if private_dir:
        cmd += ["--private", private_dir]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    if p.stdout.strip():
        print(p.stdout.rstrip(), flush=True)
    if p.returncode != 0:
        raise RuntimeError(f"scripts/ensure-docker failed ({p.returncode})")
    _engine_checked.add(key)


def ensure_swarm_manager(test_class) -> None:
    """Makes the host engine a single-node Swarm manager for `test_class` (a unittest.TestCase
    class, from its setUpClass): `docker swarm init` if it is in no swarm (a fresh machine's is
    not), and at the class's clean-up `swarm leave` again unless someone else's services run on it
    by then. An engine that is a worker or in some other state is not touched: SkipTest."""
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}")
    if state == "active":
        if docker("info", "--format", "{{.Swarm.ControlAvailable}}") != "true":
            raise unittest.SkipTest("the engine is a Swarm worker: services need a manager")
        return
    if state != "inactive":
        raise unittest.SkipTest(f"the engine's swarm state is {state!r}; not touching it")
    p = run([DOCKER, "swarm", "init"], check=False)
    if p.returncode != 0:  # several addresses: pick one explicitly
        run([DOCKER, "swarm", "init", "--advertise-addr", "127.0.0.1"])

    def leave_if_ours():
        others = docker("service", "ls", "-q", check=False).split()
        if others:
            print(f"swarm: leaving it active, other services exist: {others}")
            return
        docker("swarm", "leave", "--force", check=False)
    test_class.addClassCleanup(leave_if_ours)


class SwarmEngineTest(unittest.TestCase):
    """A test class whose services run on one Swarm manager: this machine's engine, unless a
    subclass (test_v2_host.py's, on a cgroup v2 guest) names another in these hooks."""

    docker_host: str | None = None  # this machine's engine

    @classmethod
    def d(cls, *args: str, check: bool = True) -> str:
        return docker(*args, host=cls.docker_host, check=check)

    @classmethod
    def prepare_engine(cls) -> None:
        """The engine, a Swarm manager (left again at the class's clean-up if it was not one)."""
        ensure_engine()
        ensure_swarm_manager(cls)


def unique(kind: str) -> str:
    return f"{RUN_TOKEN}-{kind}-{secrets.token_hex(2)}"


class Docker:
    """Creates containers, networks and services with unique names and removes them all on close()."""

    def __init__(self, host: str | None = None, cgroup_id: str = "/docker/{id}"):
        """`cgroup_id`: where the engine puts a container's cgroup, as the agent labels it (`id`):
        Docker's cgroupfs driver's path, or the systemd driver's /system.slice/docker-{id}.scope."""
        self.host = host
        self.cgroup_id = cgroup_id
        self._containers: list[str] = []
        self._networks: list[str] = []
        self._services: list[str] = []

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        return docker(*args, host=self.host, check=check, timeout=timeout)

    def run(self, kind: str, *args: str, cmd: Iterable[str] = ("busybox", "sleep", "3600"),
            image: str = IMAGE) -> "Container":
        name = unique(kind)
        self._containers.append(name)
        cid = self("run", "-d", "--name", name, *args, image, *cmd)
        return Container(self, name, cid)

    def network(self, kind: str = "net") -> str:
        name = unique(kind)
        self._networks.append(name)
        self("network", "create", name)
        return name

    def service(self, kind: str, *args: str) -> str:
        name = unique(kind)
        self._services.append(name)
        self("service", "create", "--detach", "--name", name, *args)
        return name

    def remove_container(self, name: str) -> None:
        self("rm", "-f", "-v", name, check=False)

    def close(self) -> None:
        for s in reversed(self._services):
            self("service", "rm", s, check=False)
        if self._services:
            # Task containers go away shortly after the service; networks need them gone.
            with contextlib.suppress(AssertionError):
                wait_until(lambda: not any(self("ps", "-aq", "--filter", f"label=com.docker.swarm.service.name={s}",
                                                 check=False) for s in self._services),
                           timeout=60, what="service tasks to go away")
        for c in reversed(self._containers):
            self.remove_container(c)
        for n in reversed(self._networks):
            self("network", "rm", n, check=False)
        self._containers.clear()
        self._networks.clear()
        self._services.clear()


@dataclass
class Container:
    docker: Docker
    name: str
    id: str

    @property
    def cgroup_id(self) -> str:
        """The `id` label the agent gives the container: its cgroup path."""
        return self.docker.cgroup_id.format(id=self.id)

    def exec(self, *cmd: str, timeout: float = 120) -> str:
        return self.docker("exec", self.name, *cmd, timeout=timeout)

    def inspect(self) -> dict:
        return json.loads(self.docker("inspect", self.id))[0]


def parse_docker_time(s: str) -> float:
    """RFC 3339 with nanoseconds (as Docker writes it) -> Unix seconds."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {s!r}")
    import calendar
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    frac = float("0." + m.group(7)) if m.group(7) else 0.0
    t = calendar.timegm((y, mo, d, h, mi, sec)) + frac
    tz = m.group(8)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        t -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return t


# --------------------------------------------------------------------------------------------
# cgroup files (ground truth the agent's numbers are compared with)


class Host:
    """The machine an engine runs on, whose kernel files the agent's figures are compared with:
    this one (files read here), or a guest's (v2guest.V2Guest reads them through ssh). Every
    reading goes through read_text, so one set of tests serves both."""

    def __init__(self, cgroup_root: Path = CGROUP_ROOT):
        self.cgroup_root = cgroup_root
        self._version: int | None = None

    def read_text(self, path: str | Path) -> str:
        """A file of that machine; OSError if it has none."""
        return Path(path).read_text()

    def cpu_count(self) -> int:
        return os.cpu_count()

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> None:
        """A process of that machine, by its pid there."""
        os.kill(pid, sig)

    def cgroup_version(self) -> int:
        if self._version is None:
            try:
                self.read_text(self.cgroup_root / "cgroup.controllers")
                self._version = 2
            except OSError:
                self._version = 1
        return self._version

    def read_cgroup(self, controller: str, cgroup: str, filename: str) -> str:
        base = self.cgroup_root if self.cgroup_version() == 2 else self.cgroup_root / controller
        return self.read_text(base / cgroup.lstrip("/") / filename)

    def keyed(self, controller: str, cgroup: str, filename: str) -> dict[str, int]:
        """A flat keyed file ("key value" lines: memory.events, memory.oom_control, cpu.stat)."""
        return {k: int(v) for k, v in (line.split()[:2] for line in
                                       self.read_cgroup(controller, cgroup, filename).splitlines())}

    # The same figure under each version's file name (cAdvisor's mapping, which the agent follows).
    def memory_usage(self, cgroup: str) -> int:
        name = "memory.current" if self.cgroup_version() == 2 else "memory.usage_in_bytes"
        return int(self.read_cgroup("memory", cgroup, name))

    def memory_peak(self, cgroup: str) -> int:
        name = "memory.peak" if self.cgroup_version() == 2 else "memory.max_usage_in_bytes"
        return int(self.read_cgroup("memory", cgroup, name))

    def memory_failcnt(self, cgroup: str) -> int:
        """v1's failed charges; on v2 the times the limit was hit (memory.events `max`)."""
        if self.cgroup_version() == 2:
            return self.keyed("memory", cgroup, "memory.events")["max"]
        return int(self.read_cgroup("memory", cgroup, "memory.failcnt"))

    def oom_kills(self, cgroup: str) -> int:
        name = "memory.events" if self.cgroup_version() == 2 else "memory.oom_control"
        return self.keyed("memory", cgroup, name)["oom_kill"]

    def block_io_bytes(self, cgroup: str) -> tuple[int, int]:
        """(read, written) bytes the kernel charged to `cgroup`'s block I/O: io.stat on v2,
        blkio.throttle.io_service_bytes on v1 (0, 0 where the file is missing)."""
        read = written = 0
        try:
            if self.cgroup_version() == 2:
                for line in self.read_cgroup("io", cgroup, "io.stat").splitlines():
                    fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
                    read += int(fields.get("rbytes", 0))
                    written += int(fields.get("wbytes", 0))
            else:
                for line in self.read_cgroup("blkio", cgroup, "blkio.throttle.io_service_bytes").splitlines():
                    parts = line.split()
                    if len(parts) == 3 and parts[1] == "Read":
                        read += int(parts[2])
                    elif len(parts) == 3 and parts[1] == "Write":
                        written += int(parts[2])
        except OSError:
            pass
        return read, written

    def block_io_blindness(self) -> str:
        """Why a cgroup's block I/O counters did not move: the kernel counts none per cgroup (the
        root cgroup's counters read 0 too, as on some v1 kernels), or the I/O reached no block
        device."""
        if self.block_io_bytes("/") == (0, 0):
            return "this kernel counts no block I/O per cgroup (the root cgroup's counters read 0 too)"
        return "the I/O reached no block device (e.g. overlay or a bind mount over tmpfs)"

    def unified_cpu_time(self, cgroup: str) -> dict[str, float] | None:
        """A hybrid (v1) host's unified cpu.stat of `cgroup` in seconds ({'usage', 'user',
        'system'}), where it holds the cgroup's CPU time: the agent's source then, not
        cpuacct.usage (the two are separate kernel counters and drift apart by a millisecond or
        so). None on v2 and where the unified cgroup has no time (the same test as the agent's
        reader)."""
        if self.cgroup_version() == 2:
            return None
        try:
            text = self.read_text(self.cgroup_root / "unified" / cgroup.lstrip("/") / "cpu.stat")
            stat = dict(line.split() for line in text.splitlines() if line.strip())
        except (OSError, ValueError):
            return None
        try:
            usage, user, system = (int(stat[k]) for k in ("usage_usec", "user_usec", "system_usec"))
        except (KeyError, ValueError):
            return None
        if usage <= 0:
            return None
        return {"usage": usage / 1e6, "user": user / 1e6, "system": system / 1e6}

    def read_pressure(self, cgroup: str, resource: str) -> dict[str, float] | None:
        """{'some': seconds, 'full': seconds} from <resource>.pressure, or None if the kernel has
        none (a hybrid host has them in its `unified` hierarchy)."""
        for base in (self.cgroup_root / "unified", self.cgroup_root):
            try:
                text = self.read_text(base / cgroup.lstrip("/") / f"{resource}.pressure")
            except OSError:
                continue
            out = {}
            for line in text.splitlines():
                kind, *fields = line.split()
                out[kind] = int(dict(x.split("=") for x in fields)["total"]) / 1e6
            return out
        return None


LOCAL = Host()  # this machine: the host engine's containers


def cgroup_version() -> int:
    return LOCAL.cgroup_version()


def read_cgroup(controller: str, cgroup: str, filename: str) -> str:
    return LOCAL.read_cgroup(controller, cgroup, filename)


def block_io_uncounted(directory: str | Path, timeout: float = 10) -> str | None:
    """Why block I/O to `directory` would not show in a container's cgroup, or None if it does:
    a container writes and reads 1 MiB there with O_DIRECT (charged to the writer's cgroup on v1
    too) and the kernel's counters of its cgroup must move. Some kernels count nothing per cgroup
    (every blkio file reading `Total 0`, the root's included), and a directory on tmpfs or
    overlay-on-tmpfs is no block device."""
    name = unique("blkio-probe")
    script = ("dd if=/dev/zero of=/probe/blob bs=64k count=16 oflag=direct 2>/dev/null && "
              "dd if=/probe/blob of=/dev/null bs=64k iflag=direct 2>/dev/null; exec sleep 60")
    cid = docker("run", "-d", "--name", name, "-v", f"{directory}:/probe", IMAGE, "sh", "-c", script)
    try:
        cgroup = f"/docker/{cid}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            read, written = LOCAL.block_io_bytes(cgroup)
            if read > 0 and written > 0:
                return None
            time.sleep(0.25)
        return (f"the kernel charged no block I/O to a container's cgroup after 1 MiB of O_DIRECT "
                f"writes and reads to {directory} (read {read}, written {written} bytes): "
                + LOCAL.block_io_blindness())
    finally:
        docker("rm", "-f", "-v", name, check=False)


def read_pressure(cgroup: str, resource: str) -> dict[str, float] | None:
    return LOCAL.read_pressure(cgroup, resource)


# --------------------------------------------------------------------------------------------
# Prometheus text exposition


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict
    value: float

    def __hash__(self):
        return hash((self.name, tuple(sorted(self.labels.items()))))


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _parse_value(s: str) -> float:
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    return float(s)


def parse_exposition(text: str) -> list[Sample]:
    """Parses Prometheus text format 0.0.4; raises ValueError naming the line on bad syntax."""
    samples = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.startswith("#"):
            if line.startswith("# TYPE") or line.startswith("# HELP"):
                parts = line.split(None, 3)
                if len(parts) < 3 or not _NAME.fullmatch(parts[2]):
                    raise ValueError(f"line {lineno}: bad {parts[1]} line: {line!r}")
            continue
        m = _NAME.match(line)
        if not m:
            raise ValueError(f"line {lineno}: bad metric name: {line!r}")
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            i += 1
            while True:
                while i < len(line) and line[i] in " ,":
                    i += 1
                if i < len(line) and line[i] == "}":
                    i += 1
                    break
                lm = _LABEL.match(line, i)
                if not lm or line[lm.end():lm.end() + 2] != '="':
                    raise ValueError(f"line {lineno}: bad label at column {i}: {line!r}")
                key, i = lm.group(0), lm.end() + 2
                value = []
                while True:
                    if i >= len(line):
                        raise ValueError(f"line {lineno}: unterminated label value: {line!r}")
                    c = line[i]
                    if c == "\\":
                        nxt = line[i + 1:i + 2]
                        value.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
                        i += 2
                    elif c == '"':
                        i += 1
                        break
                    else:
                        value.append(c)
                        i += 1
                if key in labels:
                    raise ValueError(f"line {lineno}: duplicate label {key}: {line!r}")
                labels[key] = "".join(value)
        rest = line[i:].split()
        if not rest or len(rest) > 2:
            raise ValueError(f"line {lineno}: expected value [timestamp]: {line!r}")
        try:
            value = _parse_value(rest[0])
        except ValueError:
            raise ValueError(f"line {lineno}: bad value {rest[0]!r}") from None
        samples.append(Sample(name, labels, value))
    return samples


class Scrape:
    """One parsed /metrics answer with lookups by name and labels."""

    def __init__(self, text: str):
        self.text = text
        self.samples = parse_exposition(text)
        self.by_name: dict[str, list[Sample]] = {}
        for s in self.samples:
            self.by_name.setdefault(s.name, []).append(s)
        # family name -> its # TYPE (counter, gauge, untyped, ...), as written
        self.types: dict[str, str] = {}
        for line in text.split("\n"):
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) >= 4:
                    self.types[parts[2]] = parts[3]

    def select(self, name: str, **labels: str) -> list[Sample]:
        return [s for s in self.by_name.get(name, [])
                if all(s.labels.get(k, "") == v for k, v in labels.items())]

    def value(self, name: str, **labels: str) -> float:
        """The value of the one series matching; AssertionError if none or several match."""
        found = self.select(name, **labels)
        if len(found) != 1:
            raise AssertionError(f"expected one {name}{labels}, found {len(found)}: {found[:5]}")
        return found[0].value

    def total(self, name: str, **labels: str) -> float:
        """Sum over every series matching (e.g. over devices or interfaces); 0 if none."""
        return sum(s.value for s in self.select(name, **labels))

    def ids(self) -> set[str]:
        return {s.labels["id"] for s in self.samples if "id" in s.labels}

    def series_of(self, cgroup_id: str) -> list[Sample]:
        return [s for s in self.samples if s.labels.get("id") == cgroup_id]


# --------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode()


def http_get(url: str, headers: dict | None = None, timeout: float = 10) -> Response:
    req = urllib.request.Request(url, headers=headers or {})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            status, hdrs = r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        body = e.read()
        status, hdrs = e.code, dict(e.headers)
    elapsed = time.monotonic() - start
    if hdrs.get("Content-Encoding", "").lower() == "gzip":
        body = gzip.decompress(body)
    return Response(status, hdrs, body, elapsed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# The agent


def agent_binary() -> str:
    for var in ("AGENT_BIN", "SWARMWATCH_BIN"):
        if os.environ.get(var):
            return os.environ[var]
    for build in ("build", "build-it"):
        candidate = REPO / build / "agent" / "swarmwatch"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("no agent binary: set AGENT_BIN or build into build/ (scripts/test does)")


class LocalDaemon:
    """A process of the tests that serves HTTP on 127.0.0.1: its `proc` and `port`."""

    proc: subprocess.Popen
    port: int | None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Agent(LocalDaemon):
    """The built agent on an ephemeral port; its stderr is kept for diagnostics."""

    LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")

    def __init__(self, *args: str, env: dict | None = None, start_timeout: float = 30,
                 argv: list[str] | None = None):
        """`argv`: a command that runs the agent some other way (in a VM through ssh, say), whose
        stderr is the agent's; else the built agent with `args`."""
        # The agent reads SWARMWATCH_* from its environment: pass only what the test means to.
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("SWARMWATCH_")}
        child_env.update(env or {})
        self.argv = argv or [agent_binary(), "--listen-address", "127.0.0.1:0", *args]
        self.stderr_lines: list[str] = []
        self._port_seen = threading.Event()
        self.port: int | None = None
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=child_env)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._port_seen.wait(start_timeout) or self.port is None:
            self.kill()
            raise AssertionError(f"agent did not log 'listening on http://127.0.0.1:<port>' within "
                                 f"{start_timeout}s; argv={self.argv}; stderr:\n{self.log()}")

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))
            if self.port is None:
                m = self.LISTENING.search(line)
                if m:
                    self.port = int(m.group(1))
                    self._port_seen.set()
        self._port_seen.set()  # exited: let the constructor see it
        self.proc.stderr.close()

    def log(self, last: int = 60) -> str:
        return "\n".join(self.stderr_lines[-last:])

    def get(self, path: str, **kw) -> Response:
        return http_get(self.url + path, **kw)

    def scrape(self) -> Scrape:
        r = self.get("/metrics")
        if r.status != 200:
            raise AssertionError(f"/metrics answered {r.status}: {r.text[:500]}")
        return Scrape(r.text)

    def scrape_until(self, predicate: Callable[[Scrape], object], timeout: float, what: str) -> Scrape:
        """Scrapes until `predicate(scrape)` holds; returns that scrape."""
        def attempt():
            s = self.scrape()
            return s if predicate(s) else None
        try:
            return wait_until(attempt, timeout, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnosis()}") from None

    def diagnosis(self) -> str:
        """For a failure that would otherwise only say that the port stopped answering: the exit
        status and the end of the log of an agent that is gone, or each thread's state and kernel
        wait channel of one that runs (a deadlock shows as every web thread asleep on a futex)."""
        status = self.proc.poll()
        if status is not None:
            self._reader.join(5)
            return f"the agent exited with status {status}; the end of its log:\n{self.log(40)}"
        return f"the agent runs; its threads:\n{self.threads()}\nthe end of its log:\n{self.log(20)}"

    def threads(self) -> str:
        """One line per thread of the agent: name, state (/proc's letter), wait channel."""
        lines = []
        for task in sorted(Path(f"/proc/{self.proc.pid}/task").glob("*")):
            with contextlib.suppress(OSError):
                state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
                lines.append(f"{(task / 'comm').read_text().strip()} {state} "
                             f"{(task / 'wchan').read_text().strip()}")
        return "\n".join(lines)

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(lambda: self.get("/ready", timeout=5).status == 200, timeout,
                   what=f"agent /ready to answer 200 (stderr:\n{self.log(20)})")

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, then the exit status (AssertionError if it does not exit within `timeout`)."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"agent did not exit within {timeout}s of SIGTERM")
        self._reader.join(5)
        return self.proc.returncode

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# --------------------------------------------------------------------------------------------
# Prometheus


class LoggedDaemon(LocalDaemon):
    """A daemon of the tests (Prometheus, node_exporter) started in a scratch directory of its own,
    its output in a log file there: `log()` for failure messages, `close()` to stop it and remove
    the directory."""

    stop_timeout: float = 20

    def _start(self, argv: list[str], log_name: str) -> None:
        self.log_path = Path(self.dir) / log_name
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def log(self, last: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text().splitlines()[-last:])
        return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Prometheus(LoggedDaemon):
    """A real Prometheus (Debian's package) scraping the given targets every `interval`."""

    def __init__(self, targets: list[str], interval: str = "1s", start_timeout: float = 60,
                 target_labels: dict[str, str] | None = None, honor_labels: bool = False,
                 extra_args: Iterable[str] = (), rules: str | None = None):
        """`target_labels` and `honor_labels` as the stack's scrape job sets them (node=...);
        `extra_args`: more flags (a query limit, say); `rules`: the text of a rule file to
        evaluate (every `interval` unless a group says)."""
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self.dir = tempfile.mkdtemp(prefix=f"{RUN_TOKEN}-prom-")
        self.port = free_port()
        config = Path(self.dir) / "prometheus.yml"
        rule_files = ""
        if rules is not None:
            (Path(self.dir) / "rules.yml").write_text(rules)
            rule_files = f"rule_files: [{json.dumps(str(Path(self.dir) / 'rules.yml'))}]\n"
        config.write_text(
            "global:\n"
            f"  scrape_interval: {interval}\n"
            f"  evaluation_interval: {interval}\n"
            + rule_files +
            "scrape_configs:\n"
            "  - job_name: swarmwatch\n"
            f"    honor_labels: {json.dumps(honor_labels)}\n"
            "    static_configs:\n"
            f"      - targets: {json.dumps(targets)}\n"
            + (f"        labels: {json.dumps(target_labels)}\n" if target_labels else ""))
        self._start([binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{self.port}",
                     f"--storage.tsdb.path={self.dir}/data", *extra_args], "prometheus.log")
        try:
            wait_until(lambda: http_get(self.url + "/-/ready", timeout=2).status == 200,
                       start_timeout, what="prometheus /-/ready")
        except Exception:
            self.close()
            raise

    def query(self, promql: str) -> list[dict]:
        r = http_get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        doc = json.loads(r.body)
        if r.status != 200 or doc.get("status") != "success":
            raise AssertionError(f"query {promql!r} failed: {r.status} {doc}")
        return doc["data"]["result"]

    def targets(self) -> list[dict]:
        return json.loads(http_get(self.url + "/api/v1/targets").body)["data"]["activeTargets"]



# --------------------------------------------------------------------------------------------
# Debian's prometheus-node-exporter: the reference for the agent's node_* families

# node_exporter's upstream default excludes, which are the agent's defaults too (issue 18): Debian's
# package ships other defaults for mount points, file system types and disks, so they are passed
# as flags; netclass (node_network_up, node_network_info) gets the agent's netdev exclude, as the
# agent exports those for the same devices as the counters.
NODE_MOUNT_POINTS_EXCLUDE = (r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+"
                             r"|var/lib/containers/storage/.+)($|/)")
NODE_FS_TYPES_EXCLUDE = (r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl"
                         r"|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs"
                         r"|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$")
NODE_DISK_DEVICE_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"
NODE_NETDEV_DEVICE_EXCLUDE = r"^(lo|veth.+)$"


def node_exporter_missing() -> str | None:
    """Why node_exporter cannot run here, or None when it can."""
    if shutil.which("prometheus-node-exporter"):
        return None
    return "prometheus-node-exporter is not installed (scripts/install-deps --test installs it)"


class NodeExporter(LoggedDaemon):
    """Debian's node_exporter 1.5 on a free loopback port with the upstream excludes, all its
    default collectors on; SkipTest where it is not installed."""

    def __init__(self, *extra: str, start_timeout: float = 20):
        missing = node_exporter_missing()
        if missing:
            raise unittest.SkipTest(missing)
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"{RUN_TOKEN}-node-exporter-")
        self.argv = [shutil.which("prometheus-node-exporter"),
                     f"--web.listen-address=127.0.0.1:{self.port}",
                     f"--collector.filesystem.mount-points-exclude={NODE_MOUNT_POINTS_EXCLUDE}",
                     f"--collector.filesystem.fs-types-exclude={NODE_FS_TYPES_EXCLUDE}",
                     f"--collector.diskstats.device-exclude={NODE_DISK_DEVICE_EXCLUDE}",
                     f"--collector.netdev.device-exclude={NODE_NETDEV_DEVICE_EXCLUDE}",
                     f"--collector.netclass.ignored-devices={NODE_NETDEV_DEVICE_EXCLUDE}",
                     *extra]
        self._start(self.argv, "node_exporter.log")
        try:
            def up():
                if self.proc.poll() is not None:
                    raise AssertionError(f"node_exporter exited ({self.proc.returncode}):\n{self.log()}")
                return http_get(self.url + "/metrics", timeout=5).status == 200
            wait_until(up, start_timeout, what=f"node_exporter /metrics on {self.url}")
        except Exception:
            self.close()
            raise

    def scrape(self, timeout: float = 10) -> Scrape:
        r = http_get(self.url + "/metrics", timeout=timeout)
        if r.status != 200:
            raise AssertionError(f"node_exporter /metrics answered {r.status}: {r.text[:500]}")
        return Scrape(r.text)



# --------------------------------------------------------------------------------------------
# Small numeric helpers for assertions with a stated tolerance


def assert_close(test, actual: float, expected: float, rel: float, what: str, abs_tol: float = 0.0):
    tol = max(abs(expected) * rel, abs_tol)
    test.assertLessEqual(abs(actual - expected), tol,
                         f"{what}: got {actual:.6g}, expected {expected:.6g} ± {tol:.3g}")


MiB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# The tests' Loki receiver (tests/loki_receiver) and helpers for the log shipping tests


def loki_receiver_binary() -> str:
    if os.environ.get("LOKI_RECEIVER_BIN"):
        return os.environ["LOKI_RECEIVER_BIN"]
    for build in ("build", "build-it", "build-ship", "build-release"):
        candidate = REPO / build / "tests" / "loki_receiver" / "loki_receiver"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("no loki_receiver binary: set LOKI_RECEIVER_BIN or build into build/")


class LokiReceiver(LocalDaemon):
    """tests/loki_receiver on loopback. down() kills it (SIGKILL, as a crash would) and up() starts
    it again on the same port: its stored entries start empty again, so read them before down()."""

    LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
    CPU = re.compile(r"loki_receiver cpu: user ([\d.]+) s, system ([\d.]+) s, total ([\d.]+) s; "
                     r"max rss (\d+) KiB")

    def __init__(self, *args: str, port: int = 0, start_timeout: float = 15):
        self.args = list(args)
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.stderr_lines: list[str] = []
        self.cpu_seconds: float | None = None  # from its SIGTERM report, after stop()
        self.max_rss_kib: int | None = None
        self.up(start_timeout)

    def up(self, start_timeout: float = 15) -> None:
        assert self.proc is None or self.proc.poll() is not None, "receiver is already up"
        deadline = time.monotonic() + start_timeout
        while True:  # the old socket may linger for a moment after down()
            if self._start(deadline - time.monotonic()):
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"loki_receiver did not start on port {self.port}: "
                                     + "\n".join(self.stderr_lines[-5:]))
            time.sleep(0.2)

    def _start(self, timeout: float) -> bool:
        lines: list[str] = []
        seen = threading.Event()
        found: list[int] = []
        argv = [loki_receiver_binary(), "--listen", f"127.0.0.1:{self.port}", *self.args]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def read():
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line.rstrip("\n"))
                if not found:
                    m = self.LISTENING.search(line)
                    if m:
                        found.append(int(m.group(1)))
                        seen.set()
            seen.set()
            proc.stderr.close()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        seen.wait(max(timeout, 1))
        self.stderr_lines = lines
        if not found:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            reader.join(5)
            return False
        self.proc, self._reader, self.port = proc, reader, found[0]
        return True

    @property
    def push_url(self) -> str:
        return self.url + "/loki/api/v1/push"

    def _post(self, path: str) -> None:
        req = urllib.request.Request(self.url + path, data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def entries(self, offset: int = 0) -> list[dict]:
        """Accepted entries in arrival order: {labels, ts (str ns), line, metadata, tenant}."""
        r = http_get(f"{self.url}/test/entries?offset={offset}", timeout=120)
        if r.status != 200:
            raise AssertionError(f"/test/entries answered {r.status}")
        return [json.loads(line) for line in r.body.splitlines() if line]

    def stats(self) -> dict:
        return json.loads(http_get(self.url + "/test/stats").body)

    def mode(self, answer: str, count: int | None = None, retry_after: int | None = None) -> None:
        q = {"answer": answer}
        if count is not None:
            q["count"] = str(count)
        if retry_after is not None:
            q["retry_after"] = str(retry_after)
        self._post("/test/mode?" + urllib.parse.urlencode(q))

    def reset(self) -> None:
        """Forgets stored entries and per-stream order (a re-sent line is then stored again)."""
        self._post("/test/reset")

    def down(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
            self._reader.join(5)

    def stop(self, timeout: float = 20) -> float | None:
        """SIGTERM; returns the CPU seconds it reports (user + system), also kept in cpu_seconds."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self._reader.join(5)
            for line in self.stderr_lines:
                m = self.CPU.search(line)
                if m:
                    self.cpu_seconds = float(m.group(3))
                    self.max_rss_kib = int(m.group(4))
        return self.cpu_seconds

    close = stop


# --------------------------------------------------------------------------------------------
# A private Docker engine


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


class PrivateEngine:
    """A dockerd of our own; start() and kill() as an operator (or a crash) would."""

    def __init__(self):
        # Short path: unix socket paths are limited to 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="swit-eng-", dir="/tmp")
        self.data_root = f"{self.dir}/data"
        self.socket = f"{self.dir}/docker.sock"
        self.host = f"unix://{self.socket}"

    def start(self):
        ensure_engine(self.dir)

    def pid(self) -> int | None:
        try:
            return int(Path(self.dir, "docker.pid").read_text())
        except (OSError, ValueError):
            return None

    def kill(self, sig=signal.SIGKILL, timeout: float = 30):
        pid = self.pid()
        if pid is None or process_gone(pid):
            return
        os.kill(pid, sig)
        wait_until(lambda: process_gone(pid), timeout, what=f"dockerd {pid} to exit")

    def close(self):
        if self.pid() and not process_gone(self.pid()):
            with_engine = Docker(self.host)
            ids = with_engine("ps", "-aq", check=False).split()
            if ids:
                with_engine("rm", "-f", *ids, check=False)
            self.kill(signal.SIGTERM)
        # dockerd leaves its data root mounted; unmount everything below our directory.
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(self.dir)]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# A real Grafana Loki (../shared/tools/loki beside the repository; CI has it)

LOKI_TOOLS = Path(os.environ.get("SWARMWATCH_LOKI_TOOLS", REPO.parent / "shared" / "tools" / "loki"))


def real_loki_missing() -> str | None:
    """Why the real-Loki tests cannot run here, or None when they can."""
    if (LOKI_TOOLS / "run-loki").exists():
        return None
    return (f"no real Loki at {LOKI_TOOLS} (run-loki and loki-3.4.6-linux-amd64.gz): put the "
            "project's shared/tools/loki beside the repository, or set SWARMWATCH_LOKI_TOOLS")


class RealLoki(LocalDaemon):
    """Loki 3.4.6 with its default limits on free loopback ports, its data in a temp dir.
    stop() and start() again keep the data (a Loki restart); close() removes it."""

    def __init__(self, start_timeout: float = 90):
        missing = real_loki_missing()
        if missing:
            raise unittest.SkipTest(missing)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{RUN_TOKEN}-loki-"))
        self.port, self.grpc_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        self.start(start_timeout)

    @property
    def push_url(self) -> str:
        return self.url + "/loki/api/v1/push"

    def start(self, timeout: float = 90) -> None:
        self.log = open(self.dir / "loki.log", "ab")
        self.proc = subprocess.Popen([str(LOKI_TOOLS / "run-loki"), str(self.dir / "data"),
                                      str(self.port), str(self.grpc_port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"loki exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                return http_get(self.url + "/ready", timeout=2).status == 200
            except OSError:
                return False
        wait_until(ready, timeout, interval=0.5, what=f"Loki /ready on {self.url}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.dir / "loki.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, True)

    def query_range(self, logql: str, since_s: float = 3600, limit: int = 5000,
                    direction: str = "forward") -> list[dict]:
        end = time.time_ns() + 60 * 10**9
        params = urllib.parse.urlencode({"query": logql, "start": str(end - int((since_s + 60) * 1e9)),
                                         "end": str(end), "limit": str(limit),
                                         "direction": direction})
        r = http_get(self.url + "/loki/api/v1/query_range?" + params, timeout=30)
        if r.status != 200:
            raise AssertionError(f"LogQL {logql}: {r.status} {r.text[:500]}")
        return json.loads(r.text)["data"]["result"]

    def lines(self, selector: str, since_s: float = 3600, limit: int = 5000) -> list[tuple[dict, int, str]]:
        """(stream labels, timestamp ns, line) of every entry of `selector`, oldest first."""
        out = []
        for stream in self.query_range(selector, since_s, limit):
            for ts, line, *rest in stream["values"]:
                out.append((stream["stream"], int(ts), line))
        return sorted(out, key=lambda x: x[1])

    def count(self, selector: str, since_s: float = 3600) -> int:
        """Entries of `selector` Loki holds, counted by Loki (count_over_time)."""
        window = f"{int(since_s + 60)}s"
        result = self.query_range(f"sum(count_over_time({selector}[{window}]))", since_s, 10)
        return int(float(result[0]["values"][-1][1])) if result else 0


class SlowEventsProxy:
    """A Unix socket in front of the host's Docker engine that relays every request and answer,
    holding back what the engine sends on /events by `delay` seconds: an engine too busy to tell
    its events in time, so that short-lived containers are gone before the agent can inspect them.
    Pass `docker_host` to the agent."""

    def __init__(self, delay: float, target: str = "/var/run/docker.sock"):
        self.delay = delay
        self.target = target
        self.dir = Path(tempfile.mkdtemp(prefix=f"{RUN_TOKEN}-proxy-"))
        self.path = self.dir / "docker.sock"
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.server.listen(64)
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            engine.connect(self.target)
        except OSError:
            client.close()
            return
        first = client.recv(65536)
        delayed = b"/events" in first.split(b"\r\n", 1)[0]
        engine.sendall(first)
        threading.Thread(target=self._pipe, args=(client, engine, 0.0), daemon=True).start()
        self._pipe(engine, client, self.delay if delayed else 0.0)

    def _pipe(self, source: socket.socket, sink: socket.socket, delay: float) -> None:
        import queue
        chunks: queue.Queue = queue.Queue()

        def send() -> None:
            while True:
                at, data = chunks.get()
                if data is None:
                    break
                time.sleep(max(0.0, at + delay - time.monotonic()))
                try:
                    sink.sendall(data)
                except OSError:
                    break
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                chunks.put((time.monotonic(), data))
        except OSError:
            pass
        chunks.put((time.monotonic(), None))

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.server.close()
        shutil.rmtree(self.dir, True)


def process_user_system_seconds(pid: int) -> tuple[float, float]:
    """utime and stime of a process (all its threads) from /proc/<pid>/stat (fields 14, 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc/<pid>/stat."""
    return sum(process_user_system_seconds(pid))


def process_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS) ... of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Vm"):
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])
    return out


def json_file_lines(path: str | Path) -> list[tuple[int, int, dict]]:
    """The lines of a Docker json-file log: (offset of the line, offset after it, decoded)."""
    out = []
    offset = 0
    with open(path, "rb") as f:
        for raw in f:
            end = offset + len(raw)
            if raw.endswith(b"\n"):
                out.append((offset, end, json.loads(raw)))
            offset = end
    return out


def read_positions(path: str | Path) -> dict[str, dict]:
    """The agent's positions file: container id -> {"inode": .., "offset": ..} ({} if none)."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    return doc.get("positions", {})


SHIPPER_METRICS = (
    "swarmwatch_loki_entries_sent_total", "swarmwatch_loki_bytes_sent_total",
    "swarmwatch_loki_batches_sent_total", "swarmwatch_loki_retries_total",
    "swarmwatch_log_lines_read_total", "swarmwatch_log_bytes_read_total",
    "swarmwatch_log_read_ahead_bytes", "swarmwatch_log_followed_containers",
)


def shipping_args(receiver: LokiReceiver, positions_file: str | Path, *extra: str) -> list[str]:
    """The agent's flags to ship every container's logs to `receiver` (extra flags appended)."""
    return ["--docker-host", HOST_SOCKET, "--loki-url", receiver.push_url,
            "--positions-file", str(positions_file), *extra]

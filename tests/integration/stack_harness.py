"""A three-node Docker Swarm on this machine for the stack's end-to-end test (test_stack_e2e.py), and
an HTTP client for the CRUD application behind the proxy.

Each node is an extra `dockerd` in its own network namespace (a veth on the host bridge `swe2e0`),
started through `nsenter --net=... unshare --mount --uts`, so that in the node's own mount namespace:
- its data directory is bind-mounted on /var/lib/docker and a tmpfs is mounted on /run: the stack file's
  host paths (/var/run/docker.sock, /var/lib/docker/containers) then mean the node's own, exactly as on
  a real node, and the stack deploys unchanged;
- the host's /sys/fs/cgroup and /proc stay visible (all nodes' containers share the host's cgroup tree).
The host engine and its single-node Swarm are never touched. Everything created is named `swe2e...`
and removed by Cluster.destroy(), which also removes the leftovers of an aborted run.
"""

from __future__ import annotations

import base64
import contextlib
import html
import http.cookiejar
import json
import os
import re
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import harness as h

PREFIX = "swe2e"
BASE_DIR = Path("/var/lib/swe2e")  # same filesystem as /var/lib/docker (overlay2 needs a real one)
BRIDGE = "swe2e0"
SUBNET = "192.168.231"  # .1 is the host on the bridge, nodes from .2
CGROUP_PROCS = Path("/sys/fs/cgroup/memory/docker")  # cgroup v1 here (MACHINE.md)


def log(msg: str) -> None:
    print(f"[stack-e2e {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*cmd: str, check: bool = True, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
    return p


@dataclass
class Node:
    name: str  # hostname and netns name, e.g. swe2e-manager
    address: str
    role: str  # manager | worker

    @property
    def dir(self) -> Path:
        return BASE_DIR / self.name

    @property
    def socket(self) -> str:
        return f"unix://{self.dir / 'docker.sock'}"

    @property
    def pidfile(self) -> Path:
        return self.dir / "docker.pid"

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        return h.docker(*args, host=self.socket, check=check, timeout=timeout)


class Cluster:
    """A manager and two workers, each a dockerd in its own network and mount namespace."""

    def __init__(self, names: tuple[str, ...] = ("manager", "worker1", "worker2")):
        self.nodes = [Node(f"{PREFIX}-{n}", f"{SUBNET}.{i + 2}", "manager" if i == 0 else "worker")
                      for i, n in enumerate(names)]
        self.manager = self.nodes[0]
        self.workers = self.nodes[1:]
        self._launchers: list[subprocess.Popen] = []  # reaped in destroy()

    # ---------------------------------------------------------------------------------- set-up

    def create(self) -> None:
        self.destroy()  # leftovers of an aborted run
        BASE_DIR.mkdir(parents=True, exist_ok=True)
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        # The host's FORWARD policy is Docker's DROP: let the nodes talk to each other over the bridge.
        sh("iptables", "-I", "DOCKER-USER", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT")
        for node in self.nodes:
            self._start_node(node)
        for node in self.nodes:
            self._wait_engine(node)
        m = self.manager
        m.docker("swarm", "init", "--advertise-addr", m.address, "--listen-addr", f"{m.address}:2377")
        token = m.docker("swarm", "join-token", "-q", "worker")
        for w in self.workers:
            w.docker("swarm", "join", "--token", token, "--advertise-addr", w.address, f"{m.address}:2377")
        h.wait_until(lambda: self._ready_nodes() == {n.name for n in self.nodes}, timeout=60,
                     what="all three nodes ready in the Swarm")
        log(f"swarm of {len(self.nodes)} nodes ready: " + ", ".join(f"{n.name} ({n.role}, {n.address})" for n in self.nodes))

    def _ready_nodes(self) -> set[str]:
        out = self.manager.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}}")
        return {line.split()[0] for line in out.splitlines() if line.endswith(" Ready")}

    def _start_node(self, node: Node) -> None:
        veth_host, veth_node = f"{node.name}-h"[-15:], f"{node.name}-c"[-15:]
        (node.dir / "data").mkdir(parents=True, exist_ok=True)
        sh("ip", "netns", "add", node.name)
        sh("ip", "link", "add", veth_host, "type", "veth", "peer", "name", veth_node)
        sh("ip", "link", "set", veth_node, "netns", node.name)
        sh("ip", "link", "set", veth_host, "master", BRIDGE, "up")
        ns = ["ip", "netns", "exec", node.name]
        sh(*ns, "ip", "addr", "add", f"{node.address}/24", "dev", veth_node)
        sh(*ns, "ip", "link", "set", veth_node, "up")
        sh(*ns, "ip", "link", "set", "lo", "up")
        sh(*ns, "ip", "route", "add", "default", "via", f"{SUBNET}.1")
        # In the node's own mount and UTS namespaces: its hostname, its data root on /var/lib/docker,
        # a private /run (socket, exec root, containerd). A second socket in its directory is the
        # host's way in. / shared within the namespace, as systemd makes it on a real node: the
        # agent's `/:/host:ro,rslave` needs a shared or slave source (this machine's / is private,
        # and the namespace's mounts still reach nothing outside it).
        script = (
            f"set -e; hostname {node.name}; "
            "mount --make-rshared /; "
            f"mount --bind {node.dir / 'data'} /var/lib/docker; "
            "mount -t tmpfs -o mode=755 tmpfs /run; mkdir -p /run/lock; "
            f"exec dockerd -H unix:///var/run/docker.sock -H {node.socket} --pidfile {node.pidfile} "
            "--data-root /var/lib/docker --exec-root /var/run/docker --log-level warn"
        )
        logf = open(node.dir / "dockerd.log", "ab")
        self._launchers.append(subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{node.name}", "unshare", "--mount", "--uts", "--propagation", "private",
             "sh", "-c", script], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True))
        logf.close()

    def _wait_engine(self, node: Node) -> None:
        def answers():
            return sh("curl", "-fsS", "--max-time", "3", "--unix-socket", str(node.dir / "docker.sock"),
                      "http://localhost/_ping", check=False).returncode == 0
        try:
            h.wait_until(answers, timeout=60, what=f"dockerd of {node.name}")
        except AssertionError:
            tail = (node.dir / "dockerd.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"dockerd of {node.name} did not start; its log ends:\n{tail}") from None

    def load_images(self, images_by_node: dict[str, list[str]]) -> None:
        """`docker save` on the host engine | `docker load` on each node, all nodes at once."""
        procs = []
        for node in self.nodes:
            images = images_by_node.get(node.name) or []
            if not images:
                continue
            save = subprocess.Popen([h.DOCKER, "save", *images], stdout=subprocess.PIPE)
            load = subprocess.Popen([h.DOCKER, "-H", node.socket, "load", "-q"], stdin=save.stdout,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert save.stdout is not None
            save.stdout.close()
            procs.append((node, images, save, load))
        for node, images, save, load in procs:
            out, err = load.communicate(timeout=600)
            save.wait(60)
            if save.returncode != 0 or load.returncode != 0:
                raise RuntimeError(f"loading {images} into {node.name} failed: {err.decode(errors='replace')}")

    # ---------------------------------------------------------------------------------- tear-down

    def destroy(self) -> None:
        """Removes every swe2e thing: engines and their containers, netns, bridge, rules, files."""
        names = sorted({n.name for n in self.nodes} | {p.name for p in BASE_DIR.glob(f"{PREFIX}-*")}
                       | {ns for ns in _netns_names() if ns.startswith(PREFIX)})
        for name in names:
            _stop_engine(BASE_DIR / name, name)
        for launcher in self._launchers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                launcher.wait(10)
        self._launchers.clear()
        for name in names:
            if name in _netns_names():
                sh("ip", "netns", "del", name, check=False)
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            sh("ip", "link", "del", BRIDGE, check=False)
        while sh("iptables", "-D", "DOCKER-USER", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT",
                 check=False).returncode == 0:
            pass
        if BASE_DIR.exists():  # rm is several times faster than shutil.rmtree on image layers
            sh("rm", "-rf", "--one-file-system", str(BASE_DIR), check=False, timeout=300)


def _netns_names() -> list[str]:
    out = sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _kill(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _stop_engine(node_dir: Path, netns: str) -> None:
    """SIGKILLs a node: the processes of its containers (found by their cgroups) and every process
    in its network namespace (dockerd, containerd, shims). Nothing in a test node needs a clean stop,
    and its mounts live in its own mount namespace, which goes with its last process."""
    ids = [p.name for p in (node_dir / "data" / "containers").glob("*")] if (node_dir / "data").exists() else []
    for cid in ids:
        for controller in Path("/sys/fs/cgroup").glob("*"):
            procs = controller / "docker" / cid / "cgroup.procs"
            if procs.exists():
                with contextlib.suppress(OSError, ValueError):
                    _kill([int(x) for x in procs.read_text().split()], signal.SIGKILL)
    if netns in _netns_names():
        out = sh("ip", "netns", "pids", netns, check=False).stdout
        _kill([int(x) for x in out.split()], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while sh("ip", "netns", "pids", netns, check=False).stdout.strip() and time.monotonic() < deadline:
            time.sleep(0.2)
    pid = None
    with contextlib.suppress(FileNotFoundError, ValueError):
        pid = int((node_dir / "docker.pid").read_text().strip())
    if pid and _pid_alive(pid):  # not in the namespace any more? (it always is; belt and braces)
        _kill([pid], signal.SIGKILL)
    time.sleep(0.3)
    for cid in ids:  # the empty cgroups of the node's containers
        for controller in Path("/sys/fs/cgroup").glob("*"):
            d = controller / "docker" / cid
            if d.is_dir():
                with contextlib.suppress(OSError):
                    d.rmdir()


# ------------------------------------------------------------------------------------------------
# HTTP through the proxy


@dataclass
class Response:
    status: int
    headers: dict
    body: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class WebClient:
    """HTTPS to one node's proxy: a cookie jar, optional basic auth, redirects not followed, any
    certificate accepted (stack/deploy's is self-signed)."""

    def __init__(self, base: str, auth: tuple[str, str] | None = None):
        self.base = base.rstrip("/")
        self.auth = auth
        self.jar = http.cookiejar.CookieJar()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  urllib.request.HTTPSHandler(context=ctx), _NoRedirect())

    def request(self, path: str, data: dict | None = None, auth: tuple[str, str] | None | bool = None,
                timeout: float = 30) -> Response:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method="POST" if data is not None else "GET")
        req.add_header("User-Agent", "swarmwatch-stack-e2e")
        credentials = self.auth if auth is None else (auth or None)
        if credentials:
            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return Response(r.status, dict(r.headers.items()), r.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers.items()), e.read().decode("utf-8", "replace"))


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_HOSTNAME = re.compile(r'<span id="hostname">([^<]*)</span>')
_ROW = re.compile(r'<tr data-id="(\d+)">(.*?)</tr>', re.S)
_ERROR = re.compile(r'<p class="error" data-field="([a-z_]+)">([^<]*)</p>')


def csrf_token(page: str) -> str:
    m = _CSRF.search(page)
    if not m:
        raise AssertionError(f"no CSRF token in the page: {page[:400]!r}")
    return html.unescape(m.group(1))


def served_by(page: str) -> str | None:
    m = _HOSTNAME.search(page)
    return html.unescape(m.group(1)) if m else None


def student_rows(page: str) -> dict[int, str]:
    """id -> the row's text (tags stripped, unescaped), from the list page."""
    return {int(m.group(1)): " ".join(html.unescape(re.sub(r"<[^>]+>", " ", m.group(2))).split())
            for m in _ROW.finditer(page)}


def field_errors(page: str) -> dict[str, str]:
    return {m.group(1): html.unescape(m.group(2)) for m in _ERROR.finditer(page)}


def nsenter_http(pid: int, url: str, timeout: float = 30) -> tuple[int, str]:
    """GET `url` from inside the network namespace of process `pid` (a container's), with the host's
    curl: for services that publish no port (Loki). Returns (HTTP status, body); the status is 0 when
    no answer came."""
    p = sh("nsenter", "-t", str(pid), "-n", "curl", "-sS", "--max-time", str(int(timeout)),
           "-w", "\n%{http_code}", url, timeout=timeout + 5, check=False)
    body, _, status = p.stdout.rpartition("\n")
    if p.returncode != 0:
        raise RuntimeError(f"GET {url} in the netns of pid {pid} failed: {p.stderr.strip()}")
    return int(status or 0), body


def nsenter_http_get(pid: int, url: str, timeout: float = 30) -> str:
    """The body of a 2xx answer to GET `url` in the netns of `pid` (see nsenter_http)."""
    status, body = nsenter_http(pid, url, timeout)
    if not 200 <= status < 300:
        raise RuntimeError(f"GET {url} in the netns of pid {pid} answered {status}: {body[:300]}")
    return body


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]

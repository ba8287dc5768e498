"""The agent's HTTP endpoints against what real clusters do to them: a thousand clients that connect
and say nothing and a thousand that stop in the middle of a request line (broken clients, port
scanners, half-open load balancer probes) must not keep Prometheus or the orchestrator's health
checks from an answer; HEAD is answered like GET without a body; a listen address that is not one is
refused at start (exit status 2, naming the setting as it was given) instead of binding something
else (999.0.0.1 used to bind 231.0.0.1).
"""

import os
import resource
import selectors
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import harness as h

HELD = 1000  # of each kind


def raise_open_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def hold_connections(port: int, count: int, send: bytes = b"") -> list[socket.socket]:
    """`count` connections to the agent, each having sent `send` and nothing more."""
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_WRITE)
        pending = len(socks)
        deadline = time.monotonic() + 20
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                sel.unregister(key.fileobj)
                pending -= 1
        if pending:
            raise AssertionError(f"{pending} of {count} connections did not complete in 20 s")
    for s in socks:
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise AssertionError(f"connect failed: {os.strerror(err)}")
        if send:
            s.send(send)
    return socks


def sockets_of(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


class HttpEndpointsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = raise_open_file_limit()  # the agent inherits it and sizes its limit from it
        h.ensure_engine()
        cls.tmp = tempfile.TemporaryDirectory(prefix=f"{h.RUN_TOKEN}-http-")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.agent = h.Agent("--docker-host", h.HOST_SOCKET,
                            "--positions-file", str(Path(cls.tmp.name) / "positions.json"))
        cls.addClassCleanup(cls.agent.kill)
        cls.agent.wait_ready(60)

    def answer_times(self, when: str) -> dict[str, float]:
        """GETs /metrics, /healthz and /ready, each on a new connection; asserts each is a 200
        within a second and returns the times."""
        times = {}
        for path in ("/metrics", "/healthz", "/ready"):
            try:
                r = self.agent.get(path, timeout=5)
            except OSError as e:  # urllib's timeout and connection errors
                self.fail(f"{path} {when}: no answer within 5 s ({e!r})")
            self.assertEqual(r.status, 200, f"{path} {when}")
            self.assertLess(r.seconds, 1.0, f"{path} {when}: answered in {r.seconds:.2f} s")
            times[path] = r.seconds
        print(f"  {when}: " + ", ".join(f"{p} {t * 1000:.1f} ms" for p, t in times.items()), flush=True)
        return times

    def test_answers_within_a_second_while_a_thousand_idle_and_a_thousand_half_sent_are_held(self):
        # Both ends of 2,000 connections in this machine's table, and the agent takes a quarter of
        # its limit for connections.
        if self.files < 8192:
            self.skipTest(f"needs an open file limit of 8192 (2,000 held connections); it is {self.files}")
        before = sockets_of(self.agent.pid)
        idle = hold_connections(self.agent.port, HELD)
        half_sent = hold_connections(self.agent.port, HELD, b"GET /metr")
        try:
            self.answer_times(f"with {HELD} idle and {HELD} half-sent connections held")
            # And the agent does hold them (they are not waiting in the kernel's listen backlog).
            h.wait_until(lambda: sockets_of(self.agent.pid) >= before + 2 * HELD, 5,
                         what="the agent to hold the 2,000 connections")
            self.assertIsNone(self.agent.proc.poll(), "the agent exited")
        finally:
            for s in idle + half_sent:
                s.close()
        self.answer_times("right after they closed")

    def test_head_answers_like_get_without_a_body(self):
        for path in ("/metrics", "/healthz"):
            req = urllib.request.Request(self.agent.url + path, method="HEAD")
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    self.assertEqual(r.read(), b"", path)
                    headers = dict(r.headers)
            except urllib.error.HTTPError as e:
                self.fail(f"HEAD {path} answered {e.code}")
            self.assertEqual(headers.get("Cache-Control"), "no-store", path)
            self.assertIn("Content-Length", headers, path)
            get = self.agent.get(path)
            self.assertEqual(headers.get("Content-Type"), get.headers.get("Content-Type"), path)
            if path == "/healthz":
                self.assertEqual(int(headers["Content-Length"]), len(get.body))
            else:  # a scrape's text changes between two scrapes; its size little
                self.assertGreater(int(headers["Content-Length"]), len(get.body) // 2)

    def test_a_listen_address_that_is_not_one_exits_2_naming_the_key(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWARMWATCH_")}
        for argv, extra_env, named in (
                (["--listen-address", "999.0.0.1:9480"], {}, '--listen-address: "999.0.0.1:9480"'),
                (["--listen-address", "127.0.0.1:70000"], {}, '--listen-address: "127.0.0.1:70000"'),
                ([], {"SWARMWATCH_LISTEN_ADDRESS": "1.2.3:9480"}, 'SWARMWATCH_LISTEN_ADDRESS: "1.2.3:9480"'),
                ([], {"SWARMWATCH_LISTEN_ADDRESS": "[::1:9480"}, 'SWARMWATCH_LISTEN_ADDRESS: "[::1:9480"')):
            # (An agent that does start must not touch the machine's default positions file.)
            p = subprocess.Popen([h.agent_binary(), "--docker-host", h.HOST_SOCKET, "--positions-file",
                                  str(Path(self.tmp.name) / "positions-bad.json"), *argv],
                                 env={**env, **extra_env}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            try:
                _, stderr = p.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                _, stderr = p.communicate()
                self.fail(f"{argv or extra_env}: still running after 15 s; stderr:\n{stderr}")
            self.assertEqual(p.returncode, 2, f"{argv or extra_env}: stderr:\n{stderr}")
            self.assertIn(named, stderr)


if __name__ == "__main__":
    unittest.main()

"""The built agent given bad configuration and Loki credentials in the URL (issue 15, defects 6 and
7): every bad value ends it with exit status 2 and a message naming the key as written, never an
abort; a user:password@ in SWARMWATCH_LOKI_URL is sent as basic auth and shown nowhere (stderr, the
status page), and giving it together with --loki-password (or the others) is refused.
"""

import base64
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import harness as h
from shipping import ShippingTest


def run_agent(*args: str, env: dict | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    """Runs the agent to its exit; one that starts (the value was taken) is killed and reported."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("SWARMWATCH_")}
    child_env.update(env or {})
    argv = [h.agent_binary(), "--listen-address", "127.0.0.1:0",
            "--docker-host", "unix:///nonexistent/docker.sock", *args]
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=child_env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"the agent started with {args} {env}: {e.stderr}") from None


class BadValuesTest(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix=f"{h.RUN_TOKEN}-config-"))
        self.addCleanup(shutil.rmtree, self.dir, True)

    def yaml(self, text: str) -> str:
        path = self.dir / f"config-{len(list(self.dir.iterdir()))}.yaml"
        path.write_text(text)
        return str(path)

    def assert_refused(self, args: list[str], named: str, env: dict | None = None) -> str:
        p = run_agent(*args, env=env)
        self.assertEqual(p.returncode, 2, f"{args} {env}: exit {p.returncode}; stderr:\n{p.stderr}")
        self.assertIn("swarmwatch: invalid configuration", p.stderr)
        self.assertIn(named, p.stderr, f"{args} {env}: the key is not named")
        self.assertNotIn("terminate called", p.stderr)
        return p.stderr

    def test_every_bad_value_exits_2_naming_the_key(self):
        directory = str(self.dir)
        cases = [
            (["--loki-max-retries", "99999999999"], "--loki-max-retries", None),
            ([], "SWARMWATCH_LOKI_MAX_RETRIES", {"SWARMWATCH_LOKI_MAX_RETRIES": "-3"}),
            (["--config", "."], "--config: .: cannot read the config file: is a directory", None),
            ([], "SWARMWATCH_CONFIG", {"SWARMWATCH_CONFIG": "/dev/zero"}),
            (["--config", self.yaml("loki_batch_bytes: [1, 2]\n")], "loki_batch_bytes", None),
            (["--config", self.yaml("loki_max_retries: 99999999999999999999999\n")],
             "loki_max_retries", None),
            (["--config", self.yaml("read_ahead_bytes: 99999999999999999999999GiB\n")],
             "read_ahead_bytes", None),
            (["--held-logs-bytes", "1TB"], "--held-logs-bytes", None),
            (["--held-logs-bytes", "0"], "--held-logs-bytes: 0 is below the minimum of 1MiB", None),
            ([], "SWARMWATCH_HELD_LOGS_BYTES", {"SWARMWATCH_HELD_LOGS_BYTES": "some"}),
            (["--config", self.yaml("- listen_address\n- ':1'\n")], "--config", None),
            (["--config", self.yaml("node_name: \"a\\0b\"\n")], "node_name", None),
            (["--config", self.yaml("node_name: a\n---\nnode_name: b\n")], "--config", None),
            (["--loki-url", "http://127.0.0.1:1/loki/api/v1/push", "--loki-username", "u",
              "--loki-password-file", directory], "--loki-password-file", None),
            (["--loki-url", "http://127.0.0.1:1/loki/api/v1/push", "--loki-timeout", "0s"],
             "--loki-timeout", None),
        ]
        for args, named, env in cases:
            with self.subTest(args=args, env=env):
                self.assert_refused(args, named, env)

    def test_url_credentials_with_a_password_setting_are_refused_naming_both(self):
        password_file = self.dir / "password"
        password_file.write_text("other-Zq9\n")
        url = "http://user:pw-Zq9@127.0.0.1:1/loki/api/v1/push"
        for args, env, other in [
            ([], {"SWARMWATCH_LOKI_URL": url, "SWARMWATCH_LOKI_PASSWORD": "other-Zq9"},
             "SWARMWATCH_LOKI_PASSWORD"),
            (["--loki-username", "bob"], {"SWARMWATCH_LOKI_URL": url}, "--loki-username"),
            (["--loki-url", url, "--loki-password-file", str(password_file)], {},
             "--loki-password-file"),
        ]:
            with self.subTest(other=other):
                stderr = self.assert_refused(args, other, env)
                self.assertTrue("SWARMWATCH_LOKI_URL" in stderr or "--loki-url" in stderr, stderr)
                self.assertNotIn("pw-Zq9", stderr)
                self.assertNotIn("other-Zq9", stderr)


class UrlCredentialsTest(ShippingTest):
    USER, PASSWORD = "swit-user", "p@ss:Zq9"  # in the URL as p%40ss%3AZq9

    def test_url_credentials_are_sent_as_basic_auth_and_shown_nowhere(self):
        url = (f"http://{self.USER}:p%40ss%3AZq9@127.0.0.1:{self.receiver.port}"
               "/loki/api/v1/push")
        agent = h.Agent("--docker-host", h.HOST_SOCKET, "--positions-file", str(self.positions),
                        env={"SWARMWATCH_LOKI_URL": url})
        self.addCleanup(agent.kill)
        agent.wait_ready(60)
        c = self.run_container("auth", ["sh", "-c", "echo hello from swit; sleep 3600"])
        self.wait_count(c.name, 1, 60, agent)
        expected = base64.b64encode(f"{self.USER}:{self.PASSWORD}".encode()).decode()
        self.assertEqual(self.receiver.stats()["last_request"]["authorization"], f"Basic {expected}")

        page = agent.get("/").text
        stderr = "\n".join(agent.stderr_lines)
        for where, text in (("the status page", page), ("stderr", stderr)):
            for secret in ("p%40ss%3AZq9", self.PASSWORD, "Zq9"):
                self.assertNotIn(secret, text, f"{where} shows the password")
        self.assertIn(f"http://***@127.0.0.1:{self.receiver.port}/loki/api/v1/push", page)
        self.assertIn(f"http://***@127.0.0.1:{self.receiver.port}/loki/api/v1/push", stderr)
        self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    unittest.main()

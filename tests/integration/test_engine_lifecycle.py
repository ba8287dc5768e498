"""The agent and the engine's life cycle: started before the engine exists, it serves /healthz and
answers /ready 503; once the socket appears it syncs; when the engine is killed and started again it
resyncs by itself; SIGTERM ends it promptly with status 0.

The engine restarted here is a private dockerd (scripts/ensure-docker --private: own data root, exec
root, pidfile and network namespace) so that killing it does not stop anyone's containers on the
host engine. Its containers share the host's cgroup tree, which also checks that the agent reports
only the containers of the engine it is pointed at.
"""

import os
import shutil
import signal
import tempfile
import time
import unittest
from pathlib import Path

import harness as h


class EngineLifecycleTest(unittest.TestCase):
    def setUp(self):
        h.ensure_engine()  # the host engine, for the "other engine" container
        self.engine = h.PrivateEngine()
        self.addCleanup(self.engine.close)
        self.link_dir = tempfile.mkdtemp(prefix="swit-lnk-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.link_dir, True)
        self.link = f"{self.link_dir}/docker.sock"

    def test_waits_for_engine_resyncs_after_restart_and_exits_on_sigterm(self):
        # 1. No engine at the configured socket yet: up, not ready.
        agent = h.Agent("--docker-host", f"unix://{self.link}")
        self.addCleanup(agent.kill)
        self.assertEqual(agent.get("/healthz").status, 200)
        for _ in range(8):  # stays 503 (not a transient answer)
            self.assertEqual(agent.get("/ready").status, 503, "ready without an engine")
            time.sleep(0.25)
        self.assertEqual(agent.get("/metrics").status, 200, "/metrics is served without an engine")

        # 2. The engine appears (a symlink to a live socket): the agent syncs and reports its containers.
        self.engine.start()
        private = h.Docker(self.engine.host)
        self.addCleanup(private.close)
        host = h.Docker()
        self.addCleanup(host.close)
        before = private.run("before", "--network", "none")
        elsewhere = host.run("elsewhere")  # same cgroup tree, other engine: must not be reported
        os.symlink(self.engine.socket, self.link)
        agent.wait_ready(60)
        scrape = agent.scrape_until(lambda s: before.cgroup_id in s.ids(), 20, what="the private engine's container in /metrics")
        self.assertNotIn(elsewhere.cgroup_id, scrape.ids(),
                         "a container of another engine (the host's) is reported")
        self.assertEqual(agent.get("/healthz").status, 200)

        # 3. The engine dies: the agent notices (not ready) and keeps serving.
        self.engine.kill(signal.SIGKILL)
        h.wait_until(lambda: agent.get("/ready").status == 503, 30,
                     what="/ready to answer 503 while the engine is down")
        self.assertEqual(agent.get("/healthz").status, 200)
        self.assertEqual(agent.get("/metrics").status, 200)

        # 4. The engine comes back: the agent resyncs by itself; containers started since appear,
        # the one the restart stopped disappears.
        self.engine.start()
        agent.wait_ready(60)
        after = private.run("after", "--network", "none")
        scrape = agent.scrape_until(lambda s: after.cgroup_id in s.ids(), 20, what="a container started after the engine restart in /metrics")
        self.assertEqual(private("inspect", "-f", "{{.State.Running}}", before.id), "false",
                         "a restarted engine without live-restore stops its containers")
        self.assertNotIn(before.cgroup_id, scrape.ids(), "a stopped container is still reported")
        self.assertNotIn(elsewhere.cgroup_id, scrape.ids())
        self.assertTrue(any(l for l in agent.stderr_lines), "the agent logs what happened")

        # 5. SIGTERM: clean exit, status 0, promptly.
        started = time.monotonic()
        status = agent.stop(timeout=10)
        self.assertEqual(status, 0, f"exit status after SIGTERM; stderr:\n{agent.log(20)}")
        self.assertLess(time.monotonic() - started, 5.0, "exit after SIGTERM took too long")


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""A replicated Swarm service: every task's series carries the Swarm labels, and a real Prometheus
scraping the agent answers the per-service CPU query dashboards use. The manager's Swarm view:
task counts, each service's reservations and limits, each node's capacity, as Docker states them.

The engine's Swarm state is restored: if this test had to `docker swarm init`, it leaves the swarm
again at the end, unless someone else created services on it meanwhile.

test_v2_host.py runs the same on a cgroup v2 + systemd host (a QEMU guest) by overriding the hooks
at the top of the class.
"""

import json
import time
import unittest

import harness as h

REPLICAS = 3
CPU_LIMIT = 0.05  # per task; each task spins, so the service uses ~REPLICAS * CPU_LIMIT cores
CPU_RESERVATION = 0.04  # per task: what it uses (its limit) exceeds it
SERVICE_LABELS = (
    "container_label_com_docker_swarm_service_name",
    "container_label_com_docker_swarm_task_name",
    "container_label_com_docker_swarm_node_id",
    "container_label_com_docker_stack_namespace",
)


class SwarmTest(h.SwarmEngineTest):
    """On this machine's engine, the agent a host process."""

    cgroup_id = "/docker/{id}"  # where that engine puts a container's cgroup (the `id` label)
    slow = 1  # how many times longer than here the engine's machine takes: waits only

    @classmethod
    def start_agent(cls) -> h.Agent:
        """The agent watching that engine, ready."""
        agent = h.Agent("--docker-host", h.HOST_SOCKET)
        cls.addClassCleanup(agent.kill)
        agent.wait_ready(60)
        return agent

    @classmethod
    def setUpClass(cls):
        cls.prepare_engine()
        cls.node_id = cls.d("info", "--format", "{{.Swarm.NodeID}}")

        cls.docker = h.Docker(cls.docker_host, cls.cgroup_id)
        cls.addClassCleanup(cls.docker.close)
        cls.stack = h.unique("stack")
        # Labelled as `docker stack deploy` labels a stack's service and its containers, so that
        # the two join on (stack, service).
        cls.service = cls.docker.service(
            "svc", "--replicas", str(REPLICAS), "--endpoint-mode", "dnsrr", "--no-resolve-image",
            "--limit-cpu", str(CPU_LIMIT), "--reserve-cpu", str(CPU_RESERVATION),
            "--container-label", f"com.docker.stack.namespace={cls.stack}",
            "--label", f"com.docker.stack.namespace={cls.stack}",
            h.IMAGE, "sh", "-c", "while :; do :; done")

        def running_tasks():
            ids = cls.d("ps", "-q", "--no-trunc", "--filter",
                        f"label=com.docker.swarm.service.name={cls.service}").split()
            return ids if len(ids) == REPLICAS else None

        cls.task_ids = h.wait_until(running_tasks, 90 * cls.slow, interval=1, what=f"{REPLICAS} running tasks")
        cls.tasks = {cid: json.loads(cls.d("inspect", cid))[0] for cid in cls.task_ids}

        cls.agent = cls.start_agent()

    def patience(self, seconds: float) -> float:
        return seconds * self.slow

    def task_cgroup(self, cid: str) -> str:
        return self.cgroup_id.format(id=cid)

    def test_every_task_carries_swarm_labels(self):
        wanted = {self.task_cgroup(cid) for cid in self.task_ids}
        scrape = self.agent.scrape_until(lambda s: wanted <= s.ids(), self.patience(30),
                                         what="all task containers in /metrics")
        for cid, info in self.tasks.items():
            labels = info["Config"]["Labels"]
            series = scrape.series_of(self.task_cgroup(cid))
            cpu = [s for s in series if s.name == "container_cpu_usage_seconds_total"]
            self.assertEqual(len(cpu), 1, f"one cpu usage series for task {cid[:12]}")
            for s in series:
                if s.name.startswith("machine_"):
                    continue
                self.assertEqual(s.labels.get("container_label_com_docker_swarm_service_name"),
                                 self.service, f"{s.name} of task {cid[:12]}")
                self.assertEqual(s.labels.get("container_label_com_docker_swarm_task_name"),
                                 labels["com.docker.swarm.task.name"], f"{s.name} of task {cid[:12]}")
                self.assertEqual(s.labels.get("container_label_com_docker_swarm_node_id"),
                                 self.node_id, f"{s.name} of task {cid[:12]}")
                self.assertEqual(s.labels.get("container_label_com_docker_stack_namespace"),
                                 self.stack, f"{s.name} of task {cid[:12]}")
                self.assertEqual(s.labels.get("name"), info["Name"].lstrip("/"))
        # Task names are <service>.<slot>.<task id>: one per slot.
        slots = sorted(int(i["Config"]["Labels"]["com.docker.swarm.task.name"].split(".")[1])
                       for i in self.tasks.values())
        self.assertEqual(slots, list(range(1, REPLICAS + 1)))

    def test_manager_exports_desired_and_running_tasks_and_nodes(self):
        # Services of this test's own, so that scaling does not disturb the class's service.
        replicated = self.docker.service("rep", "--replicas", "2", "--no-resolve-image",
                                         "--container-label", f"com.docker.stack.namespace={self.stack}",
                                         "--label", f"com.docker.stack.namespace={self.stack}",
                                         h.IMAGE, "sleep", "3600")
        global_ = self.docker.service("glob", "--mode", "global", "--no-resolve-image",
                                      h.IMAGE, "sleep", "3600")
        self.agent.scrape_until(
            lambda s: s.value("swarm_service_desired_tasks", service=replicated, stack=self.stack,
                              mode="replicated") == 2
            and s.value("swarm_service_running_tasks", service=replicated, stack=self.stack) == 2
            and s.value("swarm_service_desired_tasks", service=global_, mode="global") == 1
            and s.value("swarm_service_running_tasks", service=global_) == 1, self.patience(60),
            what=f"2/2 tasks of {replicated} and 1/1 of the global {global_}")
        scrape = self.agent.scrape()
        self.assertEqual(scrape.value("swarm_service_desired_tasks", service=self.service), REPLICAS)
        node = self.d("info", "--format", "{{.Name}}")
        self.assertEqual(scrape.value("swarm_node_info", node=node, node_id=self.node_id,
                                      role="manager", availability="active", state="ready"), 1)

        # Scaled down, the service wants fewer; the running count follows as the task stops.
        self.d("service", "scale", "--detach", f"{replicated}=1")
        self.agent.scrape_until(
            lambda s: s.value("swarm_service_desired_tasks", service=replicated) == 1
            and s.value("swarm_service_running_tasks", service=replicated) == 1, self.patience(60),
            what=f"{replicated} scaled to 1")

        # Removed, the service and its task's series go: they are read at scrape time.
        def task_ids(s: h.Scrape) -> set[str]:
            return {x.labels["id"] for x in s.select("container_cpu_usage_seconds_total", cpu="total")
                    if x.labels.get("container_label_com_docker_swarm_service_name") == replicated}
        ids = task_ids(self.agent.scrape())  # the stopping one may still be there
        self.assertTrue(ids, f"no task of {replicated} in /metrics")
        self.d("service", "rm", replicated)
        self.agent.scrape_until(
            lambda s: not (s.ids() & ids) and not s.select("swarm_service_desired_tasks", service=replicated),
            self.patience(60), what=f"the series of {replicated} and its task to go")

    def test_manager_exports_reservations_limits_and_node_capacity(self):
        # The figures come from the service's spec, not its tasks: whether the engine can place a
        # 256 MiB reservation (this machine, the v2 guest) does not matter, so the test waits for
        # no task.
        sized = self.docker.service("sized", "--replicas", "1", "--no-resolve-image",
                                    "--reserve-cpu", "0.25", "--reserve-memory", "256M",
                                    "--limit-cpu", "0.5", "--limit-memory", "512M",
                                    "--label", f"com.docker.stack.namespace={self.stack}",
                                    h.IMAGE, "sleep", "3600")
        bare = self.docker.service("bare", "--replicas", "1", "--no-resolve-image",
                                   h.IMAGE, "sleep", "3600")
        # The Swarm view is read at most every 5 s: wait until both services are in it.
        scrape = self.agent.scrape_until(
            lambda s: s.select("swarm_service_desired_tasks", service=bare)
            and s.select("swarm_service_reservation_cpu_cores", service=sized), self.patience(60),
            what=f"{bare} and the reservation of {sized} in /metrics")

        def docker_says(service: str) -> dict[str, float]:
            """`docker service inspect`'s figures under the metric names: cores and bytes."""
            spec = json.loads(self.d("service", "inspect", service))[0]["Spec"]
            resources = spec["TaskTemplate"].get("Resources") or {}
            figures = {}
            for kind, key in (("reservation", "Reservations"), ("limit", "Limits")):
                given = resources.get(key) or {}
                if "NanoCPUs" in given:
                    figures[f"swarm_service_{kind}_cpu_cores"] = given["NanoCPUs"] / 1e9
                if "MemoryBytes" in given:
                    figures[f"swarm_service_{kind}_memory_bytes"] = given["MemoryBytes"]
            return figures

        families = [f"swarm_service_{kind}_{unit}" for kind in ("reservation", "limit")
                    for unit in ("cpu_cores", "memory_bytes")]
        expected = docker_says(sized)
        # What the flags asked for, so that a `docker_says` reading nothing cannot pass.
        self.assertEqual(expected, {
            "swarm_service_reservation_cpu_cores": 0.25,
            "swarm_service_reservation_memory_bytes": 256 * 2**20,
            "swarm_service_limit_cpu_cores": 0.5,
            "swarm_service_limit_memory_bytes": 512 * 2**20})
        for name in families:
            found = scrape.select(name, service=sized)
            self.assertEqual(len(found), 1, f"{name} of {sized}: {found}")
            self.assertEqual(found[0].labels, {"service": sized, "stack": self.stack}, name)
            self.assertEqual(found[0].value, expected[name], name)
            self.assertEqual(scrape.types.get(name), "gauge", name)
            # Unset is absent, not 0.
            self.assertEqual(scrape.select(name, service=bare), [], f"{name} of {bare}")
        self.assertEqual(docker_says(bare), {})

        # The class's service reserves and limits CPU, not memory: those figures alone.
        cpu_only = {"swarm_service_reservation_cpu_cores": CPU_RESERVATION,
                    "swarm_service_limit_cpu_cores": CPU_LIMIT}
        self.assertEqual(docker_says(self.service), cpu_only)
        for name in families:
            found = [x.value for x in scrape.select(name, service=self.service, stack=self.stack)]
            self.assertEqual(found, [cpu_only[name]] if name in cpu_only else [], name)

        # The node offers the scheduler what its engine counts: `docker node inspect`'s figures.
        node = json.loads(self.d("node", "inspect", "self"))[0]
        offered = node["Description"]["Resources"]
        self.assertGreater(offered["NanoCPUs"], 0)
        self.assertGreater(offered["MemoryBytes"], 0)
        labels = {"node": node["Description"]["Hostname"], "node_id": self.node_id}
        self.assertEqual(scrape.value("swarm_node_capacity_cpu_cores", **labels),
                         offered["NanoCPUs"] / 1e9)
        self.assertEqual(scrape.value("swarm_node_capacity_memory_bytes", **labels),
                         offered["MemoryBytes"])
        self.assertEqual(len(scrape.select("swarm_node_capacity_cpu_cores")), 1)

        # Changed, the figure follows; removed, the service's series go.
        self.d("service", "update", "--detach", "--reserve-cpu", "0.3", "--reserve-memory", "0", sized)
        self.agent.scrape_until(
            lambda s: s.select("swarm_service_reservation_cpu_cores", service=sized)
            and s.value("swarm_service_reservation_cpu_cores", service=sized) == 0.3
            and not s.select("swarm_service_reservation_memory_bytes", service=sized),
            self.patience(60), what=f"{sized}'s reservation updated to 0.3 cores and no memory")
        self.d("service", "rm", sized, bare)
        self.agent.scrape_until(
            lambda s: not any(s.select(name, service=sized) for name in families),
            self.patience(60), what=f"the series of {sized} to go")

    def test_prometheus_per_service_cpu_rate(self):
        prom = h.Prometheus([self.agent.url.removeprefix("http://")], interval="1s")
        self.addCleanup(prom.close)
        h.wait_until(lambda: any(t["health"] == "up" for t in prom.targets()), self.patience(30),
                     what=f"prometheus to scrape the agent (log:\n{prom.log()})")
        query = ("sum by (container_label_com_docker_swarm_service_name) "
                 "(rate(container_cpu_usage_seconds_total[1m]))")

        def ours():
            for r in prom.query(query):
                if r["metric"].get("container_label_com_docker_swarm_service_name") == self.service:
                    return float(r["value"][1])
            return None

        h.wait_until(lambda: ours() is not None and ours() > 0, self.patience(60), interval=1,
                     what=f"{self.service} with a rate > 0 in {query}")
        cap = REPLICAS * CPU_LIMIT
        # rate() divides by the whole [1m] window even while the series is younger than that,
        # so the 1m figure only reaches the service's usage after a minute: bound it from above
        # here, and check the level with a window the series already fills.
        self.assertLess(ours(), cap * 1.3, f"{query} for {self.service}, cap {cap}")
        time.sleep(6)
        level_query = ("sum by (container_label_com_docker_swarm_service_name) (rate(container_cpu_usage_seconds_total"
                       f'{{container_label_com_docker_swarm_service_name="{self.service}"}}[5s]))')
        result = prom.query(level_query)
        self.assertEqual(len(result), 1, f"{level_query} -> {result}")
        value = float(result[0]["value"][1])
        # Each task spins under a CFS cap, so the service uses ~cap cores; a busy 2-core machine
        # may give it less, rate() extrapolation may overshoot a little.
        self.assertGreater(value, cap * 0.3, f"{level_query} = {value}, cap {cap}")
        self.assertLess(value, cap * 1.3, f"{level_query} = {value}, cap {cap}")

        # README's join of used and reserved per service, on a window the series already fills:
        # the busiest task spins at its limit, above its reservation.
        used = ("rate(container_cpu_usage_seconds_total"
                f'{{container_label_com_docker_swarm_service_name="{self.service}"}}[5s])')
        join = ("max by (stack, service) (label_replace(label_replace("
                f'{used}, "service", "$1", "container_label_com_docker_swarm_service_name", "(.+)"),'
                ' "stack", "$1", "container_label_com_docker_stack_namespace", "(.*)"))'
                " / on (stack, service)"
                " max by (stack, service) (swarm_service_reservation_cpu_cores)")
        result = prom.query(join)
        self.assertEqual([r["metric"] for r in result],
                         [{"service": self.service, "stack": self.stack}], f"{join} -> {result}")
        ratio = float(result[0]["value"][1])
        cap = CPU_LIMIT / CPU_RESERVATION
        self.assertGreater(ratio, cap * 0.3, f"{join} = {ratio}, at most {cap}")
        self.assertLess(ratio, cap * 1.3, f"{join} = {ratio}, at most {cap}")
        # README's `unless`: a service without a memory limit (this one) is listed by it.
        unlimited = ("max by (stack, service) (swarm_service_desired_tasks) unless on (stack, service)"
                     " swarm_service_limit_memory_bytes")
        self.assertIn({"service": self.service, "stack": self.stack},
                      [r["metric"] for r in prom.query(unlimited)], unlimited)
        with_limit = unlimited.replace("limit_memory_bytes", "limit_cpu_cores")
        self.assertNotIn({"service": self.service, "stack": self.stack},
                         [r["metric"] for r in prom.query(with_limit)], with_limit)

        count = prom.query('count(container_cpu_usage_seconds_total'
                           f'{{container_label_com_docker_swarm_service_name="{self.service}"}})')
        self.assertEqual(int(count[0]["value"][1]), REPLICAS)
        stacks = prom.query('sum by (container_label_com_docker_stack_namespace) '
                            f'(container_memory_working_set_bytes{{container_label_com_docker_stack_namespace="{self.stack}"}})')
        self.assertEqual(len(stacks), 1)
        self.assertGreater(float(stacks[0]["value"][1]), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)

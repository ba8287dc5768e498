"""A real cgroup v2 + systemd + Docker host for the tests: the Debian 12 guest that
tests/v2guest/build-image builds, booted under QEMU (software emulation: no KVM needed).

    with V2Guest() as guest:          # builds the image when its inputs changed, boots, waits
        guest.ssh("cat /proc/meminfo")
        d = h.Docker(guest.docker_host)     # the outer docker CLI drives the guest's dockerd
        agent = guest.start_agent("--log-level", "info")   # the agent built here, run in there
        agent.scrape()

The agent goes in with the shared libraries it links against, except glibc's (the guest is
Debian 12 too and has the same), through the guest's 9p share, and runs there with
LD_LIBRARY_PATH: the binary under test is the one built on this machine, not one built again in
the guest (that would take the emulated CPU ~half an hour).

Ports: QEMU forwards ephemeral ports of this machine's loopback to the guest's ssh (22), agent
(9480), dockerd (2375) and 8080 (for a service a test publishes). From the guest, this machine's loopback is 10.0.2.2 (a Loki or a
receiver listening on 127.0.0.1 here is reached there).

Everything is bounded in time and undone on failure: a guest that does not answer within its
timeout is killed, its overlay disk (the image itself stays pristine) and share removed.
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import harness as h

STATE_DIR = Path(os.environ.get("SWARMWATCH_V2GUEST_DIR", "/var/cache/swarmwatch-v2guest"))
BUILD_IMAGE = h.REPO / "tests" / "v2guest" / "build-image"
GUEST_AGENT_PORT = 9480
GUEST_WEB_PORT = 8080  # for a service the tests publish there
# The loopback of this machine, seen from the guest (QEMU's user network).
OUTER_HOST = "10.0.2.2"
GLIBC = ("libc.so", "libm.so", "ld-linux", "libpthread.so", "libdl.so", "librt.so", "libresolv.so")


def _die_with_parent() -> None:
    """In the QEMU child before exec: killed when the test process dies, even by SIGKILL (a
    ctest timeout), rather than left running an emulated CPU through the rest of the suite."""
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def missing() -> str | None:
    """Why the guest cannot run here, or None."""
    for tool, package in (("qemu-system-x86_64", "qemu-system-x86"), ("qemu-img", "qemu-utils"),
                          ("debootstrap", "debootstrap"), ("ssh", "openssh-client")):
        if shutil.which(tool) is None:
            return f"{tool} is missing (Debian package {package}; scripts/install-deps --test installs it)"
    if os.geteuid() != 0:
        return "building the guest's image needs root (debootstrap, chroot)"
    return None


def build_image(timeout: float = 1800) -> float:
    """Builds or reuses the image; returns the seconds it took."""
    start = time.monotonic()
    p = subprocess.run([str(BUILD_IMAGE), str(STATE_DIR)], capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"tests/v2guest/build-image failed ({p.returncode}):\n{p.stdout[-2000:]}"
                           f"\n{p.stderr[-3000:]}")
    return time.monotonic() - start


class V2Guest(h.Host):
    """Also the h.Host whose kernel files the tests compare the agent's figures with."""

    def __init__(self, memory_mib: int = 2048, cpus: int = 2, boot_timeout: float = 600):
        super().__init__()
        self.memory_mib, self.cpus, self.boot_timeout = memory_mib, cpus, boot_timeout
        self.dir = Path(tempfile.mkdtemp(prefix=f"{h.RUN_TOKEN}-v2guest-"))
        self.share = self.dir / "share"
        self.share.mkdir()
        self.ssh_port, self.agent_port, self.docker_port, self.web_port = (h.free_port() for _ in range(4))
        self.proc: subprocess.Popen | None = None
        self.console = self.dir / "console.log"
        self.timings: dict[str, float] = {}

    def __enter__(self) -> V2Guest:
        try:
            self.boot()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------
    @property
    def docker_host(self) -> str:
        return f"tcp://127.0.0.1:{self.docker_port}"

    @property
    def agent_url(self) -> str:
        return f"http://127.0.0.1:{self.agent_port}"

    def ssh_argv(self, command: str) -> list[str]:
        return ["ssh", "-p", str(self.ssh_port), "-i", str(STATE_DIR / "id_ed25519"),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-o", "BatchMode=yes",
                "-o", "ServerAliveInterval=10", "root@127.0.0.1", command]

    def ssh(self, command: str, check: bool = True, timeout: float = 120) -> str:
        """Runs a shell command in the guest; its stdout."""
        p = subprocess.run(self.ssh_argv(command), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"in the guest: {command!r} exited {p.returncode}: "
                               f"{p.stderr.strip()[-1000:]}")
        return p.stdout

    def read(self, path: str) -> str:
        return self.ssh(f"cat {shlex.quote(path)}")

    def ensure_swarm_manager(self) -> None:
        """The guest's engine a single-node Swarm manager (left as it is: the guest is thrown
        away)."""
        if self.ssh("docker info --format '{{.Swarm.LocalNodeState}}'").strip() != "active":
            self.ssh("docker swarm init --advertise-addr 127.0.0.1 >/dev/null")

    def read_text(self, path: str | Path) -> str:
        p = subprocess.run(self.ssh_argv(f"cat {shlex.quote(str(path))}"), capture_output=True,
                           text=True, timeout=120)
        if p.returncode == 255:  # ssh's own failure, not cat's
            raise RuntimeError(f"ssh to the guest failed: {p.stderr.strip()[-1000:]}")
        if p.returncode != 0:
            raise FileNotFoundError(f"in the guest: {path}: {p.stderr.strip()}")
        return p.stdout

    def cpu_count(self) -> int:
        return int(self.ssh("nproc"))

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> None:
        self.ssh(f"kill -{int(sig)} {int(pid)}")

    # ---------------------------------------------------------------------------------------
    def boot(self) -> None:
        self.timings["image_s"] = build_image()
        overlay = self.dir / "overlay.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        str(STATE_DIR / "rootfs.img"), str(overlay)], check=True, timeout=60)
        forwards = (f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22,"
                    f"hostfwd=tcp:127.0.0.1:{self.agent_port}-:{GUEST_AGENT_PORT},"
                    f"hostfwd=tcp:127.0.0.1:{self.docker_port}-:2375,"
                    f"hostfwd=tcp:127.0.0.1:{self.web_port}-:{GUEST_WEB_PORT}")
        accel = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg,thread=multi"
        argv = ["qemu-system-x86_64", "-machine", "q35", "-accel", accel,
                "-smp", str(self.cpus), "-m", str(self.memory_mib),
                "-kernel", str(STATE_DIR / "vmlinuz"), "-initrd", str(STATE_DIR / "initrd.img"),
                "-append", "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 psi=1 "
                           "apparmor=0 mitigations=off quiet",
                "-drive", f"file={overlay},format=qcow2,if=virtio,cache=unsafe",
                "-netdev", f"user,id=n0,{forwards}", "-device", "virtio-net-pci,netdev=n0",
                "-virtfs", f"local,path={self.share},mount_tag=share,security_model=none,id=share",
                "-device", "virtio-rng-pci", "-display", "none", "-serial", f"file:{self.console}",
                "-monitor", "none"]
        start = time.monotonic()
        with open(self.dir / "qemu.log", "w") as qemu_log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=qemu_log, preexec_fn=_die_with_parent)

        def docker_answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qemu exited {self.proc.returncode}: "
                                   f"{(self.dir / 'qemu.log').read_text()[-2000:]}\n{self.console_tail()}")
            try:
                # Before the guest has an address, QEMU accepts the connection and ssh can hang.
                return subprocess.run(self.ssh_argv("docker info >/dev/null 2>&1"), timeout=20,
                                      capture_output=True).returncode == 0
            except subprocess.TimeoutExpired:
                return False
        try:
            h.wait_until(docker_answers, self.boot_timeout, interval=3,
                         what="the guest's dockerd to answer through ssh")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.console_tail()}") from None
        self.timings["boot_s"] = time.monotonic() - start
        self.ssh("docker image inspect busybox:local >/dev/null 2>&1 || "
                 "docker import /opt/busybox-rootfs.tar busybox:local >/dev/null", timeout=300)

    def console_tail(self, lines: int = 40) -> str:
        try:
            text = self.console.read_text(errors="replace")
        except OSError:
            return "(no console log)"
        return "guest console:\n" + "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # The overlay is thrown away: a hard stop loses nothing.
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---------------------------------------------------------------------------------------
    def install_agent(self, binary: str | None = None) -> str:
        """Copies the agent and its shared libraries (glibc's aside) into the share; the guest path
        of a wrapper that runs it."""
        binary = binary or h.agent_binary()
        target = self.share / "agent"
        (target / "lib").mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, target / "swarmwatch")
        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
        for line in ldd.splitlines():
            parts = line.split("=>")
            if len(parts) != 2 or not parts[1].strip().startswith("/"):
                continue
            name, path = parts[0].strip(), parts[1].split()[0]
            if not name.startswith(GLIBC):
                shutil.copy2(path, target / "lib" / name)
        wrapper = target / "run"
        wrapper.write_text("#!/bin/sh\nmkdir -p /var/lib/swarmwatch\n"
                           "LD_LIBRARY_PATH=/mnt/share/agent/lib exec /mnt/share/agent/swarmwatch \"$@\"\n")
        wrapper.chmod(0o755)
        return "/mnt/share/agent/run"

    def start_agent(self, *args: str, start_timeout: float = 120) -> GuestAgent:
        return GuestAgent(self, self.install_agent(), *args, start_timeout=start_timeout)


class GuestAgent(h.Agent):
    """The agent running in the guest, in the foreground of an ssh session whose stderr is its
    log; scraped through the forwarded port."""

    LISTENING = re.compile(r"listening on http://[^ ]+:(\d+)")

    def __init__(self, guest: V2Guest, wrapper: str, *args: str, start_timeout: float = 120):
        self.guest = guest
        command = " ".join(shlex.quote(a) for a in
                           [wrapper, "--listen-address", f"0.0.0.0:{GUEST_AGENT_PORT}", *args])
        super().__init__(start_timeout=start_timeout, argv=guest.ssh_argv(f"exec {command}"))

    @property
    def url(self) -> str:
        return self.guest.agent_url

    def signal(self, sig: int) -> None:
        """To the agent in the guest, not to the ssh session."""
        self.guest.ssh(f"pkill -{int(sig)} -x swarmwatch", check=False, timeout=30)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait(30)

    # Each thread of the agent in the guest: name, state, wait channel; then the listening
    # socket's queue (a full one: no thread accepts) and the kernel's last words (an OOM kill).
    GUEST_THREADS = ("p=$(pidof -s swarmwatch) || { echo 'no swarmwatch process in the guest'; exit 0; }; "
                     "for t in /proc/$p/task/*; do echo \"$(cat $t/comm) $(cut -d' ' -f3 $t/stat) "
                     "$(cat $t/wchan)\"; done")

    def diagnosis(self) -> str:
        """super's, plus what the guest says: the agent there is not this machine's process (the
        ssh session's status is 255 when the connection, not the agent, ended)."""
        try:
            guest = self.guest.ssh(f"{self.GUEST_THREADS}; ss -ltn 'sport = :{GUEST_AGENT_PORT}'; "
                                   "dmesg | tail -n 20", check=False, timeout=60)
        except subprocess.TimeoutExpired:
            guest = "(the guest did not answer within 60 s)"
        status = self.proc.poll()
        if status is not None:
            self._reader.join(5)
            local = f"the ssh session of the agent ended with status {status}; the end of its log:\n{self.log(40)}"
        else:
            local = f"the ssh session of the agent runs; the end of its log:\n{self.log(20)}"
        return f"{local}\nin the guest:\n{guest}"

    def kill(self) -> None:
        try:
            self.signal(signal.SIGKILL)
        except subprocess.TimeoutExpired:
            pass
        super().kill()

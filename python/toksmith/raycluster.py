"""A small real Ray cluster on this machine (127.0.0.1 only), for tests and benchmarks.

`ray start --head` and `ray start --address` for each further node, each run with `--block` as a child process
in its own session, so that stopping the cluster signals exactly the processes this object started (never
`ray stop`, which would stop every Ray on the machine). The cluster uses Ray's token authentication with a
fresh random token; `start()` puts it (and `RAY_AUTH_MODE=token`) into this process's environment so that a
driver started here can connect, and `stop()` restores the environment. Usage::

    with LocalRayCluster(nodes=2, cpus_per_node=1) as cluster:
        toksmith.train(files, engine="ray", address=cluster.address)
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `ray start` on Linux rewrites 127.0.0.1 to the machine's outward address (it assumes nodes on other machines)
# unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which in turn refuses to start a second node. So each node runs
# `ray start` through this shim: the environment keeps every Ray process on loopback, and the shim lets the
# second node join and resolves its own address to 127.0.0.1.
_LOOPBACK = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_SHIM = """
import sys
import ray._private.ray_constants as c
import ray._private.services as s
c.ENABLE_RAY_CLUSTER = True
s.get_node_ip_address = lambda address=None: "127.0.0.1"
from ray.scripts.scripts import main
sys.argv = ["ray", *sys.argv[1:]]
main()
"""


def _ray_start() -> list[str]:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RuntimeError("ray is not installed (pip install 'toksmith[ray]')") from None
    return [sys.executable, "-c", _SHIM, "start"]


def _refresh_ray_config() -> None:
    """Ray reads RAY_AUTH_MODE and the loopback switch when it is imported: re-read them if it already was."""
    if "ray" in sys.modules:
        import ray._private.ray_constants as c

        c.ENABLE_RAY_CLUSTER = os.environ.get(_LOOPBACK, "1").lower() not in ("0", "false")
        try:
            from ray._raylet import Config  # Ray versions with token authentication

            Config.initialize("")
        except (ImportError, AttributeError):
            pass


class LocalRayCluster:
    """`nodes` Ray nodes on 127.0.0.1, each with `cpus_per_node` CPUs and the given memory (bytes)."""

    def __init__(
        self,
        nodes: int = 2,
        cpus_per_node: int = 1,
        memory_per_node: int = 1 << 30,
        object_store_memory: int = 200 << 20,
        env: dict[str, str] | None = None,
    ) -> None:
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self.memory_per_node = memory_per_node
        self.object_store_memory = object_store_memory
        self.auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", _LOOPBACK: "0", **self.auth, **(env or {})}
        self._saved_env: dict[str, str | None] = {}
        self.port = 0
        self.temp_dir = ""
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _spawn(self, args: list[str], name: str) -> None:
        log = Path(self.temp_dir) / f"{name}.log"
        self.logs.append(log)
        with open(log, "wb") as f:
            p = subprocess.Popen(
                [*_ray_start(), "--block", *args],
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        self.procs.append(p)

    def _common(self) -> list[str]:
        return [
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.cpus_per_node}",
            "--num-gpus=0",
            f"--memory={self.memory_per_node}",
            f"--object-store-memory={self.object_store_memory}",
            "--disable-usage-stats",
            f"--dashboard-agent-listen-port={free_port()}",
        ]

    def start(self, timeout: float = 120.0) -> LocalRayCluster:
        self.temp_dir = tempfile.mkdtemp(prefix="tsray-", dir="/tmp")
        self.port = free_port()
        # Drivers started in this process connect over loopback with the cluster's token.
        for k, v in {**self.auth, _LOOPBACK: "0"}.items():
            self._saved_env[k] = os.environ.get(k)
            os.environ[k] = v
        _refresh_ray_config()
        try:
            self._spawn(
                [
                    "--head",
                    f"--port={self.port}",
                    f"--ray-client-server-port={free_port()}",
                    f"--dashboard-port={free_port()}",
                    "--include-dashboard=false",
                    "--dashboard-host=127.0.0.1",
                    f"--temp-dir={self.temp_dir}",
                    *self._common(),
                ],
                "head",
            )
            self._wait_port(timeout)
            for i in range(1, self.nodes):
                self._spawn([f"--address={self.address}", *self._common()], f"node{i}")
            self._wait_nodes(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _check_alive(self) -> None:
        for p, log in zip(self.procs, self.logs):
            if p.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"`ray start` exited with {p.returncode}:\n{tail}")

    def _wait_port(self, timeout: float) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the Ray head did not open port {self.port} within {timeout:.0f} s")

    def _wait_nodes(self, timeout: float) -> None:
        import ray

        t0 = time.monotonic()
        ray.init(address=self.address, log_to_driver=False, logging_level="ERROR", _node_ip_address="127.0.0.1")
        try:
            while time.monotonic() - t0 < timeout:
                self._check_alive()
                alive = [n for n in ray.nodes() if n.get("Alive")]
                cpus = ray.cluster_resources().get("CPU", 0)
                if len(alive) >= self.nodes and cpus >= self.nodes * self.cpus_per_node:
                    return
                time.sleep(0.3)
            raise RuntimeError(f"only {len(alive)} of {self.nodes} Ray nodes joined within {timeout:.0f} s")
        finally:
            ray.shutdown()

    def process_groups(self) -> list[int]:
        return [p.pid for p in self.procs]

    def pids(self) -> dict[int, str]:
        """{pid: command line} of the processes of this cluster: those in the process groups of the `ray start`
        commands, and their children (Ray puts each worker in a session of its own, as a child of a raylet)."""
        groups = set(self.process_groups())
        procs: dict[int, tuple[int, int, str]] = {}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except (OSError, ValueError):
                continue
            procs[int(d.name)] = (int(fields[1]), int(fields[2]), cmd)  # ppid, pgid, cmdline
        ours = {pid for pid, (_, pgid, _) in procs.items() if pgid in groups}
        ours |= {pid for pid, (ppid, _, _) in procs.items() if ppid in ours}
        return {pid: procs[pid][2] for pid in sorted(ours)}

    def worker_pids(self, title_prefix: str = "ray::") -> list[int]:
        """Processes of this cluster whose title starts with `title_prefix` (a task's title is `ray::NAME`)."""
        return [pid for pid, cmd in self.pids().items() if cmd.startswith(title_prefix)]

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the nodes (workers first, head last): SIGTERM to each `ray start --block`, which stops what it
        started; then SIGKILL to whatever is left of this cluster's processes."""
        leftovers = self.pids() if self.procs else {}
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                    p.wait(timeout=timeout)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    pass
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for pid, cmd in leftovers.items():  # workers (own sessions) that outlived their raylet
            try:
                now = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                if now == cmd:  # still the same process, not a reused pid
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        self.procs = []
        for k, old in self._saved_env.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old
        self._saved_env = {}
        _refresh_ray_config()
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""A PostgreSQL cluster of a test's own, in a temporary folder, that the test may stop and start
(never the shared server of RECSYS_TEST_POSTGRES_URL). It listens on a unix socket in its folder
only. initdb refuses to run as root, so as root the cluster belongs to the `postgres` user."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PORT = 5432  # of the socket's name only: the folder is private, nothing else listens there


def binaries() -> Path | None:
    """The newest PostgreSQL's bin folder (Debian's layout, as .ci/postgres.sh finds it)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda path: [int(part) for part in re.findall(r"\d+", path)])
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class Cluster:
    """initdb'd on creation; start() / stop() as often as a test likes; remove() at the end."""

    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None or not (bin_dir / "initdb").exists():
            pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are absent: the outage tests need "
                        "them (apt-get install postgresql)")
        self.bin = bin_dir
        self.runner: list[str] = []
        self.folder = Path(tempfile.mkdtemp(prefix="recsys-pg-"))
        if os.getuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a postgres user: initdb cannot run")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.runner = ["runuser", "-u", "postgres", "--"]
        self.user = "postgres" if self.runner else pwd.getpwuid(os.getuid()).pw_name
        self.running = False
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync")

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@/postgres?host={self.folder}&port={PORT}"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([*self.runner, str(self.bin / program), *args], cwd=self.folder,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        if self.running:
            return
        options = f"-k {self.folder} -c listen_addresses= -p {PORT} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w",
                  "-o", options, "start")  # fmt: skip
        self.running = True

    def stop(self) -> None:
        """A fast shutdown: sessions are ended at once, as when a database server goes away."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.running = False

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

"""Run nginx with the project's deploy/nginx.conf in front of a running API, as production would."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from live import Api, _serving, free_port

CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"


def nginx_binary() -> str | None:
    """Debian installs nginx in /usr/sbin, which an ordinary user's PATH may lack."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def render_config(listen_port: int, upstream: str) -> str:
    """deploy/nginx.conf with the two lines an installation changes ("here:") set."""
    text = CONFIG.read_text()
    text, servers = re.subn(r"server \S+;(\s+# here:)", rf"server {upstream};\1", text)
    text, listens = re.subn(r"listen \S+( .*# here:)", rf"listen 127.0.0.1:{listen_port}\1", text)
    if (servers, listens) != (1, 1):
        raise ValueError(f"{CONFIG}: expected one `server` and one `listen` line marked here:")
    return text


@contextmanager
def run_nginx(upstream: Api, log_dir: Path, *, startup_timeout: float = 10.0) -> Iterator[Api]:
    """nginx in front of `upstream`, on a free port, yielded once it answers; always stopped
    after. Its prefix (pid, temporary files) is a fresh directory that nginx's workers can reach
    (as root they run as nobody)."""
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed (Debian: apt-get install nginx)")
    prefix = Path(tempfile.mkdtemp(prefix="rx-jobtracker-nginx-"))
    try:
        prefix.chmod(0o755)
        port = free_port()
        config = prefix / "nginx.conf"
        config.write_text(render_config(port, upstream.base_url.removeprefix("http://")))
        log_path = log_dir / "nginx.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [binary, "-p", str(prefix), "-c", str(config), "-e", "stderr"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ},
            )
        api = Api("nginx", process, log_path, f"http://127.0.0.1:{port}")
        with _serving(api, startup_timeout) as served:
            yield served
    finally:
        shutil.rmtree(prefix, ignore_errors=True)

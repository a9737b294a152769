"""The bwrap command line (infra/sandbox.py) and what it shows, run for real where it matters."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from secretctl.errors import PolicyError
from secretctl.infra import programs, sandbox

pytestmark = pytest.mark.skipif(sandbox.engine() is None, reason="no working bubblewrap here")


def _run(cmd: str, args: list[str], grant: sandbox.Grant, hidden: list[str], cwd: str = "/") -> tuple[int, str]:
    eng = sandbox.engine()
    assert eng is not None
    with programs.open_program(cmd, programs.DEFAULT_PATH, Path(cwd)) as p:
        boxed = sandbox.wrap(p, args, {"PATH": "/usr/bin:/bin", "SECRET": "s3cr3t-value"}, grant, hidden,
                             caller_cwd=cwd, eng=eng)
        try:
            out = subprocess.run(boxed.argv, env=boxed.env, pass_fds=boxed.pass_fds, capture_output=True, timeout=30,
                                 check=False)
        finally:
            boxed.close()
    assert b"s3cr3t-value" not in " ".join(boxed.argv).encode()  # values travel in the environment only
    return out.returncode, (out.stdout + out.stderr).decode(errors="replace")


def test_only_the_system_and_the_grant_are_visible(tmp_path: Path) -> None:
    work, secret_dir = tmp_path / "work", tmp_path / "private"
    work.mkdir()
    secret_dir.mkdir()
    (secret_dir / "identity").write_text("AGE-SECRET-KEY-NOT-FOR-YOU")
    _, out = _run("sh", ["-c", f"echo hi > {work}/f; cat {secret_dir}/identity; ls /root /run /home 2>&1 | head; "
                            f"echo HOME=$HOME; touch /usr/x; id -u"], sandbox.Grant(workspace=(str(work),)),
                     [str(secret_dir)])
    assert (work / "f").read_text() == "hi\n"
    assert "AGE-SECRET-KEY" not in out
    assert "HOME=/tmp/home" in out
    assert "Read-only file system" in out


@pytest.mark.parametrize("host_dir", ["/tmp", "/var/tmp", "/dev/shm"])
def test_the_hosts_temporary_folders_are_not_the_sandboxes(host_dir: str) -> None:
    """The host's /tmp, /var/tmp and /dev/shm stay outside, wherever the suite keeps its own
    temporary folders (make unit puts them on /dev/shm, which bwrap's --dev hides anyway: a
    canary in the real folder checks the --tmpfs mounts themselves)."""
    if not os.path.isdir(host_dir) or not os.access(host_dir, os.W_OK):
        pytest.skip(f"no writable {host_dir} here")
    import tempfile

    canary = tempfile.mkdtemp(prefix="canary-", dir=host_dir)
    try:
        Path(canary, "note").write_text("HOST-TMP-CANARY")
        _, out = _run("sh", ["-c", f"cat {canary}/note 2>/dev/null; echo LISTING; ls -a {host_dir}"],
                      sandbox.Grant(), [])
        assert "HOST-TMP-CANARY" not in out
        assert "LISTING" in out
        assert os.path.basename(canary) not in out.split("LISTING", 1)[1]
    finally:
        Path(canary, "note").unlink()
        os.rmdir(canary)


def test_a_hidden_path_inside_a_granted_one_is_covered(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "secretctl").mkdir(parents=True)
    (data / "secretctl" / "identity.age").write_text("AGE-SECRET-KEY-HIDDEN")
    (data / "notes").write_text("visible")
    with pytest.raises(PolicyError, match="would expose"):
        _run("cat", [str(data / "secretctl" / "identity.age")], sandbox.Grant(read=(str(data),)),
             [str(data / "secretctl")])
    # An /etc secret under a mounted system folder is covered.
    _, out = _run("cat", ["/etc/shadow"], sandbox.Grant(), [])
    assert "root:" not in out  # covered by /dev/null (unreadable here: bwrap binds it nodev)


def test_workspace_checks(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="must be absolute"):
        sandbox.check_grant(sandbox.Grant(workspace=("rel",)), [])
    with pytest.raises(PolicyError, match="would expose"):
        sandbox.check_grant(sandbox.Grant(workspace=(str(tmp_path),)), [str(tmp_path / "vault")])
    with pytest.raises(PolicyError, match="does not exist"):
        _run("true", [], sandbox.Grant(workspace=(str(tmp_path / "nope"),)), [])


def test_cwd_choice(tmp_path: Path) -> None:
    g = sandbox.Grant(workspace=(str(tmp_path),))
    assert sandbox.sandbox_cwd(g, str(tmp_path / "x")) == str(tmp_path / "x")
    assert sandbox.sandbox_cwd(g, "/etc") == str(tmp_path)
    assert sandbox.sandbox_cwd(sandbox.Grant(), "/etc") == sandbox.SANDBOX_HOME


def test_environment_is_cleaned() -> None:
    env = sandbox.sandbox_env({"SSH_AUTH_SOCK": "/run/x", "XDG_RUNTIME_DIR": "/run/user/0", "A": "1"},
                              sandbox.Grant(search_path=("/usr/bin",)))
    assert env == {"A": "1", "HOME": sandbox.SANDBOX_HOME, "TMPDIR": "/tmp", "PATH": "/usr/bin"}
    assert os.environ.get("SSH_AUTH_SOCK") != env.get("SSH_AUTH_SOCK") or "SSH_AUTH_SOCK" not in env

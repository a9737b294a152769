"""Environment names that point a program at another configuration are refused as injection
targets unless a rule names them (issue 16)."""

from __future__ import annotations

import pytest

from secretctl.core import envmap
from secretctl.core.policy import RunCheck, load_policy
from secretctl.errors import PolicyError

REDIRECTS = ["KUBECONFIG", "DOCKER_CONFIG", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "GIT_DIR",
             "GIT_TOKEN", "NPM_CONFIG_USERCONFIG", "PIP_INDEX_URL", "PYTHONWARNINGS", "TF_CLI_CONFIG_FILE",
             "HTTPS_PROXY", "SSL_CERT_FILE", "GOOGLE_APPLICATION_CREDENTIALS", "XDG_CONFIG_DIRS", "ENV", "PATH"]
ORDINARY = ["AWS_ACCESS_KEY_ID", "DOCKER_PASSWORD", "KUBE_TOKEN", "GITHUB_TOKEN", "APP_CONFIG", "DB_PASSWORD",
            "HELM_REPO_PASSWORD", "PGPASSWORD"]


@pytest.mark.parametrize("name", REDIRECTS)
def test_config_redirecting_names_are_refused_without_a_rule(name: str) -> None:
    assert envmap.redirects_config(name)
    with pytest.raises(PolicyError, match=f"refusing to inject {name}") as exc:
        envmap.check_redirects([name], ())
    assert "inject_env" in (exc.value.hint or "")


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_secret_names_pass(name: str) -> None:
    assert not envmap.redirects_config(name)
    envmap.check_redirects([name], ())


def test_a_rule_that_names_it_allows_it() -> None:
    policy = load_policy(b'version: 1\nallowed_commands: [helm]\n'
                         b'commands:\n  helm: {keys: ["k8s/*"], inject_env: [KUBECONFIG]}\n', "p.yaml")
    decision = policy.check(RunCheck(command="helm", resolved_name="helm", keys=("k8s/kubeconfig",)))
    assert decision.inject_env == ("KUBECONFIG",)
    envmap.check_redirects(["KUBECONFIG"], decision.inject_env)
    with pytest.raises(PolicyError):
        envmap.check_redirects(["DOCKER_CONFIG"], decision.inject_env)
    assert policy.describe()["commands"][0]["inject_env"] == ["KUBECONFIG"]

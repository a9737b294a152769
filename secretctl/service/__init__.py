"""The service layer: the `Vault` session object and everything a person or an agent can ask for.

The front ends (`secretctl.cli`, `secretctl.mcp`) import only this package and `secretctl.errors`
(an import-linter contract in pyproject.toml). What they need from the layers below is named
here, once, with the reason, and re-exported: ``from secretctl.service import settings`` gives
`secretctl.infra.settings` itself. Each is imported on first use (PEP 562), so the list costs
nothing on the fast path of `get` (the CLI imports exactly what it did before).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: importing typing costs a start without a vault ~10 ms (cli/main.py)

# name -> (module, attribute or "" for the module itself). Adding a line here widens what the
# front ends can reach below the service: prefer a service function when the front end would
# otherwise decide something (run git, write an access record, build a run decision).
_REEXPORTS: dict[str, tuple[str, str]] = {
    # paths and the environment: which vault, which identity, colours, terminals
    "settings": ("secretctl.infra.settings", ""),
    # the identity file: create, show, change its passphrase (the `identity` commands)
    "identity": ("secretctl.infra.identity", ""),
    "check_new_password": ("secretctl.infra.identity", "check_new_password"),
    # the unlock agent: start it, ask it, stop it (the `agent` commands)
    "agentsock": ("secretctl.infra.agentsock", ""),
    "unlock_agent": ("secretctl.infra.unlock_agent", ""),
    "MAX_TRIES": ("secretctl.infra.unlock_agent", "MAX_TRIES"),
    # the warm MCP server started beside it (a secret-free pre-imported process forking servers)
    # and the `secretctl mcp` launcher's hand-off to it
    "warmserver": ("secretctl.infra.warmserver", ""),
    "warmctl": ("secretctl.infra.warmctl", ""),
    "warmclient": ("secretctl.infra.warmclient", ""),
    # the passphrase `unlock --keyring` keeps in the OS keyring (optional `keyring` package)
    "oskeyring": ("secretctl.infra.oskeyring", ""),
    # the process's own protection (non-dumpable, locked pages) and the MCP password hand-off,
    # which must happen before the front end reads anything
    "hardening": ("secretctl.infra.hardening", ""),
    "pwhandoff": ("secretctl.infra.pwhandoff", ""),
    # writing an export file the person asked for, atomically and private
    "store": ("secretctl.infra.store", ""),
    "utcnow": ("secretctl.infra.clock", "utcnow"),
    # parsing what a person types: key names, durations, dates, member names, field input
    "keys": ("secretctl.core.keys", ""),
    "parse_duration": ("secretctl.core.durations", "parse_duration"),
    "parse_expiry": ("secretctl.core.durations", "parse_expiry"),
    "format_time": ("secretctl.core.meta", "format_time"),
    "validate_member_name": ("secretctl.core.recipients", "validate_member_name"),
    "FieldInput": ("secretctl.core.fields", "FieldInput"),
    "check_public": ("secretctl.core.fields", "check_public"),
    "guess_kind": ("secretctl.core.fields", "guess_kind"),
    "get_template": ("secretctl.core.templates", "get_template"),
    # the masked value type every value travels in, and the masked view `get --masked` prints
    "Secret": ("secretctl.core.secret", "Secret"),
    "mask": ("secretctl.core.secret", "mask"),
    "generate_password": ("secretctl.core.passwords", "generate"),
    # file formats of import/export (.env, JSON) and env-var naming
    "formats": ("secretctl.core.formats", ""),
    "envmap": ("secretctl.core.envmap", ""),
    # the pre-push hook's input (git's ref lines)
    "RefUpdate": ("secretctl.core.pushrefs", "RefUpdate"),
    "parse_push_lines": ("secretctl.core.pushrefs", "parse_push_lines"),
    # the type `run --policy` hands back to the service
    "Policy": ("secretctl.core.policy", "Policy"),
}

if TYPE_CHECKING:  # the same names, for mypy (at run time __getattr__ imports them on first use)
    from secretctl.core import envmap as envmap
    from secretctl.core import formats as formats
    from secretctl.core import keys as keys
    from secretctl.core import passwords
    from secretctl.core.durations import parse_duration as parse_duration
    from secretctl.core.durations import parse_expiry as parse_expiry
    from secretctl.core.fields import FieldInput as FieldInput
    from secretctl.core.fields import check_public as check_public
    from secretctl.core.fields import guess_kind as guess_kind
    from secretctl.core.meta import format_time as format_time
    from secretctl.core.policy import Policy as Policy
    from secretctl.core.pushrefs import RefUpdate as RefUpdate
    from secretctl.core.pushrefs import parse_push_lines as parse_push_lines
    from secretctl.core.recipients import validate_member_name as validate_member_name
    from secretctl.core.secret import Secret as Secret
    from secretctl.core.secret import mask as mask
    from secretctl.core.templates import get_template as get_template
    from secretctl.infra import agentsock as agentsock
    from secretctl.infra import hardening as hardening
    from secretctl.infra import identity as identity
    from secretctl.infra import oskeyring as oskeyring
    from secretctl.infra import pwhandoff as pwhandoff
    from secretctl.infra import settings as settings
    from secretctl.infra import store as store
    from secretctl.infra import unlock_agent as unlock_agent
    from secretctl.infra import warmclient as warmclient
    from secretctl.infra import warmctl as warmctl
    from secretctl.infra import warmserver as warmserver
    from secretctl.infra.clock import utcnow as utcnow
    from secretctl.infra.identity import check_new_password as check_new_password
    from secretctl.infra.unlock_agent import MAX_TRIES as MAX_TRIES

    generate_password = passwords.generate


def __getattr__(name: str) -> object:
    """A re-exported name, imported on first use; anything else is not here (a submodule of the
    service is then imported by Python's normal `from secretctl.service import x`)."""
    target = _REEXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    __import__(target[0])  # not importlib.import_module: importing importlib costs the fast path a module
    module = sys.modules[target[0]]
    value = getattr(module, target[1]) if target[1] else module
    globals()[name] = value
    return value

"""Templates for multi-field secrets (pure core): `secretctl set KEY --template database`.

The four templates of secretctl's Go CLI, with the same field names (so a secret moves between
the tools), plus the env bindings `run` injects them through. Aliases let the names of other
tools work too (`user` for `username`, `dbname` for `database`).
"""

from __future__ import annotations

from dataclasses import dataclass

from secretctl.errors import UsageError


@dataclass(frozen=True)
class TemplateField:
    name: str
    prompt: str
    sensitive: bool
    kind: str = "text"
    required: bool = True  # optional fields are asked on a terminal only, never read from stdin
    binding: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    fields: tuple[TemplateField, ...]

    def field(self, name: str) -> TemplateField | None:
        for f in self.fields:
            if name == f.name or name in f.aliases:
                return f
        return None


TEMPLATES = {
    t.name: t
    for t in (
        Template("database", "a database connection", (
            TemplateField("host", "host", False, "host", binding="DB_HOST"),
            TemplateField("port", "port", False, "port", required=False, binding="DB_PORT"),
            TemplateField("username", "user name", False, "username", binding="DB_USER", aliases=("user",)),
            TemplateField("password", "password", True, "password", binding="DB_PASSWORD"),
            TemplateField("database", "database name", False, "database", required=False, binding="DB_NAME",
                          aliases=("dbname",)),
        )),
        Template("login", "a user name and password", (
            TemplateField("username", "user name", False, "username", binding="LOGIN_USER", aliases=("user",)),
            TemplateField("password", "password", True, "password", binding="LOGIN_PASSWORD"),
        )),
        Template("api", "API credentials", (
            TemplateField("api_key", "API key", True, "token", binding="API_KEY"),
            TemplateField("api_secret", "API secret", True, "token", required=False, binding="API_SECRET"),
            TemplateField("endpoint", "endpoint URL", False, "url", required=False, binding="API_ENDPOINT"),
        )),
        Template("ssh", "an SSH connection", (
            TemplateField("host", "host", False, "host", binding="SSH_HOST"),
            TemplateField("port", "port", False, "port", required=False, binding="SSH_PORT"),
            TemplateField("username", "user name", False, "username", binding="SSH_USER", aliases=("user",)),
            TemplateField("private_key", "private key", True, "other", binding="SSH_PRIVATE_KEY"),
        )),
    )
}


def get_template(name: str) -> Template:
    found = TEMPLATES.get(name)
    if found is None:
        raise UsageError(f"unknown template {name[:40]!r}", hint=f"templates: {', '.join(TEMPLATES)}")
    return found

"""`secpipe hub keys|users|audit`: who may use the hub, and what they did.

These act on the hub's database directly (`--db`, default `.secpipe/hub.db`): whoever can open
it is the hub's administrator already, so there is no remote variant of them.
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from secpipe.hub.authz import ROLES

DB_OPTION = click.option("--hub", "--db", "db", metavar="URL|DB", default=None,
                         help="SQLite path or postgresql:// URL (default: .secpipe/hub.db).")
ROLE_CHOICE = click.Choice(list(ROLES))


def _store(db: str | None):
    from secpipe.cli._common import _fail
    from secpipe.cli._hubopen import DEFAULT_HUB, _open

    if db and db.startswith(("http://", "https://")):
        raise _fail("keys, users and the audit trail are managed on the hub's database "
                    "(--db PATH|postgresql://...), not over HTTP")
    return _open(db or DEFAULT_HUB)


def _errors(fn):
    from secpipe.cli._hubopen import _hub_errors
    return _hub_errors(fn)


def _console() -> Console:
    """Wide enough off a terminal (CI logs, pipes) that key ids are never cut."""
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 200))


def _clean(text: object) -> str:
    """No terminal escapes from the database reach the terminal."""
    return escape("".join(c if c.isprintable() else "?" for c in str(text)))


# --- keys ------------------------------------------------------------------------------------
@click.group("keys")
def keys() -> None:
    """Access keys for SigV4-signed calls (boto3, the aws CLI, `secpipe run --hub`), each with
    one role: admin, ci, runtime, triage, read."""


@keys.command("create")
@click.option("--role", type=ROLE_CHOICE, required=True,
              help="admin (everything), ci (import + runs, scoped), runtime (Falco intake), "
                   "triage (updates, insights), read (queries).")
@click.option("--repo", "repos", multiple=True, metavar="GLOB",
              help="Repositories the key may write (repeatable; default: all).")
@click.option("--branch", "branches", multiple=True, metavar="GLOB",
              help="Branches the key may record runs for (repeatable; default: all but the "
                   "protected ones, which must be named).")
@click.option("--product-arn", "arns", multiple=True, metavar="ARN",
              help="ProductArns the key may import under (repeatable, globs; default: all).")
@click.option("--account", "accounts", multiple=True, metavar="GLOB",
              help="Member accounts (AwsAccountId, 12 digits, * and ? globs) whose findings "
                   "the key may import, read and update (repeatable; default: all).")
@click.option("--label", default="", help="What the key is for.")
@DB_OPTION
@_errors
def keys_create(role: str, repos, branches, arns, accounts, label: str, db: str | None) -> None:
    """Create an access key; the secret is shown this once.

    \b
    Example:
      secpipe hub keys create --role ci --repo acme/web --branch 'feature/*' --label gh-actions
      secpipe hub keys create --role ci --repo acme/web --branch main --label release-runner
    """
    from secpipe.hub.authz import Scope

    store = _store(db)
    akid, secret = store.create_access_key(label, role=role,
                                           scope=Scope.of(repos, branches, arns, accounts))
    click.echo(f"SECPIPE_HUB_ACCESS_KEY_ID={akid}")
    click.echo(f"SECPIPE_HUB_SECRET_ACCESS_KEY={secret}")
    click.echo("# shown once. `secpipe run --hub URL` reads these two variables; boto3 and the "
               "aws CLI take them as their access key with --endpoint-url", err=True)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
@DB_OPTION
@_errors
def keys_list(as_json: bool, db: str | None) -> None:
    """The hub's keys with role and scope (never their secrets)."""
    rows = _store(db).list_access_keys()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("key id", "role", "repos", "branches", "product arns", "label", "created",
                  "enabled", show_edge=False)
    for r in rows:
        sc = r["Scope"]
        table.add_row(r["AccessKeyId"], r["Role"], _clean(",".join(sc["repos"])),
                      _clean(",".join(sc["branches"])), _clean(",".join(sc["product_arns"])),
                      _clean(r["Label"]), r["CreatedAt"], "yes" if r["Enabled"] else "REVOKED")
    _console().print(table)


@keys.command("revoke")
@click.argument("key_id")
@DB_OPTION
@_errors
def keys_revoke(key_id: str, db: str | None) -> None:
    """Disable a key at once (its history and audit rows keep naming it)."""
    _store(db).revoke_access_key(key_id)
    click.echo(f"revoked {key_id}")


# --- users -----------------------------------------------------------------------------------
@click.group("users")
def users() -> None:
    """Dashboard users: scrypt-hashed passwords and one role each (admin, triage, read)."""


@users.command("set-password")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, default=None,
              help="The user's role (required for a new user; changing it ends its sessions).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The new password (prompted for when omitted; or from SECPIPE_HUB_PASSWORD).",
              envvar="SECPIPE_HUB_PASSWORD")
@DB_OPTION
@_errors
def users_set_password(name: str, role: str | None, password: str, db: str | None) -> None:
    """Create a dashboard user or change its password; its open sessions end.

    \b
    Example:
      secpipe hub users set-password alice --role triage
    """
    from secpipe.cli._common import _fail

    if len(password) < 8:
        raise _fail("a password needs at least 8 characters")
    store = _store(db)
    if role is None and store.user_session(name) is None:
        raise _fail(f"{name} is a new user: give its --role ({', '.join(ROLES)})")
    store.set_user_password(name, password, role)
    click.echo(f"password set for {name}" + (f" (role {role})" if role else ""))


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=ROLE_CHOICE)
@DB_OPTION
@_errors
def users_set_role(name: str, role: str, db: str | None) -> None:
    """Change a user's role; its open sessions end."""
    _store(db).set_user_role(name, role)
    click.echo(f"{name} is now {role}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@DB_OPTION
@_errors
def users_list(as_json: bool, db: str | None) -> None:
    """Dashboard users and their roles."""
    rows = _store(db).list_users()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("user", "role", "updated", show_edge=False)
    for r in rows:
        table.add_row(_clean(r["Name"]), r["Role"], r["UpdatedAt"])
    _console().print(table)


@users.command("delete")
@click.argument("name")
@DB_OPTION
@_errors
def users_delete(name: str, db: str | None) -> None:
    """Delete a dashboard user; its open sessions end."""
    _store(db).delete_user(name)
    click.echo(f"deleted {name}")


# --- audit -----------------------------------------------------------------------------------
@click.command("audit")
@click.option("--since", metavar="ISO8601", help="Only entries at or after this instant.")
@click.option("--principal", help="Only this principal (key id, token, user:NAME, local:USER).")
@click.option("--finding", metavar="ID", help="Only entries that targeted this finding Id.")
@click.option("--action", help="Only this action (e.g. BatchUpdateFindings, RecordRun, login).")
@click.option("--limit", type=click.IntRange(1, 10000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON array on stdout.")
@DB_OPTION
@_errors
def audit(since, principal, finding, action, limit, as_json, db) -> None:
    """The audit trail, newest first: who changed what, from where, when.

    \b
    Example:
      secpipe hub audit --since 2026-12-01T00:00:00Z --principal SPKABCDEFGHIJKLMNOPQ
    """
    rows = _store(db).audit_log(since=since, principal=principal, finding=finding,
                                action=action, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("at", "principal", "role", "source", "action", "targets", "changed",
                  show_edge=False)
    for r in rows:
        targets = r["targets"]
        shown = ", ".join(targets[:3]) + (f" (+{len(targets) - 3})" if len(targets) > 3 else "")
        changed = "yes" if r["before"] != r["after"] else "no"
        table.add_row(r["at"], _clean(r["principal"]), r["role"], _clean(r["source"]),
                      _clean(r["action"]), _clean(shown), changed)
    _console().print(table)


def register(hub: click.Group) -> None:
    hub.add_command(keys)
    hub.add_command(users)
    hub.add_command(audit)

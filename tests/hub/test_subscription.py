"""EnableSecurityHub / DisableSecurityHub / DescribeHub per account and region, the
InvalidAccessException every other call answers where the hub is not enabled, the hub's
remembered account id (`hub serve --account-id`), and migration 0008 on a hub in use."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from alembic import command
from alembic.config import Config

from secpipe.hub.api import create_app, running_server
from secpipe.hub.api.isolation import UNLIMITED
from secpipe.hub.interface import InvalidInput, Partition
from secpipe.hub.store import _MIGRATIONS, open_store
from tests.hub.test_api_support import Hub, make_finding, repo_filter

boto3 = pytest.importorskip("boto3")
from botocore.exceptions import ClientError  # noqa: E402

ACCOUNT = "210987654321"
NOT_SUBSCRIBED = f"Account {ACCOUNT} is not subscribed to AWS Security Hub"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Hub]:
    pg = None
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("subscription") / "hub.db")
    else:
        pg = request.getfixturevalue("pg_server")
        url = pg.new_url()
    store = open_store(url, account_id=ACCOUNT)
    key_id, secret = store.create_access_key("admin", role="admin")
    try:
        with running_server(create_app(store, limits=UNLIMITED)) as base:
            yield Hub(base, store, key_id, secret)
    finally:
        store.close()
        if pg is not None:
            pg.drop(url)


def _refused(call: Any, code: str = "InvalidAccessException", status: int = 401) -> str:
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    assert response["Error"]["Code"] == code, response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    return response["Error"]["Message"]


def test_data_calls_before_enable_answer_invalid_access(hub: Hub) -> None:
    client = hub.client(region="ap-southeast-2")
    finding = make_finding("before-enable", 1)
    for call in (lambda: client.get_findings(),
                 lambda: client.batch_import_findings(Findings=[finding]),
                 lambda: client.batch_update_findings(
                     FindingIdentifiers=[{"Id": finding["Id"],
                                          "ProductArn": finding["ProductArn"]}],
                     Workflow={"Status": "NOTIFIED"}),
                 lambda: client.get_insights(),
                 lambda: client.create_insight(Name="x", Filters={},
                                               GroupByAttribute="SeverityLabel"),
                 lambda: client.describe_hub(),
                 lambda: client.disable_security_hub()):
        assert _refused(call) == NOT_SUBSCRIBED
    # nothing was stored there; the configured region was enabled on first open
    assert hub.store.count_findings(partition=Partition(ACCOUNT, "ap-southeast-2")) == 0
    assert hub.client().describe_hub()["HubArn"] == \
        f"arn:aws:securityhub:us-east-1:{ACCOUNT}:hub/default"

    client.enable_security_hub(Tags={"team": "appsec"})
    assert client.batch_import_findings(Findings=[finding])["SuccessCount"] == 1
    assert [f["Id"] for f in client.get_findings(Filters=repo_filter("before-enable"))[
        "Findings"]] == [finding["Id"]]
    assert _refused(client.enable_security_hub, "ResourceConflictException", 409) == \
        "Account is already subscribed to Security Hub"


def test_disable_then_data_calls_fail_and_enable_brings_the_findings_back(hub: Hub) -> None:
    client = hub.client(region="eu-west-1")
    client.enable_security_hub()
    finding = make_finding("disable", 1)
    client.batch_import_findings(Findings=[finding])
    assert client.disable_security_hub()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _refused(lambda: client.get_findings(Filters=repo_filter("disable"))) == \
        NOT_SUBSCRIBED
    assert _refused(client.describe_hub) == NOT_SUBSCRIBED
    assert _refused(client.disable_security_hub) == NOT_SUBSCRIBED
    # the other region is untouched
    assert hub.client().get_findings(Filters=repo_filter("disable"))["Findings"] == []
    client.enable_security_hub()
    assert [f["Id"] for f in client.get_findings(Filters=repo_filter("disable"))[
        "Findings"]] == [finding["Id"]]


def test_only_admin_enables_or_disables(hub: Hub) -> None:
    akid, secret = hub.store.create_access_key("triage", role="triage")
    client = hub.client(key_id=akid, secret=secret)
    assert "hub:admin" in _refused(client.disable_security_hub, "AccessDeniedException", 403)
    assert "hub:admin" in _refused(client.enable_security_hub, "AccessDeniedException", 403)
    assert client.describe_hub()["HubArn"].endswith(f":{ACCOUNT}:hub/default")


def test_the_account_id_is_remembered_and_checked(store_url: str) -> None:
    with open_store(store_url, account_id=ACCOUNT, region="eu-central-1") as store:
        store.batch_import([make_finding("remembered", 1)])
        assert store.describe_hub()["HubArn"] == \
            f"arn:aws:securityhub:eu-central-1:{ACCOUNT}:hub/default"
    with open_store(store_url, region="eu-central-1") as again:      # no --account-id
        assert again.account_id == ACCOUNT
        assert again.count_findings(repo_filter("remembered")) == 1
    with pytest.raises(InvalidInput, match=f"belongs to account {ACCOUNT}"):
        open_store(store_url, account_id="999999999999")
    with open_store(store_url, account_id=ACCOUNT, region="eu-central-1") as same:
        assert same.account_id == ACCOUNT
    for bad in ("12345", "12345678901a", "1234567890123"):
        with pytest.raises(InvalidInput, match="12 digits"):
            open_store(store_url, account_id=bad)
    with pytest.raises(InvalidInput, match="region"):
        open_store(store_url, region="moon-1")


def _secpipe(cwd: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "secpipe", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, **kw)


def test_hub_serve_account_id_option(tmp_path: Path) -> None:
    bad = _secpipe(tmp_path, "hub", "serve", "--account-id", "12")
    assert bad.returncode == 2 and "12 digits" in bad.stderr
    with open_store(tmp_path / ".secpipe" / "hub.db") as store:   # the default hub, in use
        store.batch_import([make_finding("default-account", 1)])
    conflict = _secpipe(tmp_path, "hub", "serve", "--account-id", ACCOUNT)
    assert conflict.returncode == 2 and "belongs to account 000000000000" in conflict.stderr

    other = tmp_path / "other"
    other.mkdir()
    # keys made before the first `hub serve --account-id` (the account is not fixed yet)
    keys = _secpipe(other, "hub", "keys", "create", "--role", "read", "--hub", "own.db")
    env = dict(line.split("=", 1) for line in keys.stdout.splitlines() if "=" in line)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "secpipe", "hub", "serve", "--hub", "own.db", "--port",
         str(port), "--account-id", ACCOUNT, "--region", "eu-north-1"],
        cwd=other, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        client = boto3.client("securityhub", endpoint_url=f"http://127.0.0.1:{port}",
                              region_name="eu-north-1",
                              aws_access_key_id=env["SECPIPE_HUB_ACCESS_KEY_ID"],
                              aws_secret_access_key=env["SECPIPE_HUB_SECRET_ACCESS_KEY"])
        assert client.describe_hub()["HubArn"] == \
            f"arn:aws:securityhub:eu-north-1:{ACCOUNT}:hub/default"
        assert client.get_findings()["Findings"] == []
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_migration_keeps_an_existing_hubs_findings_in_the_configured_partition(
        store_url: str) -> None:
    """A hub at revision 0005 (as the previous release left it) with findings and an
    insight: after the upgrade they are where the store is configured to be."""
    with open_store(store_url) as store:
        store.batch_import([make_finding("legacy", n) for n in range(3)])
        arn = store.create_insight("legacy", repo_filter("legacy"), "SeverityLabel")
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with store._write() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
    with open_store(store_url, account_id=ACCOUNT, region="eu-west-3") as store:
        here = Partition(ACCOUNT, "eu-west-3")
        assert store.partition == here
        assert store.count_findings(repo_filter("legacy")) == 3
        assert store.count_findings(repo_filter("legacy"),
                                    partition=Partition(ACCOUNT, "us-east-1")) == 0
        assert [i["Name"] for i in store.get_insights([arn])[0]] == ["legacy"]
        assert store.describe_hub()["HubArn"] == \
            f"arn:aws:securityhub:eu-west-3:{ACCOUNT}:hub/default"
        # the new unique key: the same (ProductArn, Id) may now exist in another region too
        again = make_finding("legacy", 0)
        store.enable_hub(partition=Partition(ACCOUNT, "us-east-2"))
        assert store.batch_import([again], partition=Partition(ACCOUNT, "us-east-2")
                                  ).success_count == 1
        assert store.count_findings(repo_filter("legacy")) == 3

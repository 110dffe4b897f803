"""POST /falco on a real hub (uvicorn, SQLite and PostgreSQL): Falco's http_output and
Falcosidekick's webhook, dedup into one finding per flood, correlation with the run that
shipped the image."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from secpipe.formats.falco import read_alerts
from secpipe.hub.interface import RunRecord
from secpipe.runtime import flusher
from secpipe.runtime import intake as intake_module
from secpipe.runtime.correlate import record_run_images
from secpipe.runtime.dedup import Aggregator, write_episodes
from secpipe.runtime.intake import FalcoIntake
from tests.runtime.conftest import TOKEN, Hub, alert

T0 = datetime(2026, 6, 2, 10, 0, 0, tzinfo=timezone.utc)


def stamp(seconds: float) -> str:
    when = T0 + timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond * 1000:09d}Z"


def record_run(store, run_id: str, commit: str, images: list[str], role: str = "deployed"):
    store.record_run(RunRecord(run_id=run_id, repo="web", branch="main", commit=commit,
                               started_at="", finished_at="", status="passed", exit_code=0,
                               summary={}), [])
    record_run_images(store, run_id, images, stage="deploy", role=role)


def test_a_flood_of_1000_alerts_is_one_finding_with_count_1000(hub: Hub) -> None:
    conn = hub.connection()                    # libcurl keeps its connection alive too
    try:
        for i in range(1000):
            status, body = hub.post(alert(time=stamp(i * 0.001)), conn=conn)
            assert status == 200 and body == {"accepted": 1}
    finally:
        conn.close()
    hub.routes.intake.flush()
    found = hub.falco_findings()
    assert len(found) == 1
    only = found[0]
    assert only["ProductFields"]["secpipe/Count"] == "1000"
    assert only["FirstObservedAt"] == "2026-06-02T10:00:00.000Z"
    assert only["LastObservedAt"] == "2026-06-02T10:00:00.999Z"
    assert only["Types"] == ["TTPs/Execution"]
    assert only["Severity"]["Label"] == "LOW" and only["Resources"][0]["Type"] == "Container"
    assert only["ProductFields"]["secpipe/Stage"] == "runtime"
    assert hub.routes.intake.received == hub.routes.intake.stored == 1000


def test_an_alert_appears_in_the_hub_without_being_asked(hub: Hub) -> None:
    """The background flusher stores an alert with no further request (its delay is printed:
    about a second on an idle machine; a loaded test machine may stretch it, so the bound
    here only catches a flusher that never runs)."""
    status, _ = hub.post(alert())
    posted = time.monotonic()
    assert status == 200
    while not hub.falco_findings():
        assert time.monotonic() - posted < 30.0, "the alert never reached the hub"
        time.sleep(0.02)
    print(f"alert stored {time.monotonic() - posted:.2f} s after it was posted")


def test_wait_true_answers_once_the_alert_is_committed(hub: Hub) -> None:
    status, body = hub.post(alert(), path="/falco?wait=true")
    assert status == 200 and body == {"accepted": 1, "stored": True}
    assert len(hub.falco_findings()) == 1


REFUSED = [
    (alert(priority="Loud"), "unknown priority"),
    ({k: v for k, v in alert().items() if k != "rule"}, "no 'rule'"),
    ({k: v for k, v in alert().items() if k != "time"}, "no 'time'"),
    ({k: v for k, v in alert().items() if k != "output_fields"}, "no 'output_fields'"),
    (b"10:00:00.000: Notice A shell was spawned", "json_output"),
    (b"", "no body"),
]


def test_what_sidekick_refuses_is_400_and_nothing_is_kept(hub: Hub) -> None:
    for bad, why in REFUSED:
        status, body = hub.post(bad)
        assert status == 400 and body["Code"] == "InvalidInputException", why
        assert why in body["Message"]
    hub.routes.intake.flush()
    assert hub.falco_findings() == []


def test_a_batch_with_one_bad_alert_is_refused_whole(hub: Hub) -> None:
    lines = b"\n".join(json.dumps(a).encode() for a in (alert(), alert(priority="nope")))
    status, body = hub.post(lines)
    assert status == 400 and "line 2" in body["Message"]


def test_credentials(hub: Hub) -> None:
    status, body = hub.post(alert(), headers={"Authorization": None})
    assert status == 403 and body["Code"] == "MissingAuthenticationTokenException"
    for wrong in ("Bearer nope", "Basic " + base64.b64encode(b"falco:nope").decode(),
                  "Basic !!!", "Bearer AKIAFAKE:nope"):
        status, body = hub.post(alert(), headers={"Authorization": wrong})
        assert status == 403 and body["Code"] == "UnrecognizedClientException", wrong
    assert hub.post(alert(), headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    akid, secret = hub.store.create_access_key("falco", role="runtime")
    assert hub.post(alert(), headers={"Authorization": f"Bearer {akid}:{secret}"})[0] == 200
    basic = base64.b64encode(f"{akid}:{secret}".encode()).decode()
    assert hub.post(alert(), headers={"Authorization": f"Basic {basic}"})[0] == 200
    # a key of another role authenticates, but may not feed the runtime intake
    for role in ("ci", "read", "triage"):
        other, pw = hub.store.create_access_key(role, role=role)
        status, body = hub.post(alert(), headers={"Authorization": f"Bearer {other}:{pw}"})
        assert status == 403 and body["Code"] == "AccessDeniedException", role
        assert "falco:intake" in body["Message"]


def test_falcosidekick_webhook_payload(hub: Hub) -> None:
    """Sidekick posts the same alert with a uuid, and a header token."""
    status, _ = hub.post({**alert(), "uuid": "5e2c1f3e-8a4b-4c2d-9f1e-0a1b2c3d4e5f"},
                         headers={"Authorization": f"Bearer {TOKEN}",
                                  "User-Agent": "Falcosidekick"},
                         path="/falco/?wait=true")
    assert status == 200 and len(hub.falco_findings()) == 1


def test_an_alert_is_tied_to_the_run_that_shipped_its_image(hub: Hub) -> None:
    record_run(hub.store, "run-0001", "1111111", ["registry.example.com/web:1.4.1"])
    record_run(hub.store, "run-0002", "2222222", ["registry.example.com/web:1.4.2"])
    record_run(hub.store, "run-0003", "3333333", ["nginx@sha256:ABC123"], role="built")
    assert hub.post(alert(), path="/falco?wait=true")[0] == 200
    by_digest = alert(rule="Other rule", fields={"container.image.repository":
                                                 "docker.io/library/nginx",
                                                 "container.image.tag": "",
                                                 "container.image.digest": "sha256:abc123"})
    assert hub.post(by_digest, path="/falco?wait=true")[0] == 200
    untied = alert(rule="Third", fields={"container.image.tag": "9.9.9"})
    assert hub.post(untied, path="/falco?wait=true")[0] == 200
    found = {f["Title"]: f["ProductFields"] for f in hub.falco_findings()}
    shell = found["Terminal shell in container"]
    assert shell["secpipe/RunId"] == "run-0002" and shell["secpipe/Commit"] == "2222222"
    assert shell["secpipe/Repo"] == "web" and shell["secpipe/RunMatch"] == "tag"
    assert found["Other rule"]["secpipe/RunId"] == "run-0003"
    assert found["Other rule"]["secpipe/RunMatch"] == "digest"
    assert "secpipe/RunId" not in found["Third"]

    status, body = hub.get("/v1/runs/run-0002/runtime")
    assert status == 200 and body["run_id"] == "run-0002"
    assert [i["image"] for i in body["images"]] == ["registry.example.com/web:1.4.2"]
    assert [f["Title"] for f in body["findings"]] == ["Terminal shell in container"]
    assert hub.get("/v1/runs/run-0001/runtime")[1]["findings"] == []
    assert hub.get("/v1/runs/nope/runtime")[0] == 404


def test_images_are_recorded_through_the_api(hub: Hub) -> None:
    record_run(hub.store, "run-0009", "9999999", [])
    body = {"images": ["registry.example.com/web:2.0.0", {"repository": "web", "tag": "2"}],
            "stage": "build", "role": "built"}
    status, answer = hub.post(body, path="/v1/runs/run-0009/images",
                              headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and answer == {"run_id": "run-0009", "recorded": 2}
    status, listed = hub.get("/v1/runs/run-0009/images")
    assert [i["role"] for i in listed["images"]] == ["built", "built"]
    status, answer = hub.post(body, path="/v1/runs/no-run/images",
                              headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 404


def test_the_window_separates_episodes(hub: Hub) -> None:
    """Within the window: one finding. Two hours later: a new finding, so a recurrence is not
    hidden in one someone already resolved."""
    for seconds in (0, 60, 600):
        assert hub.post(alert(time=stamp(seconds)))[0] == 200
    hub.routes.intake.flush()
    first, = hub.falco_findings()
    hub.store.batch_update([{"Id": first["Id"], "ProductArn": first["ProductArn"]}],
                           {"Workflow": {"Status": "RESOLVED"}, "Note": {"Text": "tuned",
                                                                        "UpdatedBy": "ops"}})
    assert hub.post(alert(time=stamp(700)), path="/falco?wait=true")[0] == 200
    assert hub.post(alert(time=stamp(3 * 3600)), path="/falco?wait=true")[0] == 200
    found = sorted(hub.falco_findings(), key=lambda f: f["FirstObservedAt"])
    assert [f["ProductFields"]["secpipe/Count"] for f in found] == ["4", "1"]
    assert found[0]["Workflow"]["Status"] == "RESOLVED" and found[0]["Note"]["Text"] == "tuned"
    assert found[0]["LastObservedAt"] == "2026-06-02T10:11:40.000Z"
    assert found[1]["Workflow"]["Status"] == "NEW" and found[1]["Id"] != found[0]["Id"]


def test_concurrent_writers_never_lose_a_count(hub: Hub) -> None:
    """Four Falco senders and a `secpipe falco ingest` of 500 alerts at the same time."""
    def sender(offset: int) -> None:
        conn = hub.connection()
        try:
            for i in range(250):
                assert hub.post(alert(time=stamp(offset + i * 0.001)), conn=conn)[0] == 200
        finally:
            conn.close()

    lines = b"\n".join(json.dumps(alert(time=stamp(5 + i * 0.001))).encode()
                       for i in range(500))

    def ingest() -> None:
        for _ in range(5):                    # five CLI runs of 100 alerts each
            agg = Aggregator(3600)
            agg.add(read_alerts(lines, "events.json")[:100])
            write_episodes(hub.store, agg.take(), 3600)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=ingest))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hub.routes.intake.flush()
    only, = hub.falco_findings()
    assert only["ProductFields"]["secpipe/Count"] == "1500"


def test_a_failed_write_keeps_every_count(store, monkeypatch) -> None:
    service = FalcoIntake(store, start=False)
    calls = {"n": 0}
    real = flusher.write_episodes

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(flusher, "write_episodes", flaky)
    service.submit(read_alerts(json.dumps(alert()).encode(), "a") * 3)
    with pytest.raises(OSError):
        service.flush()
    assert service.last_error == "OSError: database went away"
    service.submit(read_alerts(json.dumps(alert(time=stamp(1))).encode(), "a"))
    stats = service.flush()
    assert stats is not None and stats.alerts == 4
    found, _ = store.get_findings()
    assert found[0]["ProductFields"]["secpipe/Count"] == "4"
    service.close()


def test_close_writes_what_is_pending(store) -> None:
    service = FalcoIntake(store, flush_interval=60)
    generation = service.submit(read_alerts(json.dumps(alert()).encode(), "a"))
    service.close()
    assert service.wait(generation, timeout=0.1)
    assert store.count_findings() == 1


def test_a_full_queue_refuses_instead_of_dropping(store) -> None:
    service = FalcoIntake(store, start=False, max_pending=1)
    service.submit(read_alerts(json.dumps(alert()).encode(), "a"))
    with pytest.raises(intake_module.Unavailable):
        service.submit(read_alerts(json.dumps(alert(rule="other")).encode(), "a"))
    service.close()
    found, _ = store.get_findings()
    assert [f["Title"] for f in found] == ["Terminal shell in container"]


def test_a_body_cut_mid_line_keeps_the_complete_alerts_and_counts_the_cut(hub: Hub) -> None:
    """Streaming intake: a last line cut short is a counted warning, not a lost batch; a body
    that is only a cut line has nothing complete and stays a 400."""
    whole = json.dumps(alert()).encode()
    status, body = hub.post(whole + b"\n" + whole + b"\n" + whole[:50],
                            path="/falco?wait=true")
    assert status == 200 and body["accepted"] == 2 and body["skipped"] == 1, body
    assert "line 3 is not JSON: the last line is cut short" in body["warnings"][0]
    status, body = hub.post(whole[:50])
    assert status == 400 and "cut short" in body["Message"]

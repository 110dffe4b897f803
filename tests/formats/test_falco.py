from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.falco import read_alerts
from secpipe.model import Category, Severity, SourceContext, to_asff
from tests.asserts import assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("falco")

ALERT = {
    "output": "10:23:45.123456789: Notice A shell was spawned in a container (user=root)",
    "priority": "Notice", "rule": "Terminal shell in container",
    "time": "2024-04-14T10:23:45.123456789Z",
    "output_fields": {"container.id": "a1b2c3d4e5f6", "container.name": "web",
                      "container.image.repository": "docker.io/library/nginx",
                      "container.image.tag": "1.25", "proc.name": "bash",
                      "proc.exepath": "/bin/bash", "proc.cmdline": "bash", "user.name": "root",
                      "k8s.pod.name": "nginx-7d8b49557c-2xk4p", "k8s.ns.name": "default"},
    "source": "syscall", "tags": ["container", "shell", "mitre_execution", "T1059"],
    "hostname": "node1",
}


def _doc(**changes) -> bytes:
    return json.dumps({**ALERT, **changes}).encode()


def test_shared_fixtures() -> None:
    """MANIFEST lists no counts for Falco (n/a): the rules file is not an alert report, and the
    regression output's 8 identical alerts collapse into ONE finding with Count 8 - a flood is
    one finding, on purpose."""
    folder = shared_fixture_dir("falco")
    assert "single_rule_with_cat_write.json" in manifest("falco")
    data = (folder / "single_rule_with_cat_write.json").read_bytes()
    findings = FMT.parse(data, "single_rule_with_cat_write.json")
    assert len(findings) == 1
    only = findings[0]
    assert only.properties["Count"] == "8"
    assert only.properties["FirstSeen"] == "2016-08-04T16:17:57.881Z"
    assert only.severity is Severity.MEDIUM and only.category is Category.RUNTIME
    assert only.rule_id == "open_from_cat"
    assert sniff(data, "x.json").name == "falco"
    assert_valid_asff(findings)
    with pytest.raises(ReportFormatError):       # a rules file is not an alert report
        FMT.parse((folder / "falco_rules.yaml").read_bytes(), "falco_rules.yaml")


def test_one_alert_as_posted_by_http_output_and_sidekick() -> None:
    finding, = FMT.parse(_doc(), "alert.json")
    assert finding.types == ("TTPs/Execution",)
    assert finding.severity is Severity.LOW and finding.severity_original == "Notice"
    assert finding.resource.type == "Container" and finding.resource.id == "a1b2c3d4e5f6"
    details = finding.resource.details
    assert details["ImageRepository"] == "docker.io/library/nginx"
    assert details["ImageTag"] == "1.25"
    assert details["KubernetesPod"] == "nginx-7d8b49557c-2xk4p"
    assert details["KubernetesNamespace"] == "default"
    assert finding.location_key == "falco:/bin/bash|"
    assert finding.references == ("https://attack.mitre.org/techniques/T1059/",)
    asff = to_asff(finding, SourceContext())
    assert asff["Types"] == ["TTPs/Execution"]
    assert asff["ProductFields"]["secpipe/falco.proc.cmdline"] == "bash"
    sidekick = json.dumps({**ALERT, "uuid": "0f4a3a6e-..."}).encode()   # Sidekick's payload
    assert FMT.parse(sidekick, "s.json")[0].fingerprint() == finding.fingerprint()
    assert sniff(sidekick, "s.json").name == "falco"
    assert_valid_asff([finding])


@pytest.mark.parametrize("priority,severity", [
    ("Emergency", Severity.CRITICAL), ("ALERT", Severity.CRITICAL), ("critical", Severity.CRITICAL),
    ("Error", Severity.HIGH), ("Warning", Severity.MEDIUM), ("Notice", Severity.LOW),
    ("Informational", Severity.INFORMATIONAL), ("info", Severity.INFORMATIONAL),
    ("Debug", Severity.INFORMATIONAL)])
def test_priorities_map_to_severity(priority: str, severity: Severity) -> None:
    assert FMT.parse(_doc(priority=priority), "p.json")[0].severity is severity


@pytest.mark.parametrize("tags,types", [
    (["mitre_persistence", "T1098"], ("TTPs/Persistence",)),
    (["mitre_privilege_escalation", "mitre_defense_evasion"],
     ("TTPs/Privilege Escalation", "TTPs/Defense Evasion")),
    (["mitre_credential_access"], ("TTPs/Credential Access",)),
    (["mitre_discovery"], ("TTPs/Discovery",)),
    (["mitre_lateral_movement"], ("TTPs/Lateral Movement",)),
    (["mitre_command_and_control"], ("TTPs/Command and Control",)),
    (["mitre_initial_access"], ("TTPs/Initial Access",)),
    (["mitre_exfiltration"], ("Effects/Data Exfiltration",)),   # ASFF's TTPs has no exfiltration
    (["container", "shell"], ("Unusual Behaviors/Process",)),
])
def test_mitre_tags_become_types(tags: list[str], types: tuple[str, ...]) -> None:
    finding = FMT.parse(_doc(tags=tags), "t.json")[0]
    assert finding.types == types
    assert_valid_asff([finding])


def test_identity_is_rule_container_process_and_file() -> None:
    a = _doc()
    same_later = _doc(time="2024-04-14T10:25:00Z", output="other text")
    other_file = json.dumps({**ALERT, "output_fields": {**ALERT["output_fields"],
                                                        "fd.name": "/etc/shadow"}}).encode()
    other_container = json.dumps({**ALERT, "output_fields": {**ALERT["output_fields"],
                                                             "container.id": "ffff00001111"}})
    findings = FMT.parse(b"\n".join([a, same_later, other_file, other_container.encode()]),
                         "lines.json")
    counts = sorted(int(f.properties["Count"]) for f in findings)
    assert counts == [1, 1, 2]
    host = json.dumps({**ALERT, "output_fields": {"proc.name": "sh", "container.id": "host"}})
    finding = FMT.parse(host.encode(), "h.json")[0]
    assert finding.resource.type == "Other" and finding.resource.id == "host:node1"


def test_array_and_json_lines_read_alike() -> None:
    lines = b"\n".join([_doc(), _doc()]) + b"\n\n"
    array = json.dumps([ALERT, ALERT]).encode()
    assert len(read_alerts(lines, "l")) == len(read_alerts(array, "a")) == 2
    assert sniff(lines, "l").name == "falco" and sniff(array, "a").name == "falco"


@pytest.mark.parametrize("bad,why", [
    (b"{", "JSON"),
    (b"[1, 2]", "object"),
    (b'{"a": 1}', "rule"),
    (json.dumps({k: v for k, v in ALERT.items() if k != "time"}).encode(), "time"),
    (json.dumps({k: v for k, v in ALERT.items() if k != "output_fields"}).encode(),
     "output_fields"),
    (_doc(priority="Loud"), "priority"),
    (_doc(time="yesterday"), "RFC 3339"),
    (_doc() + b"\nnot json", "line 2"),
    (b'"text"', "alert object"),
])
def test_malformed_reports_raise_format_error(bad: bytes, why: str) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value) and why in str(err.value)


def test_an_empty_events_file_is_no_alerts() -> None:
    """Falco's file output before the first alert is an empty JSON-lines file."""
    assert FMT.parse(b"", "events.json") == [] and FMT.parse(b"\n\n", "events.json") == []


def test_sniffing_leaves_other_json_alone() -> None:
    assert FMT.sniff is not None
    from secpipe.formats.interface import Document
    assert not FMT.sniff(Document(b'[{"code":"DL3000","level":"error","line":1,"file":"D"}]'))
    assert not FMT.sniff(Document(b'{"rule": "x"}'))


def test_asff_times_are_the_alerts_times_not_the_conversion_time() -> None:
    """FirstObservedAt/LastObservedAt/CreatedAt say when the events happened; UpdatedAt is when
    secpipe wrote the finding."""
    early, late = _doc(time="2024-04-14T10:23:45.123456789Z"), _doc(time="2024-04-14T11:00:00Z")
    finding, = FMT.parse(late + b"\n" + early + b"\n", "events.jsonl")
    ctx = SourceContext(run_id="r", stage="runtime", observed_at="2026-01-01T00:00:00.000Z")
    asff = to_asff(finding, ctx)
    assert asff["FirstObservedAt"] == asff["CreatedAt"] == "2024-04-14T10:23:45.123Z"
    assert asff["LastObservedAt"] == "2024-04-14T11:00:00.000Z"
    assert asff["UpdatedAt"] == "2026-01-01T00:00:00.000Z"
    assert_valid_asff([finding])


def test_the_time_may_come_from_the_evt_time_output_field() -> None:
    """An alert without `time` (a custom output) still says when: evt.time, in nanoseconds."""
    no_time = {k: v for k, v in ALERT.items() if k != "time"}
    ns = {**no_time, "output_fields": {**ALERT["output_fields"], "evt.time": 1470327477881781397}}
    iso = {**no_time, "output_fields": {**ALERT["output_fields"],
                                        "evt.time.iso8601": "2016-08-04T16:17:57.881781397Z"}}
    for alert in (ns, iso):
        finding, = FMT.parse(json.dumps(alert).encode(), "a.json")
        assert finding.first_observed_at == "2016-08-04T16:17:57.881Z"


@pytest.mark.parametrize("when", [
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:00:00-05:00",
    "1969-12-31T23:59:59Z", "2024-13-01T00:00:00Z", "",
])
def test_an_alert_time_out_of_range_is_refused_for_that_alert(when: str) -> None:
    good = _doc()
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(good + b"\n" + _doc(time=when) + b"\n", "events.jsonl")
    assert "events.jsonl" in str(err.value) and "line 2" in str(err.value)
    assert "time" in str(err.value)


def test_a_report_cut_mid_line_is_an_error_naming_the_line() -> None:
    cut = _doc() + b"\n" + _doc() + b"\n" + _doc()[:57]
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(cut, "events.jsonl")
    assert "events.jsonl: line 3" in str(err.value) and "cut short" in str(err.value)


def test_streaming_intake_counts_a_cut_last_line_as_a_warning() -> None:
    cut = _doc() + b"\n" + _doc() + b"\n" + _doc()[:57]
    alerts = read_alerts(cut, "stream", partial_last_line="warn")
    assert len(alerts) == 2 and len(alerts.skipped) == 1 and "line 3" in alerts.skipped[0]
    whole = read_alerts(_doc() + b"\n", "stream", partial_last_line="warn")
    assert len(whole) == 1 and whole.skipped == []
    # only the last line may be cut: a broken line in the middle stays an error
    with pytest.raises(ReportFormatError, match="line 2"):
        read_alerts(_doc() + b"\n{broken\n" + _doc(), "stream", partial_last_line="warn")
    with pytest.raises(ValueError):
        read_alerts(cut, "stream", partial_last_line="ignore")

"""Every OCSF field name of GetFindingsV2's filters in botocore's model is decided: mapped to
an ASFF filter key of the model's AwsSecurityFindingFilters (or to an enumeration the hub
evaluates), or listed here as having no ASFF counterpart (refused with ValidationException).
A field a newer model adds fails this test until someone decides."""

from __future__ import annotations

import pytest

from secpipe.hub import findings_v2 as v2
from secpipe.hub.api.botomodel import service_model

NO_ASFF_COUNTERPART = {
    "class_name", "compliance.assessments.category", "compliance.assessments.name",
    "finding_info.related_events.traits.category", "finding_info.related_events.title",
    "impact", "likelihood", "remediation.references", "resources.criticality", "resources.name",
    "resources.owner.account.name", "vulnerabilities.fix_coverage",
    "databucket.encryption_details.algorithm", "databucket.encryption_details.key_uid",
    "databucket.file.data_classifications.classifier_details.type",
    "evidences.actor.user.account.uid", "evidences.api.operation",
    "evidences.api.response.error_message", "evidences.api.service.name",
    "evidences.connection_info.direction", "evidences.connection_info.protocol_name",
    "evidences.dst_endpoint.autonomous_system.name", "evidences.dst_endpoint.location.city",
    "evidences.dst_endpoint.location.country", "evidences.src_endpoint.autonomous_system.name",
    "evidences.src_endpoint.hostname", "evidences.src_endpoint.location.city",
    "evidences.src_endpoint.location.country", "malware_scan_info.uid", "malware.severity",
    "resources.cloud_function.layers.uid_alt", "resources.cloud_function.runtime",
    "resources.cloud_function.user.uid", "resources.device.encryption_details.key_uid",
    "resources.device.image.uid", "resources.image.architecture", "resources.image.registry_uid",
    "resources.image.repository_name", "resources.image.uid", "resources.subnet_info.uid",
    "resources.vpc_uid", "vulnerabilities.affected_code.file.path",
    "vulnerabilities.affected_packages.name", "vulnerabilities.cve.epss.score",
    "vulnerabilities.cve.uid", "vulnerabilities.related_vulnerabilities",
    "vendor_attributes.severity", "compliance.assessments.meets_criteria",
    "finding_info.related_events_count", "evidences.api.response.code",
    "evidences.dst_endpoint.autonomous_system.number", "evidences.dst_endpoint.port",
    "evidences.src_endpoint.autonomous_system.number", "evidences.src_endpoint.port",
    "resources.image.in_use_count", "vulnerabilities.cve.cvss.base_score",
    "vendor_attributes.severity_id", "resources.image.created_time_dt",
    "resources.image.last_used_time_dt", "resources.modified_time_dt",
    "compliance.control_parameters", "databucket.tags", "finding_info.tags",
}
KINDS = {"OcsfStringField": {**v2.STRINGS, **{k: v[0] for k, v in v2.MAP_KEYED.items()},
                             **{k: v[0] for k, v in v2.ENUM_STRINGS.items()},
                             "activity_name": "RecordState"},
         "OcsfNumberField": {**v2.NUMBERS, **{k: v[0] for k, v in v2.ENUM_NUMBERS.items()},
                             "activity_id": "RecordState"},
         "OcsfDateField": v2.DATES, "OcsfBooleanField": v2.BOOLEANS, "OcsfMapField": v2.MAPS,
         "OcsfIpField": v2.IPS}


@pytest.mark.parametrize("shape", sorted(KINDS))
def test_every_model_field_is_decided(shape: str) -> None:
    model = service_model()
    asff_keys = set(model.shape_for("AwsSecurityFindingFilters").members)
    names = set(model.shape_for(shape).enum)
    mapped = KINDS[shape]
    constants = set(v2.CONSTANTS) if shape == "OcsfStringField" else set()   # always "AWS"
    undecided = names - set(mapped) - constants - NO_ASFF_COUNTERPART
    assert not undecided, f"{shape}: map these to an ASFF filter or list them: {undecided}"
    assert set(mapped) <= names, f"{shape}: mapped names the model lacks"
    assert not set(mapped) & NO_ASFF_COUNTERPART
    assert set(mapped.values()) <= asff_keys, "a mapping target is no ASFF filter key"


def test_sort_fields_map_to_sortable_asff_fields() -> None:
    from secpipe.hub.pages import sort_keys

    for ocsf, asff in v2.SORTS.items():
        sort_keys([{"Field": asff, "SortOrder": "asc"}])     # raises when not sortable

"""ASFF's finding-type taxonomy as secpipe uses it, shared by writing (asff.py) and reading
(asff_read.py) ASFF so that neither imports the other."""

from __future__ import annotations

from secpipe.model.finding import Category

TYPE_NAMESPACES = (
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
)

TYPES_BY_CATEGORY: dict[Category, tuple[str, ...]] = {
    Category.SECRET: (
        "Sensitive Data Identifications/Security/Credentials",
        "Effects/Data Exposure",
    ),
    Category.MISCONFIGURATION: (
        "Software and Configuration Checks/Industry and Regulatory Standards/Misconfiguration",
    ),
    Category.COMPLIANCE: (
        "Software and Configuration Checks/Industry and Regulatory Standards",
    ),
    Category.VULNERABILITY: ("Software and Configuration Checks/Vulnerabilities/CVE",),
    Category.CODE: ("Software and Configuration Checks/Vulnerabilities/CWE",),
    Category.RUNTIME: ("Unusual Behaviors/Process",),
}

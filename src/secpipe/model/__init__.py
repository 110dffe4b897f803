"""The domain model. Depends on nothing else in secpipe."""

from secpipe.model.asff import to_asff, validate_asff
from secpipe.model.asff_read import from_asff
from secpipe.model.finding import (
    Category,
    Finding,
    Location,
    Resource,
    Severity,
    SourceContext,
    Vulnerability,
    snippet_hash,
)
from secpipe.model.secret import (
    FingerprintKey, Secret, SecretCollector, collecting, keyed, keyed_tool_hash, mask,
)

__all__ = [
    "Category", "Finding", "FingerprintKey", "Location", "Resource", "Secret", "SecretCollector",
    "Severity", "SourceContext", "Vulnerability", "collecting", "from_asff", "keyed",
    "keyed_tool_hash", "mask",
    "snippet_hash",
    "to_asff", "validate_asff",
]

"""The Finding: what every parser produces and every gate, sink and writer consumes.

The model is deliberately plain (frozen dataclasses, stdlib only) so the same objects serve the
CLI, the hub and the Lambda, and so nothing here can reach back into parsers or pipelines.
It is ASFF-shaped because Security Hub is the aggregator the seed system reports to; the
conversion itself lives in :mod:`secpipe.model.asff`.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Mapping

from secpipe.model.derived import DerivedText, derive, held, setter
from secpipe.model.rarefields import FACTORY as _FACTORY, SLOT, rare_fields, slotted
from secpipe.model.secret import Secret


class Severity(enum.IntEnum):
    """ASFF severity labels, ordered so thresholds compare naturally (`sev >= HIGH`)."""

    INFORMATIONAL = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def normalized(self) -> int:
        """The ASFF Normalized value Security Hub derives from the label."""
        return {0: 0, 1: 1, 2: 40, 3: 70, 4: 90}[int(self)]

    @classmethod
    def parse(cls, text: str | int | None, default: "Severity | None" = None) -> "Severity":
        """Map a tool's severity word (or an ASFF label) onto the five labels.

        Tools use many vocabularies (`error`/`warning`/`note`, `moderate`, `unknown`, `info`);
        the table is shared so every parser maps the same word the same way.
        """
        if isinstance(text, Severity):
            return text
        if text is None:
            if default is None:
                raise ValueError("no severity given")
            return default
        key = str(text).strip().lower()
        value = _SEVERITY_WORDS.get(key)
        if value is None:
            if default is None:
                raise ValueError(f"unknown severity {text!r}")
            return default
        return value

    @classmethod
    def from_normalized(cls, score: float) -> "Severity":
        """ASFF's Normalized ranges: 0 info, 1-39 low, 40-69 medium, 70-89 high, 90+ critical."""
        if score < 1:
            return cls.INFORMATIONAL
        if score < 40:
            return cls.LOW
        if score < 70:
            return cls.MEDIUM
        if score < 90:
            return cls.HIGH
        return cls.CRITICAL


_SEVERITY_WORDS: dict[str, Severity] = {
    "informational": Severity.INFORMATIONAL,
    "information": Severity.INFORMATIONAL,
    "info": Severity.INFORMATIONAL,
    "none": Severity.INFORMATIONAL,
    "note": Severity.INFORMATIONAL,
    "style": Severity.INFORMATIONAL,
    "negligible": Severity.INFORMATIONAL,
    "unknown": Severity.INFORMATIONAL,
    "unspecified": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "warning": Severity.MEDIUM,
    "warn": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "error": Severity.HIGH,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "critical": Severity.CRITICAL,
    "very high": Severity.CRITICAL,
    "blocker": Severity.CRITICAL,
}


class Category(str, enum.Enum):
    """What kind of problem a finding is; decides its ASFF Types and how outputs group it."""

    SECRET = "secret"
    MISCONFIGURATION = "misconfiguration"
    VULNERABILITY = "vulnerability"
    CODE = "code"
    RUNTIME = "runtime"
    COMPLIANCE = "compliance"


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the scanned tree a finding sits. Paths are relative to the scan root."""

    path: str
    start_line: int | None = None
    end_line: int | None = None
    snippet: str | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    """The ASFF resource a finding is about (a file, a container image, a k8s object...)."""

    type: str
    id: str
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Vulnerability:
    """A known vulnerability (CVE/GHSA) in a package, for ASFF's Vulnerabilities field."""

    id: str
    package: str | None = None
    version: str | None = None
    fixed_version: str | None = None
    aliases: tuple[str, ...] = ()
    cvss_score: float | None = None
    cvss_vector: str | None = None
    urls: tuple[str, ...] = ()


class _FingerprintSlot:
    """Where a Finding keeps its fingerprint once computed: a slot of a base class, so it is
    no dataclass field (not in `fields()`, `asdict`, `replace`, equality, hash, repr or the
    pickled state) and a copy made by `replace` computes its own."""

    __slots__ = ("_fingerprint",)


# the dataclass `@dataclass(frozen=True, slots=True)` made, but with the seven fields findings
# rarely set held together in one slot (`model.rarefields`)
@slotted
@dataclass(frozen=True, init=False)
class Finding(_FingerprintSlot):
    """One problem reported by one tool, normalised.

    ``location_key`` is the parser's best stable evidence for *where* the problem is that does
    not move when lines shift (a resource name, a hashed snippet, a secret's hash). When a
    parser has none, the pipeline falls back on the finding's ordinal among findings of the
    same rule in the same file, which survives edits elsewhere in the file.
    """

    tool: str
    rule_id: str
    title: str
    severity: Severity
    description: str = ""
    category: Category = Category.MISCONFIGURATION
    severity_original: str | None = None
    location: Location | None = None
    resource: Resource | None = None
    remediation: str | None = None
    remediation_url: str | None = None
    references: tuple[str, ...] = ()
    cwe: tuple[str, ...] = ()
    vulnerabilities: tuple[Vulnerability, ...] = ()
    secret: Secret | None = None
    location_key: str | None = None
    confidence: int | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    # Explicit ASFF Types (`namespace/category/classifier`); empty means the category's default.
    # Runtime alerts know their MITRE tactic (`TTPs/Execution`), which the category cannot say.
    types: tuple[str, ...] = ()
    # When the tool saw it (ISO 8601, ms, `Z`), for reports that say so (a Falco alert's time):
    # ASFF's CreatedAt/FirstObservedAt/LastObservedAt then tell when it happened, not when
    # secpipe converted the report. None: the conversion time, as for scans.
    first_observed_at: str | None = None
    last_observed_at: str | None = None
    # Correlation (one issue per root cause): findings of several tools or rules that share a
    # root cause carry the same `issue_key`, and each lists the others' ASFF Ids in `related`.
    # Empty until the pipeline's correlation step fills them; outputs group on
    # `issue_key or fingerprint()`.
    issue_key: str | None = None
    related: tuple[str, ...] = ()

    def __init__(self, tool: str, rule_id: str, title: str, severity: Severity,
                 description: str = "", category: Category = Category.MISCONFIGURATION,
                 severity_original: str | None = None, location: Location | None = None,
                 resource: Resource | None = None, remediation: str | None = None,
                 remediation_url: str | None = None, references: tuple[str, ...] = (),
                 cwe: tuple[str, ...] = (), vulnerabilities: tuple[Vulnerability, ...] = (),
                 secret: Secret | None = None, location_key: str | None = None,
                 confidence: int | None = None, properties: Mapping[str, str] = _FACTORY,
                 types: tuple[str, ...] = (), first_observed_at: str | None = None,
                 last_observed_at: str | None = None, issue_key: str | None = None,
                 related: tuple[str, ...] = ()) -> None:
        """The dataclass's `__init__` (the same parameters and defaults), the seven rarely set
        fields held together (`model.rarefields`)."""
        _TOOL(self, tool)
        _RULE_ID(self, rule_id)
        _TITLE(self, title)
        _SEVERITY(self, severity)
        _DESCRIPTION(self, description)
        _CATEGORY(self, category)
        _SEVERITY_ORIGINAL(self, severity_original)
        _LOCATION(self, location)
        _RESOURCE(self, resource)
        _REMEDIATION(self, remediation)
        _REFERENCES(self, references)
        _CWE(self, cwe)
        _SECRET(self, secret)
        _LOCATION_KEY(self, location_key)
        _PROPERTIES(self, {} if properties is _FACTORY else properties)
        _ISSUE_KEY(self, issue_key)
        _RARE(self, rare_fields(remediation_url, vulnerabilities, confidence, types,
                                first_observed_at, last_observed_at, related))

    def __setstate__(self, state: list[Any]) -> None:
        """The dataclass's pickled state (every field's value, in order) back."""
        self.__init__(*state)   # type: ignore[misc]

    def with_(self, **changes: object) -> "Finding":
        """Copy with changes; findings are immutable so enrichment never aliases."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def path(self) -> str | None:
        return self.location.path if self.location else None

    def identity_key(self) -> str:
        """The parts that make two reports of the same problem the same finding.

        Never a counter, build id or line number: the seed's Lambda used `<n>-<type>-<build>`
        and every build duplicated every finding.
        """
        if self.resource is not None:
            where = f"{self.resource.type}:{self.resource.id}"
        elif self.location is not None:
            where = f"path:{self.location.path}"
        else:
            where = "-"
        return "\x1f".join([self.tool, self.rule_id, where, self.effective_location_key() or ""])

    def effective_location_key(self) -> str | None:
        """The line-independent part of the identity: the parser's key, else the secret's hash,
        else the normalised snippet's hash."""
        key = _HELD_LOCATION_KEY(self)   # the slot itself: no descriptor call (model.derived)
        if key is not None:
            if key.__class__ is SecretKey:
                return key.prefix + self.secret.sha256   # type: ignore[union-attr]
            return key if key.__class__ is str else self.location_key
        if self.secret is not None:
            return f"secret:{self.secret.sha256}"
        if self.location is not None and self.location.snippet:
            return "snippet:" + snippet_hash(self.location.snippet)
        return None

    def fingerprint(self) -> str:
        """A stable hex digest of :meth:`identity_key` (used in the ASFF Id).

        Kept on the finding once computed: the parts it is made of are frozen (this class,
        Location, Resource and Secret are frozen dataclasses), and a finding is named by it
        about five times on its way (correlation twice, the gate, ASFF, SARIF, the report's
        groups), each a string build and a cache lookup otherwise."""
        try:
            fingerprint = self._fingerprint
        except AttributeError:
            fingerprint = _digest(self.identity_key())
            object.__setattr__(self, "_fingerprint", fingerprint)   # frozen: a cache only
            return fingerprint
        # 32 hex digits (`_digest`); longer, the issue key that holds them after ISSUE_PREFIX
        # (a finding alone in its issue: `hold_in_issue_key`)
        return fingerprint if len(fingerprint) == 32 else fingerprint[len(ISSUE_PREFIX):]

    def named_by(self, fingerprint: str) -> "Finding":
        """This finding, its fingerprint `fingerprint`, which must be `identity_digest` of
        its `identity_key()` as just computed (assign_identities reads every finding's key
        anyway: the gate and correlation then need not build it again). Hashed without
        `_digest`'s cache: the finding keeps its fingerprint, and the cache held every
        finding's identity text through the tools' digest (about 15 MB at 50,000 findings,
        at the run's peak) to save a hash no one asked for again. A fingerprint it holds
        already stays."""
        try:
            self._fingerprint
        except AttributeError:
            object.__setattr__(self, "_fingerprint", fingerprint)
        return self

    def keep_fingerprint_in(self, copy: "Finding") -> "Finding":
        """`copy` (made from this finding with the same identity fields) given this one's
        fingerprint when it is known."""
        try:
            object.__setattr__(copy, "_fingerprint", self._fingerprint)
        except AttributeError:
            pass
        return copy


ISSUE_PREFIX = "issue/"   # `pipeline.correlate`'s issue keys: the prefix and a fingerprint
#: `hold_in_issue_key(finding, finding.issue_key)`: keep `finding`'s fingerprint as the text
#: of its issue key, which must be `ISSUE_PREFIX + finding.fingerprint()` (a finding alone
#: in its issue: `pipeline.correlate`). Both texts held were 81 and 87 bytes a finding, 4 MB
#: at 50,000 findings alive from the correlation to the run's end. `fingerprint()` then gives
#: the key's tail (a slice, made at each of its few reads after the correlation); the issue
#: key, read about 19 times by the writers, stays a text held as it is. The slot's own
#: setter: no call of its own for each finding.
hold_in_issue_key = _FingerprintSlot.__dict__["_fingerprint"].__set__


class SecretKey(DerivedText):
    """A secret finding's `location_key`, `prefix` + its secret's digest, made when read: held,
    the text repeats the 64 hex digits the finding's Secret holds (120 bytes a finding, 4.5 MB
    at 37,500 secret findings, alive from the parse to the run's end). One object per prefix
    (`formats._secrets`). Read in `effective_location_key` (identity, ASFF) without a call of
    its own; `merge_repeats` groups by its prefix and digest."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def render(self, finding: Any, field: str) -> str:
        return self.prefix + finding.secret.sha256   # secret_finding gives it a secret


# a parser may leave these to be made from the finding's other fields (model.derived)
derive(Finding, "title", "description", "location_key")
_HELD_LOCATION_KEY = held(Finding, "location_key")
(_TOOL, _RULE_ID, _TITLE, _SEVERITY, _DESCRIPTION, _CATEGORY, _SEVERITY_ORIGINAL, _LOCATION,
 _RESOURCE, _REMEDIATION, _REFERENCES, _CWE, _SECRET, _LOCATION_KEY, _PROPERTIES, _ISSUE_KEY,
 _RARE) = [setter(Finding, name) for name in (
    "tool", "rule_id", "title", "severity", "description", "category", "severity_original",
    "location", "resource", "remediation", "references", "cwe", "secret", "location_key",
    "properties", "issue_key", SLOT)]


@lru_cache(maxsize=1 << 16)
def _digest(identity: str) -> str:
    """Cached: every writer names a finding by its fingerprint (the gate, correlation, ASFF,
    SARIF, the hub), about six hashes of the same text per finding otherwise."""
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


#: a finding's fingerprint from its identity text, without `_digest`'s cache (`named_by`)
identity_digest = _digest.__wrapped__


def forget_fingerprints() -> None:
    """Empty `_digest`'s cache once a run's findings carry their fingerprints: its keys are
    every finding's identity text (about 15 MB with the cache's own links at 50,000 findings,
    alive through the run's final scrub, its peak). A finding copied later without its
    fingerprint hashes its identity again: the same digest."""
    _digest.cache_clear()


def snippet_hash(snippet: str) -> str:
    """Hash a code snippet with whitespace folded, so re-indenting does not change identity."""
    folded = " ".join(snippet.split())
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SourceContext:
    """Where and when a finding was produced: travels into ASFF ProductFields."""

    repo: str = ""
    branch: str = ""
    commit: str = ""
    run_id: str = ""
    stage: str = ""
    tool_version: str = ""
    account_id: str = "000000000000"
    region: str = "us-east-1"
    partition: str = "aws"
    product_name: str = "secpipe"
    company_name: str = "secpipe"
    observed_at: str = ""

    @property
    def product_arn(self) -> str:
        """The custom-product ARN Security Hub expects for findings an account sends itself."""
        return _product_arn(self.partition, self.region, self.account_id)


@lru_cache(maxsize=64)
def _product_arn(partition: str, region: str, account_id: str) -> str:
    """One object for every finding's ASFF ProductArn (a run's hub holds every document of
    the run at once: 130 bytes each otherwise)."""
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"

"""`asff._product_fields` returns the fields it built as they are when nothing needs dropping
or clipping: it must answer exactly what the former code (every field checked in Python,
frozen here) answered, order included, for any finding and context."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from secpipe.model import Category, Finding, Location, Secret, Severity, SourceContext
from secpipe.model.asff import LIMITS, _product_fields, clip, web_url


def _former(finding: Finding, ctx: SourceContext, fingerprint: str | None = None) -> dict:
    fields: dict[str, str] = {
        "secpipe/Tool": finding.tool,
        "secpipe/RuleId": finding.rule_id,
        "secpipe/Category": finding.category.value,
        "secpipe/Fingerprint": fingerprint or finding.fingerprint(),
    }
    location_key = finding.effective_location_key()
    if location_key:
        fields["secpipe/LocationKey"] = location_key
    if finding.issue_key and finding.related:
        fields["secpipe/IssueKey"] = finding.issue_key
    for key, value in (
        ("secpipe/Repo", ctx.repo), ("secpipe/Branch", ctx.branch),
        ("secpipe/Commit", ctx.commit), ("secpipe/RunId", ctx.run_id),
        ("secpipe/Stage", ctx.stage), ("secpipe/ToolVersion", ctx.tool_version),
    ):
        if value:
            fields[key] = value
    loc = finding.location
    if loc is not None:
        fields["secpipe/Path"] = loc.path
        if loc.start_line is not None:
            fields["secpipe/StartLine"] = str(loc.start_line)
        if loc.end_line is not None:
            fields["secpipe/EndLine"] = str(loc.end_line)
    if finding.secret is not None:
        fields["secpipe/SecretSha256"] = finding.secret.sha256
        fields["secpipe/SecretMasked"] = finding.secret.masked
    if finding.cwe:
        fields["secpipe/CWE"] = ",".join(finding.cwe)
    references = [r.strip() for r in finding.references if web_url(r)]
    if references:
        fields["secpipe/References"] = " ".join(references)
    for key, value in finding.properties.items():
        if len(fields) >= LIMITS["ProductFields"]:
            break
        fields.setdefault(f"secpipe/{key}", str(value))
    key_max, value_max = LIMITS["ProductFields.key"], LIMITS["ProductFields.value"]
    return {
        (k if type(k) is str and len(k) <= key_max else clip(k, key_max)):
        (v if type(v) is str and len(v) <= value_max else clip(v, value_max))
        for k, v in fields.items()
        if v != ""
    }


# lengths around the limits: empty, short, and just under, at and over them
_text = st.one_of(st.text(max_size=6), st.integers(118, 130).map(lambda n: "k" * n),
                  st.integers(2040, 2056).map(lambda n: "v" * n))
_name = st.one_of(st.text(min_size=1, max_size=6), st.integers(118, 124).map(lambda n: "p" * n))
_finding = st.builds(
    Finding,
    tool=st.one_of(_text, st.none()), rule_id=_text, title=_text, severity=st.sampled_from(Severity),
    category=st.sampled_from(Category),
    location=st.none() | st.builds(Location, path=_text,
                                   start_line=st.none() | st.integers(0, 9),
                                   end_line=st.none() | st.integers(0, 9)),
    secret=st.none() | st.builds(Secret, sha256=_text, masked=_text),
    location_key=st.none() | _text, issue_key=st.none() | _text,
    related=st.lists(_text, max_size=2).map(tuple),
    cwe=st.lists(_text, max_size=2).map(tuple),
    references=st.lists(st.sampled_from(["https://x.example/a", "no url", " https://y/ "]),
                        max_size=2).map(tuple),
    properties=st.dictionaries(_name, st.one_of(_text, st.integers(), st.none()), max_size=55),
)
_ctx = st.builds(SourceContext, repo=_text, branch=_text, commit=_text, run_id=_text,
                 stage=_text, tool_version=_text)


@settings(max_examples=400, deadline=None)
@given(_finding, _ctx, st.none() | _text)
def test_product_fields_are_the_former_ones(finding: Finding, ctx: SourceContext,
                                            fingerprint: str | None) -> None:
    try:
        former = _former(finding, ctx, fingerprint)
    except Exception as exc:   # a field that is no text: both fail alike
        try:
            _product_fields(finding, ctx, fingerprint)
        except Exception as again:
            assert type(again) is type(exc)
            return
        raise AssertionError(f"the former code raised {exc!r}") from None
    now = _product_fields(finding, ctx, fingerprint)
    assert now == former
    assert list(now.items()) == list(former.items())

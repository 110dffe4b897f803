"""The findings of report.html as one compact JSON block, grouped into issues.

At 50,000 findings a page with one table row per finding takes Chromium tens of seconds to lay
out and weighs tens of MB. So the page carries the findings once, as data: each repeated string
(title, description, remediation, rule, tool, path) once in a string table, each finding as a
short array of indices, findings grouped into issues (`issue_key` from the correlation step, else
the finding's own fingerprint). A small script renders a page of issue rows at a time and a
finding's details only when asked. The first page is also rendered on the server, so the report
still reads without script.

Everything placed in the block is cleaned of control and bidi characters like the rest of the
page; the block itself is gzipped JSON in base64, so no scanned string can end it, and the page
is a tenth of the size.
"""

from __future__ import annotations

import base64
import zlib
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Sequence

from secpipe.model import Finding, Severity
from secpipe.outputs._common import (
    SHORT_NAMES, Origins, clean, enforcing, link_for, secret_text, where,
)
from secpipe.outputs._stream import RawArray, encode_utf8_pieces
from secpipe.pipeline.result import GatedFinding, RunResult, StageResult

#: worst first: a group takes the worst state any of its findings has
STATES = ("blocking", "advisory", "open", "suppressed")
#: one finding in the data block: indices into the string table unless said otherwise
FIELDS = ("where", "state", "stage", "tool", "rule", "title", "secret", "id", "suppression",
          "link", "description", "remediation", "rank")  # state, rank: plain ints
#: shown only in an issue's details: their strings travel in a second block, inflated on the
#: first expand (descriptions are half the data and slow the first draw for nothing)
DETAIL_FIELDS = ("id", "description")


_BLOCKING, _ADVISORY, _OPEN, _SUPPRESSED = range(len(STATES))


def state_of(stage: StageResult, gated: GatedFinding) -> str:
    if gated.suppressed_by is not None:
        return "suppressed"
    if gated.blocking:
        return "blocking" if enforcing(stage) else "advisory"
    return "open"


class _Strings:
    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}
        self.table: list[str] = [""]

    def __call__(self, value: object) -> int:
        text = "" if value is None else str(value)
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.table)
            self.table.append(clean(text))
        return found

    def indexer(self) -> Callable[[object], int]:
        """`self.__call__` as a closure over the table: build() calls it eleven times per
        finding, and a string seen before (most are) costs one type check and one lookup."""
        get, index, table = self.index.get, self.index, self.table

        def of(value: object) -> int:
            text = value if type(value) is str else ("" if value is None else str(value))
            found = get(text)
            if found is None:
                found = index[text] = len(table)
                table.append(clean(text))
            return found

        return of


def build(run: RunResult, ordered: Sequence[tuple[StageResult, GatedFinding]],
          origins: Origins, keep: int = 0
          ) -> tuple[dict[str, Any], dict[str, Any], list[list[int]], dict[int, list[int]]]:
    """(the data block, the details block, each group's finding indices in order, the rows
    of the first `keep` groups by index); `ordered` is most severe first, so each group's
    first finding is its worst one.

    The rows go into the block encoded as they are made (`RawArray`): only the first
    groups' rows, which the server renders (`group_view`), are kept as lists."""
    string_table, details_table = _Strings(), _Strings()
    strings, details = string_table.indexer(), details_table.indexer()
    rows = RawArray()
    kept: dict[int, list[int]] = {}
    n = 0
    groups: dict[str, list[int]] = {}
    # the index of link_for(f) by the finding's (remediation URL, references), which a
    # rule's findings share; asked in its place in the row, so new strings get their index
    # in the same order as before
    links: dict[tuple[str | None, tuple[str, ...]], int] = {}

    def link_of(f: Finding) -> int:
        refs = (f.remediation_url, f.references)
        found = links.get(refs)
        if found is None:
            found = links[refs] = strings(link_for(f) or "")
        return found

    for stage, gated in ordered:
        f = gated.finding
        sup = gated.suppressed_by
        # STATES.index(state_of(stage, gated)), without the name
        state = (_SUPPRESSED if sup is not None else _OPEN if not gated.blocking
                 else _BLOCKING if enforcing(stage) else _ADVISORY)
        row = [
            strings(where(f)), state,
            strings(gated.stage or stage.name), strings(origins.tool_name(stage, gated)),
            strings(f.rule_id), strings(f.title.strip() or f.rule_id), strings(secret_text(f)),
            details(gated.asff_id), strings(sup.describe() if sup is not None else ""),
            link_of(f), details(f.description.strip()),
            strings(f.remediation or ""), int(f.severity),
        ]
        rows.append(row)
        key = getattr(f, "issue_key", None) or f.fingerprint()
        group = groups.get(key)
        if group is None:
            group = groups[key] = []
            if len(groups) <= keep:
                kept[n] = row
        elif group[0] in kept:     # a member of one of the first groups
            kept[n] = row
        group.append(n)
        n += 1
    members = list(groups.values())
    data = {
        "fields": FIELDS,
        "states": STATES,
        # string keys, as the JSON has them: an int key made orjson refuse the whole block,
        # which then went to the standard encoder (most of the block's encoding time)
        "severities": {str(int(s)): [s.name, SHORT_NAMES[s]] for s in Severity},
        "details": DETAIL_FIELDS,
        "strings": string_table.table,
        "findings": rows,
        "groups": members,
    }
    return data, {"strings": details_table.table}, members, kept


def group_view(data: dict[str, Any], details: dict[str, Any], members: list[int],
               rows: dict[int, list[int]] | None = None) -> SimpleNamespace:
    """What the server-rendered row of one group shows (the script draws the same).

    A namespace, not a dict: the template reads `f.title`, and Jinja tries an attribute
    before an item, so each of a dict's twenty reads per row raised and caught an
    AttributeError (half the page's render time). `rows`: the group's rows by index (`build`'s
    last value), else the block's list of rows."""
    if rows is None:
        rows = data["findings"]
    first = rows[members[0]]
    field = {name: i for i, name in enumerate(FIELDS)}

    def s(name: str) -> str:
        table = details["strings"] if name in DETAIL_FIELDS else data["strings"]
        return table[first[field[name]]]

    rank = first[field["rank"]]
    severity = Severity(rank)
    state = STATES[min(rows[m][field["state"]] for m in members)]
    return SimpleNamespace(
        severity=severity.name, short=SHORT_NAMES[severity], rank=rank,
        stage=s("stage"), tool=s("tool"), rule=s("rule"), link=s("link") or None,
        where=s("where"), title=s("title"), description=s("description"),
        remediation=s("remediation"), secret=s("secret"), state=state,
        suppression=s("suppression"), count=len(members),
    )


def to_script_json(data: dict[str, Any]) -> str:
    """The data block's text: the JSON gzipped, in base64 (76-character lines).

    A tenth of the JSON's size, so a 50,000-finding page is a few MB, not twenty, and the
    browser reads it in a fraction of the time; the page's script inflates it with the
    browser's own DecompressionStream. Base64 holds no `<`, so nothing can end the block."""
    return "".join(base64_lines(packed(data)))


def packed(data: dict[str, Any]) -> list[bytes]:
    """The data block gzipped, in pieces (`to_script_json` before its base64).

    json.dumps(ensure_ascii=False, compact) as UTF-8, orjson's bytes as they are, fed to the
    compressor piece by piece: the whole text (16 MB at 50,000 findings) is never held.
    gzip.compress(text, compresslevel=6, mtime=0) is zlib's gzip wrapper at level 6, and
    deflate's output does not depend on how its input is cut (tests compare both)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [packer.compress(piece) for piece in encode_utf8_pieces(data)]
    out.append(packer.flush())
    return [piece for piece in out if piece]


#: bytes of input per base64 piece: whole 57-byte lines, so the pieces' lines are the lines
#: `base64.encodebytes` makes of the whole
_LINES_AT_ONCE = 57 * 1024


def base64_lines(pieces: list[bytes]) -> Iterator[str]:
    """`base64.encodebytes(b"".join(pieces)).decode("ascii")` in pieces of about 76 KB, taken
    from `pieces` as they go (the list is emptied): the page is written with the block's
    text made as it is written, not held whole (5 MB at 50,000 findings, twice: the bytes
    and the text) beside the gzipped bytes."""
    pending = b""
    pieces.reverse()
    while pieces:
        pending += pieces.pop()
        whole = len(pending) - len(pending) % _LINES_AT_ONCE
        for start in range(0, whole, _LINES_AT_ONCE):
            yield base64.encodebytes(pending[start:start + _LINES_AT_ONCE]).decode("ascii")
        pending = pending[whole:]
    if pending:
        yield base64.encodebytes(pending).decode("ascii")


__all__ = ["DETAIL_FIELDS", "FIELDS", "STATES", "build", "group_view",
           "base64_lines", "packed", "state_of", "to_script_json"]

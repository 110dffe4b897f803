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
import itertools
from array import array
from types import SimpleNamespace
from typing import Any, Iterator, NamedTuple, Sequence

from secpipe.model import Finding, Severity
from secpipe.outputs._common import (
    SHORT_NAMES, Origins, clean, enforcing, link_for, secret_text, where,
)
from secpipe.outputs._html_pack import LARGE_RUN, Packer, StreamedStrings
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


class Blocks(NamedTuple):
    """`build`'s result: both blocks gzipped (`to_script_json` before its base64), the
    server-rendered rows of the first groups, and how many groups there are."""
    data: list[bytes]
    details: list[bytes]
    first: list[SimpleNamespace]
    groups: int


def build(run: RunResult, ordered: Sequence[tuple[StageResult, GatedFinding]],
          origins: Origins, keep: int = 0) -> Blocks:
    """The data block and the details block of `ordered` (most severe first, so each group's
    first finding is its worst one), and the views of the first `keep` groups.

    Each block is compressed as it is built (outputs._html_pack): a new string goes to the
    compressor when it is met, a row is encoded when it is made (`RawArray`); the page holds
    the gzipped bytes, ~2 MB at 50,000 findings, not the tables and rows (~40 MB). The
    details block is made first (`_details`), so its table is gone before the data block's
    is made."""
    data_packer = Packer()
    digests = len(ordered) >= LARGE_RUN
    details_block, detail_indices = _details(ordered, digests)
    detail = iter(detail_indices).__next__
    head = {"fields": FIELDS, "states": STATES,
            # string keys, as the JSON has them: an int key made orjson refuse the whole
            # block, which then went to the standard encoder
            "severities": {str(int(s)): [s.name, SHORT_NAMES[s]] for s in Severity},
            "details": DETAIL_FIELDS}
    data_packer.feed(b"".join(encode_utf8_pieces(head))[:-1] + b',"strings":')
    string_table = StreamedStrings(data_packer, digests=digests)
    strings = string_table.indexer()
    rows = RawArray()
    # the first `keep` groups by their first row: its texts and the group's worst state
    heads: dict[int, list[Any]] = {}
    n = 0
    groups: dict[str, int | list[int]] = {}
    # the index of link_for(f) by the finding's (remediation URL, references), which a
    # rule's findings share; asked in its place in the row, so new strings get their index
    # in the same order as before
    links: dict[tuple[str | None, tuple[str, ...]], int] = {}

    def link_of(f: Finding) -> int:
        refs = (f.rare.remediation_url, f.references)   # its slot (model.rarefields)
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
        rows.append([
            strings(where(f)), state,
            strings(gated.stage or stage.name), strings(origins.tool_name(stage, gated)),
            strings(f.rule_id), strings(f.title.strip() or f.rule_id), strings(secret_text(f)),
            detail(), strings(sup.describe() if sup is not None else ""),
            link_of(f), detail(),
            strings(f.remediation or ""), int(f.severity),
        ])
        key = getattr(f, "issue_key", None) or f.fingerprint()
        # a group of one finding is its row's index, a list from its second member on (most
        # issues have one finding: 40,000 lists of one were ~6 MB at 50,000 findings)
        group = groups.get(key)
        if group is None:
            groups[key] = n
            if len(groups) <= keep:
                heads[n] = [_texts(stage, gated, origins), state]
        else:
            lead = group if type(group) is int else group[0]
            if lead in heads:     # a member of one of the first groups
                head = heads[lead]
                head[1] = min(head[1], state)
            if type(group) is int:
                groups[key] = [group, n]
            else:
                group.append(n)
        n += 1
    string_table.close()
    del strings, link_of, links, detail, detail_indices   # the index, before the rows
    first = []
    for group in itertools.islice(groups.values(), keep):
        lead, count = (group, 1) if type(group) is int else (group[0], len(group))
        first.append(_view(*heads[lead], count))
    data_packer.feed(b',"findings":')
    for piece in rows.pieces():
        data_packer.feed(piece)
    del rows
    data_packer.feed(b',"groups":')
    members = RawArray()
    for group in groups.values():
        members.append([group] if type(group) is int else group)
    for piece in members.pieces():
        data_packer.feed(piece)
    data_packer.feed(b"}")
    return Blocks(data_packer.finish(), details_block, first, len(groups))


def _details(ordered: Sequence[tuple[StageResult, GatedFinding]], digests: bool
             ) -> tuple[list[bytes], array[int]]:
    """The details block (gzipped) and its two string indices per finding (DETAIL_FIELDS:
    id, description), in `ordered`'s order, for the data block's rows.

    A pass of its own before the data block's: its table's index (~90,000 keys and their
    int indices at 50,000 findings, mostly each finding's ASFF id and description) is
    dropped before the data block's table is made, not held beside it (~12 MB of
    report.html's rise); the rows wait for the indices in an array (8 bytes a finding)."""
    packer = Packer()
    packer.feed(b'{"strings":')
    table = StreamedStrings(packer, digests=digests)
    details = table.indexer()
    indices = array("I")   # 4 bytes an index: a table holds fewer than 2**32 texts
    add = indices.append
    for _, gated in ordered:
        add(details(gated.asff_id))
        add(details(gated.finding.description.strip()))
    table.close()
    packer.feed(b"}")
    return packer.finish(), indices


def _texts(stage: StageResult, gated: GatedFinding, origins: Origins) -> dict[str, Any]:
    """A row's texts as its string tables hold them (cleaned), for `_view`."""
    f = gated.finding
    sup = gated.suppressed_by
    texts = {"where": where(f), "stage": gated.stage or stage.name,
             "tool": origins.tool_name(stage, gated), "rule": f.rule_id,
             "title": f.title.strip() or f.rule_id, "secret": secret_text(f),
             "suppression": sup.describe() if sup is not None else "",
             "link": link_for(f) or "", "description": f.description.strip(),
             "remediation": f.remediation or ""}
    return {name: clean("" if text is None else str(text)) for name, text in texts.items()
            } | {"rank": int(f.severity)}


def _view(texts: dict[str, Any], state: int, count: int) -> SimpleNamespace:
    """What the server-rendered row of one group shows (the script draws the same).

    A namespace, not a dict: the template reads `f.title`, and Jinja tries an attribute
    before an item, so each of a dict's twenty reads per row raised and caught an
    AttributeError (half the page's render time)."""
    severity = Severity(texts["rank"])
    return SimpleNamespace(
        severity=severity.name, short=SHORT_NAMES[severity], rank=texts["rank"],
        stage=texts["stage"], tool=texts["tool"], rule=texts["rule"],
        link=texts["link"] or None, where=texts["where"], title=texts["title"],
        description=texts["description"], remediation=texts["remediation"],
        secret=texts["secret"], state=STATES[state], suppression=texts["suppression"],
        count=count,
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
    deflate's output does not depend on how its input is cut (tests compare both). The same
    gzip stream `build` packs its blocks with (`_html_pack.Packer`)."""
    packer = Packer()
    for piece in encode_utf8_pieces(data):
        packer.feed(piece)
    return [piece for piece in packer.finish() if piece]


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


__all__ = ["Blocks", "DETAIL_FIELDS", "FIELDS", "STATES", "build",
           "base64_lines", "packed", "state_of", "to_script_json"]

"""A likely creation's rows, built by `bulk_import`'s checking thread (`Prepared`).

In a bulk import the writer (which holds the write lock) is the critical path: py-spy showed
the checking thread blocked on a full hand-off queue about half of the time while the writer
built, per created finding, its `findings` row and ~10 side-table rows (`side_rows_of`,
`bind_side`, `finding_row`: ~18% of the writer's samples at 40k). Those rows are pure
functions of the checked document, except for the pk, which only the writer knows (the
table's max(pk) + 1, under the lock).

So the checks build them ahead, pk left out, for a finding whose key the hub did not hold:
- the `findings` row without its pk and partition columns (`tail`);
- each side table's rows as one flat list of values whose first value per row is the
  finding's position in its part (`idx`), not its pk. The writer inserts them with
  `bulk.insert_offset`, whose statements add the part's first pk in SQL (`?1 + ?n`), so no
  Python work per side row is left to the writer.

The writer uses them only when they provably give the rows it would have built itself
(`usable`): every finding of the part is created, in part order (positions 0..n-1, so pk =
first pk + position), no automation rule is enabled (a rule may change the document and
its `locked` list), and the document is born with the Workflow.Status it carries (`on_create`
would not flip it). Otherwise it builds the rows as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from secpipe.hub.import_merge import _compliance, finding_row, transition
from secpipe.hub.validate import side_rows_of


@dataclass(slots=True)
class Prepared:
    idx: int                    # the finding's position among its part's checked findings
    tail: tuple                 # `findings` row after pk, before (hub_account, hub_region)
    types: list                 # flat (idx, type) values
    resources: list             # flat (idx, *resource row) values
    maps: list                  # flat (idx, *map row) values


def prepare(idx: int, doc: Mapping[str, Any], text: str, digest: str | None
            ) -> Prepared | None:
    """The rows of `doc` created at position `idx`, or None when `on_create` would change
    it (the writer then builds them after the flip). `doc` carries its ProcessedAt (the
    checks set it), which is the row's processed_at."""
    status = doc["Workflow"]["Status"]
    if transition(status, "ACTIVE", doc["RecordState"], None, _compliance(doc)) != status:
        return None
    tail = finding_row(0, doc, text, "", "")[1:] + (digest,)
    types, resources, maps = side_rows_of(doc)
    flat_types: list = []
    for t in types:
        flat_types += (idx, t)
    flat_res: list = []
    for r in resources:
        flat_res.append(idx)
        flat_res += r
    flat_maps: list = []
    for m in maps:
        flat_maps.append(idx)
        flat_maps += m
    return Prepared(idx, tail, flat_types, flat_res, flat_maps)


def usable(fresh: Sequence[Any], ruled: bool) -> bool:
    """Whether the prepared rows of `fresh` (the findings a write creates, in order) are the
    rows the writer would build: see the module docstring."""
    if ruled or not fresh:
        return False
    try:
        return [it.prep.idx for it in fresh] == list(range(len(fresh)))
    except AttributeError:              # an item without prepared rows (prep is None)
        return False

"""Which Security Hub operations the hub implements, worked out from its routes.

botocore's service model is the contract: an operation is implemented when a request of its
method and URI (from the model, with its labels filled in) reaches one of the hub's Security
Hub routes. Nothing is listed by hand, so the README's list (`--markdown`) cannot drift from
the code, and an operation another module adds shows up once its route exists. Every other
operation is answered as AWS answers an unknown action: HTTP 404, `UnknownOperationException`
(secpipe.hub.api.errors).

    python -m secpipe.hub.api.operations            # implemented operations, one a line
    python -m secpipe.hub.api.operations --markdown # the README section
    python -m secpipe.hub.api.operations --missing  # the model's operations the hub lacks
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from secpipe.hub.api.botomodel import SERVICE, service_model

BEGIN = "<!-- operations:begin (python -m secpipe.hub.api.operations --markdown) -->"
END = "<!-- operations:end -->"
_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")


@dataclass(frozen=True)
class Operation:
    """One operation of botocore's model: its name, HTTP method and request URI."""

    name: str
    method: str
    uri: str

    def sample_path(self) -> str:
        """The URI with every label filled (`{InsightArn+}` with a value holding slashes,
        as a real ARN does), and the model's fixed query string dropped."""
        path = self.uri.split("?", 1)[0]
        return _LABEL.sub(lambda m: "arn:aws:x/y/z" if m.group(2) else "x", path)


def model_operations() -> list[Operation]:
    model = service_model()
    out = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        out.append(Operation(name, http["method"].upper(), http["requestUri"]))
    return sorted(out, key=lambda op: op.name)


def _routes() -> Sequence[Any]:
    from secpipe.hub.api import products, rules, securityhub

    return [*securityhub.routes(), *products.routes(), *rules.routes()]


def routed(op: Operation, routes: Sequence[Any]) -> bool:
    """Whether a request of `op`'s method and URI reaches one of `routes` (Starlette's own
    matching, the one the app uses)."""
    from starlette.routing import Match

    scope = {"type": "http", "method": op.method, "path": op.sample_path(), "root_path": "",
             "path_params": {}}
    return any(route.matches(scope)[0] == Match.FULL for route in routes)


def implemented(routes: Sequence[Any] | None = None) -> list[Operation]:
    """The model's operations the hub answers, by name."""
    found = list(routes) if routes is not None else _routes()
    return [op for op in model_operations() if routed(op, found)]


def missing(routes: Sequence[Any] | None = None) -> list[Operation]:
    found = list(routes) if routes is not None else _routes()
    return [op for op in model_operations() if not routed(op, found)]


def markdown(routes: Sequence[Any] | None = None) -> str:
    """The README's section: implemented operations with their method and URI."""
    ops = implemented(routes)
    lines = [BEGIN, "", "| operation | request |", "|---|---|"]
    lines += [f"| {op.name} | `{op.method} {op.uri}` |" for op in ops]
    lines += ["", END]
    return "\n".join(lines)


def readme_section(text: str) -> str | None:
    """The generated section as it stands in a README's text, or None when absent."""
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        return None
    return text[start:stop + len(END)]


def main(argv: Sequence[str]) -> int:
    if "--markdown" in argv:
        print(markdown())
    elif "--missing" in argv:
        print("\n".join(f"{op.name}\t{op.method} {op.uri}" for op in missing()))
    else:
        print("\n".join(op.name for op in implemented()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Software bills of materials: secpipe's own, built from lockfiles and image package
databases when syft is not installed, in CycloneDX 1.6 JSON with purls.

One module per lockfile format, each a pure `parse(data: bytes, source) -> list[Component]`
(bom-ref = purl) raising :class:`LockfileError`; :func:`build_sbom` walks a tree's lockfiles
(and an image archive) into one SBOM, :func:`to_json` writes it.
"""

from __future__ import annotations

from secpipe.sbom._common import DEV_PROPERTY, LOCATION_PROPERTY, Component, LockfileError
from secpipe.sbom.build import (
    LOCKFILE_PARSERS, SbomResult, bom_dict, build_sbom, parser_for, to_json,
)
from secpipe.sbom.image import ImageArchiveError, ImageInfo, Limits, image_components, read_image

__all__ = [
    "DEV_PROPERTY", "LOCATION_PROPERTY", "LOCKFILE_PARSERS", "Component", "ImageArchiveError",
    "ImageInfo", "Limits", "LockfileError", "SbomResult", "bom_dict", "build_sbom",
    "image_components", "parser_for", "read_image", "to_json",
]

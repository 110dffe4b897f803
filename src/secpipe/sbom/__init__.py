"""Software bills of materials: secpipe's own, built from lockfiles and image package
databases when syft is not installed, in CycloneDX JSON with purls.

One module per lockfile format, each a pure `parse(data: bytes, source) -> list[Component]`
(cyclonedx-python-lib components, bom-ref = purl) raising :class:`LockfileError`;
:func:`build_sbom` walks a tree's lockfiles (and an image archive) into one BOM.
"""

from __future__ import annotations

from secpipe.sbom._common import DEV_PROPERTY, LOCATION_PROPERTY, LockfileError, is_dev
from secpipe.sbom.build import LOCKFILE_PARSERS, SbomResult, build_sbom, parser_for, to_json
from secpipe.sbom.image import ImageArchiveError, ImageInfo, Limits, image_components, read_image

__all__ = [
    "DEV_PROPERTY", "LOCATION_PROPERTY", "LOCKFILE_PARSERS", "ImageArchiveError", "ImageInfo",
    "Limits", "LockfileError", "SbomResult", "build_sbom", "image_components", "is_dev",
    "parser_for", "read_image", "to_json",
]

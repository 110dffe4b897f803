"""OSV ecosystems and package URLs: which names mean the same package, which release, which rules.

OSV names a package by ecosystem + name ("PyPI" / "Jinja2", "Debian:11" / "openssl"); an SBOM
names it by purl (`pkg:pypi/jinja2@2.11.2`, `pkg:deb/debian/libssl1.1@1.1.1n-0+deb11u4?
upstream=openssl&distro=debian-11.6`). Both sides are reduced here to the same lookup key:
(base ecosystem, normalised name) plus, for distributions, the release, so that the database
index and the matcher agree on what "the same package" is.

Distribution advisories are written against SOURCE packages, so a deb/apk purl also yields its
`upstream` (syft) / source name; the binary name is kept as a second candidate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from packageurl import PackageURL

# base ecosystem key -> the spelling OSV uses
CANONICAL = {
    "npm": "npm", "pypi": "PyPI", "go": "Go", "maven": "Maven", "debian": "Debian",
    "ubuntu": "Ubuntu", "alpine": "Alpine", "crates.io": "crates.io", "rubygems": "RubyGems",
    "nuget": "NuGet", "packagist": "Packagist", "hex": "Hex", "pub": "Pub",
}
# purl type -> base ecosystem key (deb/apk/rpm take it from the namespace instead)
_PURL_TYPES = {
    "npm": "npm", "pypi": "pypi", "golang": "go", "maven": "maven", "cargo": "crates.io",
    "gem": "rubygems", "nuget": "nuget", "composer": "packagist", "hex": "hex", "pub": "pub",
}
_DISTRO_NAMESPACES = {"deb": ("debian", "ubuntu"), "apk": ("alpine",)}
DISTRIBUTIONS = frozenset({"debian", "ubuntu", "alpine"})
_DEBIAN_CODENAMES = {
    "squeeze": "6", "wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10",
    "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14",
}
_UBUNTU_CODENAMES = {
    "xenial": "16.04", "bionic": "18.04", "focal": "20.04", "jammy": "22.04", "noble": "24.04",
}


def base_of(ecosystem: str) -> str:
    """The ecosystem without its release suffix, lower-cased: "Debian:11" -> "debian"."""
    return ecosystem.split(":", 1)[0].strip().lower()


def canonical(base: str) -> str:
    return CANONICAL.get(base, base)


def normalise_name(base: str, name: str) -> str:
    """The lookup form of a package name under its ecosystem's own equivalence rules."""
    name = name.strip()
    if base == "pypi":  # PEP 503
        return re.sub(r"[-_.]+", "-", name).lower()
    if base == "crates.io":
        return name.lower().replace("_", "-")
    if base in ("npm", "nuget") or base in DISTRIBUTIONS:
        return name.lower()
    return name


def release_of(ecosystem: str) -> str:
    """The release an OSV ecosystem string scopes to: "Debian:11" -> "11", "Alpine:v3.17" ->
    "3.17", "Ubuntu:22.04:LTS" -> "22.04"; "" when unscoped."""
    base, _, rest = ecosystem.partition(":")
    return _release(base.strip().lower(), rest) if rest else ""


def _release(base: str, text: str) -> str:
    text = text.strip().lower()
    if not text:
        return ""
    if base == "debian":
        if text in _DEBIAN_CODENAMES:
            return _DEBIAN_CODENAMES[text]
        found = re.search(r"(\d+)", text)
        return found.group(1) if found else text
    if base == "ubuntu":
        for code, number in _UBUNTU_CODENAMES.items():
            if code in text:
                return number
        found = re.search(r"(\d+\.\d+)", text)
        return found.group(1) if found else text
    if base == "alpine":
        found = re.search(r"(\d+\.\d+)", text)
        return found.group(1) if found else text
    return text


def releases_match(advisory_release: str, package_release: str) -> bool:
    """An advisory scoped to one release applies to a package of that release, or to a package
    whose release is unknown (then every release's entry is considered)."""
    return not advisory_release or not package_release or advisory_release == package_release


@dataclass(frozen=True, slots=True)
class Package:
    """One component to look up: the purl's identity reduced to OSV's terms."""

    purl: str
    base: str                  # base ecosystem key ("npm", "debian"...)
    name: str                  # display name (npm scope, Go path, maven group:artifact)
    version: str
    release: str = ""          # distribution release ("11", "3.17"), "" if unknown
    source_name: str = ""      # deb/apk source package, when the purl names it
    source_version: str = ""   # its version, when it differs from the binary's
    ref: str = ""              # the component's bom-ref in the SBOM (or its purl)

    @property
    def ecosystem(self) -> str:
        return canonical(self.base)

    def lookup_names(self) -> tuple[str, ...]:
        """Normalised names to look up, source package first for distributions."""
        names = [self.source_name, self.name] if self.source_name else [self.name]
        return tuple(dict.fromkeys(normalise_name(self.base, n) for n in names if n))

    def version_for(self, lookup_name: str) -> str:
        """The version to compare for a match on `lookup_name` (a source match compares the
        source version when the purl gives one)."""
        if (self.source_version and self.source_name
                and lookup_name == normalise_name(self.base, self.source_name)):
            return self.source_version
        return self.version


class UnsupportedPurl(ValueError):
    """A purl whose type no OSV ecosystem covers (pkg:generic, pkg:github...)."""


def package_from_purl(purl: str, ref: str = "") -> Package:
    """Reduce a purl to a Package; ValueError for a malformed purl, UnsupportedPurl for a type
    OSV has no ecosystem for."""
    parsed = PackageURL.from_string(purl)
    qualifiers: Mapping[str, str] = parsed.qualifiers or {}  # type: ignore[assignment]
    ptype = parsed.type.lower()
    namespace = parsed.namespace or ""
    version = parsed.version or ""
    if ptype in _DISTRO_NAMESPACES:
        base = namespace.lower()
        if base not in _DISTRO_NAMESPACES[ptype]:
            raise UnsupportedPurl(f"{ptype}/{namespace or '?'} packages are not supported")
        epoch = str(qualifiers.get("epoch", "")).strip()
        if epoch and epoch != "0" and ":" not in version and version:
            version = f"{epoch}:{version}"
        source, _, source_version = str(qualifiers.get("upstream", "")).partition("@")
        if not source:
            source = str(qualifiers.get("source", ""))  # some generators say source=
        if source_version and epoch and epoch != "0" and ":" not in source_version:
            source_version = f"{epoch}:{source_version}"
        distro = str(qualifiers.get("distro", ""))
        distro = re.sub(rf"^{re.escape(base)}-", "", distro.lower())
        return Package(purl=purl, base=base, name=parsed.name, version=version,
                       release=_release(base, distro), source_name=source.strip(),
                       source_version=source_version.strip(), ref=ref or purl)
    if ptype not in _PURL_TYPES:
        raise UnsupportedPurl(f"purl type {ptype!r} has no OSV ecosystem")
    base = _PURL_TYPES[ptype]
    if base == "maven":
        name = f"{namespace}:{parsed.name}" if namespace else parsed.name
    elif namespace:
        name = f"{namespace}/{parsed.name}"
    else:
        name = parsed.name
    if base == "go" and version.startswith("v"):
        version = version[1:]  # OSV's Go ranges are SEMVER without the leading "v"
    return Package(purl=purl, base=base, name=name, version=version, ref=ref or purl)


def ecosystem_purl(base: str, name: str) -> str | None:
    """A version-less purl for an OSV package (used when a record has none)."""
    reverse = {v: k for k, v in _PURL_TYPES.items()}
    try:
        if base in ("debian", "ubuntu"):
            return PackageURL(type="deb", namespace=base, name=name).to_string()
        if base == "alpine":
            return PackageURL(type="apk", namespace=base, name=name).to_string()
        ptype = reverse.get(base)
        if ptype is None:
            return None
        if base == "maven" and ":" in name:
            group, artifact = name.split(":", 1)
            return PackageURL(type=ptype, namespace=group, name=artifact).to_string()
        if "/" in name and base in ("npm", "go", "packagist"):
            namespace, short = name.rsplit("/", 1)
            return PackageURL(type=ptype, namespace=namespace, name=short).to_string()
        return PackageURL(type=ptype, name=name).to_string()
    except ValueError:
        return None

"""The lockfile readers on real-shaped lockfiles (see fixtures/README.md for how each was made)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secpipe.sbom import LockfileError
from secpipe.sbom import gosum, npm, pipfile, poetry, requirements, yarn
from tests.conftest import ROOT

FIX = Path(__file__).parent / "fixtures"
EXAMPLE_LOCK = ROOT / "examples" / "web" / "package-lock.json"

# The npm fixtures' package.json: minimist 1.2.5, @babel/code-frame 7.12.13, debug 2.6.9 (with
# its own ms 2.0.0 nested), an alias lodash-alias -> lodash 4.17.20, and dev ms 2.1.2.
NPM_TREE = {
    "pkg:npm/%40babel/code-frame@7.12.13", "pkg:npm/%40babel/helper-validator-identifier@7.29.7",
    "pkg:npm/%40babel/highlight@7.25.9", "pkg:npm/ansi-styles@3.2.1", "pkg:npm/chalk@2.4.2",
    "pkg:npm/color-convert@1.9.3", "pkg:npm/color-name@1.1.3", "pkg:npm/debug@2.6.9",
    "pkg:npm/escape-string-regexp@1.0.5", "pkg:npm/has-flag@3.0.0", "pkg:npm/js-tokens@4.0.0",
    "pkg:npm/lodash@4.17.20", "pkg:npm/minimist@1.2.5", "pkg:npm/ms@2.0.0",
    "pkg:npm/ms@2.1.2", "pkg:npm/picocolors@1.1.1", "pkg:npm/supports-color@5.5.0",
}


def purls(comps) -> set[str]:
    return {str(c.purl) for c in comps}


def by_purl(comps) -> dict:
    return {str(c.purl): c for c in comps}


# --- npm --------------------------------------------------------------------------------------

@pytest.mark.parametrize("folder", ["npm-v1", "npm-v2"])
def test_npm_v1_v2_real_lockfiles(folder: str) -> None:
    data = (FIX / folder / "package-lock.json").read_bytes()
    comps = npm.parse(data, f"{folder}/package-lock.json")
    assert purls(comps) == NPM_TREE
    found = by_purl(comps)
    assert found["pkg:npm/ms@2.1.2"].dev          # the top-level dev copy
    assert not found["pkg:npm/ms@2.0.0"].dev      # debug's nested copy is a runtime dep
    assert found["pkg:npm/lodash@4.17.20"].name == "lodash"  # the alias names the real package
    scoped = found["pkg:npm/%40babel/code-frame@7.12.13"]
    assert scoped.name == "@babel/code-frame" and scoped.purl.namespace == "@babel"
    assert scoped.hashes[0][0] == "SHA-512" and len(scoped.hashes[0][1]) == 128


def test_npm_v3_the_example_lockfile() -> None:
    comps = npm.parse(EXAMPLE_LOCK.read_bytes(), "package-lock.json")
    doc = json.loads(EXAMPLE_LOCK.read_bytes())
    installed = [k for k in doc["packages"] if k]  # every copy but the root project
    assert len(comps) == len(installed) == 83
    found = by_purl(comps)
    # the example's deliberately old pins
    for pin in ("pkg:npm/express@4.17.1", "pkg:npm/lodash@4.17.20", "pkg:npm/minimist@1.2.5"):
        assert pin in found and not found[pin].dev
    assert found["pkg:npm/esbuild@0.25.0"].dev
    assert found["pkg:npm/%40esbuild/linux-x64@0.25.0"].dev
    assert sum(not c.dev for c in comps) == 57


def test_npm_leaves_out_root_workspaces_links_and_urls() -> None:
    lock = {"lockfileVersion": 3, "packages": {
        "": {"name": "app", "version": "1.0.0"},
        "packages/ui": {"name": "ui", "version": "0.1.0"},               # a workspace folder
        "node_modules/ui": {"resolved": "packages/ui", "link": True},
        "node_modules/left-pad": {"version": "1.3.0"},
        "node_modules/from-git": {"version": "git+ssh://git@git.example.org/a/b.git#0123abc"},
        "packages/ui/node_modules/react": {"version": "18.2.0"},       # a workspace's own dep
    }}
    assert purls(npm.parse(json.dumps(lock).encode())) == {
        "pkg:npm/left-pad@1.3.0", "pkg:npm/react@18.2.0"}


def test_npm_empty_project_is_valid() -> None:
    lock = {"name": "x", "lockfileVersion": 3, "packages": {"": {"name": "x"}}}
    assert npm.parse(json.dumps(lock).encode()) == []


@pytest.mark.parametrize("data, problem", [
    (b"{not json", "not valid JSON"),
    (b"[]", "JSON object"),
    (b'{"name": "x"}', "not an npm lockfile"),
    (b'{"lockfileVersion": 7, "packages": {}}', "unknown lockfileVersion"),
    (b'{"lockfileVersion": 3, "packages": []}', "'packages' should be an object"),
    (b'{"lockfileVersion": 3, "packages": {"node_modules/a": 3}}', "should be an object"),
    (b'{"lockfileVersion": 1, "dependencies": {"a": {"version": "1.0.0", "dependencies": 5}}}',
     "dependencies should be an object"),
])
def test_npm_malformed(data: bytes, problem: str) -> None:
    with pytest.raises(LockfileError, match=problem) as err:
        npm.parse(data, "sub/package-lock.json")
    assert "sub/package-lock.json" in str(err.value)


# --- yarn -------------------------------------------------------------------------------------

@pytest.mark.parametrize("folder", ["yarn-v1", "yarn-berry"])
def test_yarn_real_lockfiles_match_npm(folder: str) -> None:
    comps = yarn.parse((FIX / folder / "yarn.lock").read_bytes(), f"{folder}/yarn.lock")
    # the same package.json locked by npm and by yarn gives the same packages
    assert purls(comps) == NPM_TREE
    assert not any(c.dev for c in comps)  # yarn.lock does not say
    if folder == "yarn-v1":
        assert by_purl(comps)["pkg:npm/debug@2.6.9"].hashes


def test_yarn_v1_protocols_and_aliases() -> None:
    text = b'''# yarn lockfile v1


"@scope/pkg@^1.0.0", "@scope/pkg@^1.1.0":
  version "1.2.0"
  resolved "https://npm.example.org/@scope/pkg/-/pkg-1.2.0.tgz#abc"

aliased@npm:real-name@^2:
  version "2.0.1"

"tool@github:acme/tool#v1":
  version "1.0.0"
  resolved "https://codeload.example.org/acme/tool/tar.gz/0123"

shorthand@acme/other:
  version "3.0.0"

"local@file:../local":
  version "0.0.1"

semver-tilde@~1.2.3:
  version "1.2.9"
'''
    assert purls(yarn.parse(text)) == {"pkg:npm/%40scope/pkg@1.2.0", "pkg:npm/real-name@2.0.1",
                                      "pkg:npm/semver-tilde@1.2.9"}


def test_yarn_berry_skips_workspace_and_patches() -> None:
    text = b'''__metadata:
  version: 8
  cacheKey: 10c0

"app@workspace:.":
  version: 0.0.0-use.local
  resolution: "app@workspace:."
  languageName: unknown
  linkType: soft

"resolve@npm:^1.22.1":
  version: 1.22.8
  resolution: "resolve@npm:1.22.8"
  languageName: node
  linkType: hard

"resolve@patch:resolve@npm%3A^1.22.1#optional!builtin<compat/resolve>":
  version: 1.22.8
  resolution: "resolve@patch:resolve@npm%3A1.22.8#optional!builtin<compat/resolve>::version=1.22.8&hash=c3c19d"
  languageName: node
  linkType: hard
'''
    assert purls(yarn.parse(text)) == {"pkg:npm/resolve@1.22.8"}


@pytest.mark.parametrize("data, problem", [
    (b"lodash@^4:\n  version\n", "no version"),
    (b'  version "1.0.0"\n', "before any entry"),
    (b"this is not a lockfile\n", "entry header"),
    (b"__metadata:\n  version: 8\nfoo@npm:1: [\n", "not valid YAML"),
    (b"__metadata:\n  version: 8\n\"a@npm:^1\":\n  version: 1.0.0\n", "no resolution"),
])
def test_yarn_malformed(data: bytes, problem: str) -> None:
    with pytest.raises(LockfileError, match=problem) as err:
        yarn.parse(data, "web/yarn.lock")
    assert "web/yarn.lock" in str(err.value)


# --- Python -----------------------------------------------------------------------------------

def test_requirements_pins_only() -> None:
    comps = requirements.parse((FIX / "python" / "requirements.txt").read_bytes())
    assert purls(comps) == {
        "pkg:pypi/django@3.2.12", "pkg:pypi/requests@2.25.1", "pkg:pypi/pyyaml@5.3.1",
        "pkg:pypi/urllib3@1.26.4", "pkg:pypi/zope.interface@5.4.0",
        "pkg:pypi/typing-extensions@4.0.1", "pkg:pypi/celery@5.2.3"}
    django = by_purl(comps)["pkg:pypi/django@3.2.12"]
    assert django.name == "Django" and len(django.hashes) == 2  # continuation lines joined


def test_requirements_garbage_is_an_error() -> None:
    with pytest.raises(LockfileError, match="line 2: not a requirement"):
        requirements.parse(b"flask==2.0.1\n{\"json\": true}\n", "requirements.txt")


def test_poetry_2_groups_and_sources() -> None:
    comps = poetry.parse((FIX / "python" / "poetry.lock").read_bytes())
    found = by_purl(comps)
    assert set(found) == {"pkg:pypi/certifi@2023.7.22", "pkg:pypi/cryptography@41.0.3",
                          "pkg:pypi/pytest@7.4.0", "pkg:pypi/pillow@9.5.0",
                          "pkg:pypi/private-lib@1.2.0"}  # the git source is left out
    assert found["pkg:pypi/pytest@7.4.0"].dev
    assert not found["pkg:pypi/certifi@2023.7.22"].dev
    assert len(found["pkg:pypi/certifi@2023.7.22"].hashes) == 2


def test_poetry_1_categories() -> None:
    found = by_purl(poetry.parse((FIX / "python" / "poetry-1.4.lock").read_bytes()))
    assert set(found) == {"pkg:pypi/django@3.2.12", "pkg:pypi/black@22.3.0"}
    assert found["pkg:pypi/black@22.3.0"].dev and not found["pkg:pypi/django@3.2.12"].dev


@pytest.mark.parametrize("data, problem", [
    (b"[[package]\nname=", "not valid TOML"),
    (b'title = "x"\n', "not a poetry.lock"),
    (b'package = "x"\n', "array of tables"),
    (b'[[package]]\nname = "a"\n', "needs a name and a version"),
])
def test_poetry_malformed(data: bytes, problem: str) -> None:
    with pytest.raises(LockfileError, match=problem):
        poetry.parse(data, "poetry.lock")


def test_pipfile_lock_real() -> None:
    comps = pipfile.parse((FIX / "python" / "Pipfile.lock").read_bytes())
    assert len(comps) == 42  # 1 default + 41 develop
    found = by_purl(comps)
    assert not found["pkg:pypi/pyasn1@0.4.4"].dev
    assert found["pkg:pypi/pytest@3.8.0"].dev
    assert len(found["pkg:pypi/pyasn1@0.4.4"].hashes) == 2


def test_pipfile_lock_git_entries_and_errors() -> None:
    lock = {"_meta": {}, "default": {"tool": {"git": "https://git.example.org/t.git",
                                              "ref": "abc"}, "six": {"version": "==1.16.0"}}}
    assert purls(pipfile.parse(json.dumps(lock).encode())) == {"pkg:pypi/six@1.16.0"}
    with pytest.raises(LockfileError, match="not a pin"):
        pipfile.parse(b'{"default": {"six": {"version": ">=1"}}}', "Pipfile.lock")
    with pytest.raises(LockfileError, match="not a Pipfile.lock"):
        pipfile.parse(b'{"packages": {}}', "Pipfile.lock")


# --- Go ---------------------------------------------------------------------------------------

def test_go_sum_selected_versions() -> None:
    comps = gosum.parse((FIX / "go" / "go.sum").read_bytes())
    assert purls(comps) == {
        "pkg:golang/github.com/gin-gonic/gin@v1.9.1",        # the higher of v1.7.7 and v1.9.1
        "pkg:golang/github.com/gorilla/mux@v1.8.0",
        "pkg:golang/golang.org/x/net@v0.17.0",               # above its pseudo-version
        "pkg:golang/golang.org/x/text@v0.13.0",              # v0.13 > v0.3 (numeric, not text)
        "pkg:golang/github.com/docker/docker@v20.10.7%2Bincompatible",
        "pkg:golang/gopkg.in/yaml.v3@v3.0.1",                # above its pre-release
    }  # testify has only a /go.mod line: resolved, never built
    assert by_purl(comps)["pkg:golang/github.com/gorilla/mux@v1.8.0"].name == \
        "github.com/gorilla/mux"


def test_go_semver_order() -> None:
    key = gosum.semver_key
    assert key("v1.0.0-alpha") < key("v1.0.0-alpha.1") < key("v1.0.0-beta.2") < \
        key("v1.0.0-beta.11") < key("v1.0.0-rc.1") < key("v1.0.0") < key("v1.0.1")
    assert key("v0.0.0-20210226172049-e18ecbb05110") < key("v0.1.0")


@pytest.mark.parametrize("data, problem", [
    (b"github.com/a/b v1.0.0\n", "expected `module version h1:hash`"),
    (b"github.com/a/b latest h1:abc=\n", "not a Go module version"),
])
def test_go_sum_malformed(data: bytes, problem: str) -> None:
    with pytest.raises(LockfileError, match=problem):
        gosum.parse(data, "go.sum")

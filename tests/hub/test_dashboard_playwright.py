"""The dashboard end to end in headless Chromium: the real hub server (uvicorn) over a real
SQLite store, driven by Playwright.

Chromium is Debian's (`apt-get install -y chromium`), never a `playwright install` download:
the network is closed. SECPIPE_CHROMIUM overrides the executable's path. Set
SECPIPE_UPDATE_SCREENSHOT=1 to refresh `docs/dashboard.png` (the README's screenshot).
"""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator

import pytest

from tests.hub.dashboard_seed import PASSWORD, SCRIPT_TITLE, USER, seeded_server

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("SECPIPE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DOCS = Path(__file__).resolve().parents[2] / "docs"
ARN = "arn:aws:securityhub:us-east-1:000000000000:product/000000000000/default"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` "
                    "(or point SECPIPE_CHROMIUM at one)")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def hub(tmp_path: Path) -> Iterator[tuple[str, object]]:
    with seeded_server(tmp_path) as served:
        yield served


@pytest.fixture()
def page(browser, hub):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    pg.dialogs = []                                  # every alert/confirm the page raises
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


def login(page, url: str) -> None:
    page.goto(f"{url}/ui/")
    assert "/ui/login" in page.url, "an anonymous visitor must land on the login page"
    page.fill("#login-password input[name=username]", USER)
    page.fill("#login-password input[name=password]", PASSWORD)
    page.click("#login-password button[type=submit]")
    page.wait_for_url(f"{url}/ui/")
    assert page.inner_text("h1") == "Overview"


def rows(page) -> list[str]:
    return page.locator("#findings tbody tr td.title").all_inner_texts()


def filter_high(page) -> None:
    page.click("header nav >> text=Findings")
    page.check("#filters input[name=severity][value=HIGH]")
    page.click("#filters button[type=submit]")
    page.wait_for_load_state()
    assert "severity=HIGH" in page.url


def test_login_filter_suppress_and_script_title_is_text(page, hub) -> None:
    url, store = hub
    login(page, url)

    filter_high(page)
    titles = rows(page)
    assert len(titles) == 4
    assert set(page.locator("#findings tbody .sev").all_inner_texts()) == {"HIGH"}
    assert "S3 bucket allows public read" in titles

    # The scanner's markup is shown as text, never parsed: the link's text is the raw title,
    # the DOM holds no <script> element at all, and no dialog ever opened.
    link = page.get_by_role("link", name=SCRIPT_TITLE, exact=True)
    assert link.is_visible()
    assert link.inner_text() == SCRIPT_TITLE
    assert page.locator("script").count() == 0
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.content()

    # Suppress one finding from the list, with a reason: it leaves the open list.
    row = page.locator("#findings tbody tr", has_text="S3 bucket allows public read")
    row.locator("input[name=finding]").check()
    page.select_option("#bulk select[name=action]", "suppress")
    page.fill("#bulk input[name=reason]", "Public website bucket, reviewed by security")
    page.click("#bulk button[type=submit]")
    page.wait_for_load_state()
    assert "severity=HIGH" in page.url, "triage comes back to the same filtered list"
    assert page.locator(".flash.ok").inner_text() == "1 finding suppressed."
    after = rows(page)
    assert "S3 bucket allows public read" not in after and len(after) == 3

    # ... and shows up among the suppressed ones, with the reason kept by the store.
    page.select_option("#filters select[name=workflow]", "SUPPRESSED")
    page.click("#filters button[type=submit]")
    page.wait_for_load_state()
    assert rows(page) == ["S3 bucket allows public read"]
    found, _ = store.get_findings({"Title": [{"Value": "S3 bucket allows public read",
                                              "Comparison": "EQUALS"}]})
    assert found[0]["Workflow"]["Status"] == "SUPPRESSED"
    assert "Public website bucket" in found[0]["Note"]["Text"]
    assert found[0]["Note"]["UpdatedBy"] == USER

    # The script-titled finding's own page renders its title as text too.
    page.goto(f"{url}/ui/findings?severity=HIGH")
    page.get_by_role("link", name=SCRIPT_TITLE, exact=True).click()
    page.wait_for_load_state()
    assert SCRIPT_TITLE in page.inner_text("#finding-title")
    assert page.locator("script").count() == 0
    assert page.dialogs == []


def test_suppress_with_expiry_then_reopen_from_the_detail_page(page, hub) -> None:
    url, store = hub
    login(page, url)
    page.goto(f"{url}/ui/findings?severity=CRITICAL")
    page.get_by_role("link", name="AWS access key in source").click()
    page.wait_for_load_state()
    until = (date.today() + timedelta(days=30)).isoformat()
    page.fill("#suppress-form textarea[name=reason]", "Test key, rotated; remove by then")
    page.fill("#suppress-form input[name=expires]", until)
    page.click("#suppress-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".flash.ok").inner_text() == "1 finding suppressed."
    assert f"suppressed until {until}" in page.inner_text("main")
    history = page.locator("#history").inner_text()
    assert "SUPPRESSED" in history and USER in history

    found, _ = store.get_findings({"Title": [{"Value": "AWS access key in source",
                                              "Comparison": "EQUALS"}]})
    doc = found[0]
    assert doc["Workflow"]["Status"] == "SUPPRESSED"
    assert doc["UserDefinedFields"]["secpipe/SuppressedUntil"] == until

    page.fill("#reopen-form textarea[name=reason]", "key is still live")
    page.click("#reopen-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".flash.ok").inner_text() == "1 finding reopened."
    doc = store.get_finding(doc["Id"], ARN)
    assert doc["Workflow"]["Status"] == "NEW"
    assert "secpipe/SuppressedUntil" not in (doc.get("UserDefinedFields") or {})


def test_overview_screenshot(page, hub, tmp_path: Path) -> None:
    url, _ = hub
    login(page, url)
    assert page.locator("#trend rect").count() > 0, "the trend chart is drawn server-side"
    assert page.inner_text("#kpi-open") == "11"
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SECPIPE_UPDATE_SCREENSHOT") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS / "dashboard.png")


def test_two_open_sign_in_tabs_and_a_wrong_password(page, hub) -> None:
    """The sign-in form's token is signed and stateless: a second tab (or a wrong password,
    which re-renders the form) does not invalidate the first tab's form."""
    url, _ = hub
    page.goto(f"{url}/ui/login")
    other = page.context.new_page()
    other.goto(f"{url}/ui/login")
    other.fill("#login-password input[name=username]", USER)
    other.fill("#login-password input[name=password]", "not the password")
    other.click("#login-password button[type=submit]")
    other.wait_for_load_state()
    assert "Wrong user name, password or token" in other.inner_text("[role=alert]")
    other.close()
    page.fill("#login-password input[name=username]", USER)
    page.fill("#login-password input[name=password]", PASSWORD)
    page.click("#login-password button[type=submit]")
    page.wait_for_url(f"{url}/ui/")
    assert page.inner_text("h1") == "Overview"

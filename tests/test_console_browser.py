"""The console in a real browser: Debian's Chromium, headless, driven by selenium.

What a person does, click by click: a new user of the Quickstart finds their user, sees why
the last answer was personalized, corrects a belief and sees the change in the next request;
an operator signs in with a key, corrects a belief and erases a user; a user corrects and
erases their own data from a link; a script stored in a belief never runs. Screenshots go to
the test's folder, and to ``$SELFMODEL_SCREENSHOTS`` when set (the README's images).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from selfmodel.app import create_app
from selfmodel.config import ConsoleSettings, ExperimentSettings, StoreSettings, default_config
from selfmodel.domain.models import Belief, DecisionRecord, Evidence, SelfModel, Source
from selfmodel.store import open_store
from tests.support.browser import chromium
from tests.support.clients import keep
from tests.support.servers import ServedApp, serve
from tests.test_console import KEYS, XSS, config_for

pytestmark = pytest.mark.slow
WAIT = 15.0


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(tmp_path / "profile") as driver:
        yield driver


def shot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    """A screenshot in the test's folder (and in $SELFMODEL_SCREENSHOTS when set)."""
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    wanted = os.environ.get("SELFMODEL_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(wanted) / path.name)
    return path


def until(driver: WebDriver, condition: Callable[[Any], Any]) -> Any:
    """Wait for ``condition``; an element of the page being left counts as not yet."""
    return WebDriverWait(driver, WAIT, ignored_exceptions=(
        NoSuchElementException, StaleElementReferenceException)).until(condition)


def says(driver: WebDriver, selector: str, words: str) -> str:
    """Wait until the element at ``selector`` (on the page now loading) holds ``words``."""
    return str(until(driver, lambda d: words in d.find_element(By.CSS_SELECTOR, selector).text
                     and d.find_element(By.CSS_SELECTOR, selector).text))


def wait_for(check: Callable[[], bool], what: str) -> None:
    """Poll a condition (the observation worker applies off the request path)."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def css(driver: WebDriver, selector: str) -> Any:
    return until(driver, ec.presence_of_element_located((By.CSS_SELECTOR, selector)))


def click_text(driver: WebDriver, text: str) -> None:
    until(driver, ec.element_to_be_clickable((By.LINK_TEXT, text))).click()


def no_script_ran(driver: WebDriver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.accept()
    assert driver.title != "pwned"
    assert driver.find_elements(By.CSS_SELECTOR, "main img") == []


# -- the Quickstart user --------------------------------------------------------------------------

def test_a_new_user_sees_why_an_answer_was_personalized_and_corrects_it(
        browser: WebDriver, tmp_path: Path) -> None:
    """Open mode, echo model, in-process workers: `selfmodel serve` as the Quickstart runs it."""
    config = default_config(str(tmp_path))
    config.store = StoreSettings(url=f"sqlite:///{tmp_path / 'selfmodel.db'}")
    with serve(create_app(config)) as served:
        client = keep(OpenAI(base_url=served.url + "/v1", api_key="any", max_retries=0))
        first = chat(client, "I'm vegetarian, and keep answers short.")
        assert "<user_profile>" not in first[1]
        wait_for(lambda: len(model_of(served, "user-42")) >= 2, "the first exchange's beliefs")
        request_id, answer = chat(client, "What should I cook tonight?")
        assert '"Prefers concise answers"' in answer

        browser.get(served.url + "/console")
        css(browser, "button.primary").click()  # open mode, loopback: no key
        search = css(browser, "input#q")
        search.send_keys("user-42")
        search.submit()
        click_text(browser, "user-42")
        click_text(browser, "Recent requests")
        click_text(browser, request_id)  # the newest request comes first
        says(browser, ".verdict", "Personalized with 2 beliefs.")
        block = css(browser, "pre.block").text
        assert '- "Is vegetarian"' in block and '- "Prefers concise answers"' in block
        assert "keep answers short" in browser.find_element(By.TAG_NAME, "main").text
        shot(browser, tmp_path, "console-decision")

        browser.find_element(By.PARTIAL_LINK_TEXT, "user-42").click()
        click_text(browser, "Prefers concise answers")  # the belief's own page
        correct(browser, value="detailed", statement="Prefers detailed answers")
        says(browser, ".notice", "Belief corrected")
        shot(browser, tmp_path, "console-user")

        third_id, third = chat(client, "And for dessert?")
        assert '"Prefers detailed answers"' in third and "concise" not in third
        click_text(browser, "Recent requests")
        click_text(browser, third_id)
        says(browser, "pre.block", '"Prefers detailed answers"')
        no_script_ran(browser)


def correct(browser: WebDriver, *, statement: str, value: str | None = None) -> None:
    """Fill the belief page's correction form and save it."""
    if value is not None:
        field = css(browser, "form.edit input[name=value]")
        field.clear()
        field.send_keys(value)
    field = css(browser, "form.edit input[name=statement]")
    field.clear()
    field.send_keys(statement)
    css(browser, "form.edit button").click()


def chat(client: OpenAI, text: str) -> tuple[str, str]:
    raw = client.chat.completions.with_raw_response.create(
        model="echo", user="user-42", messages=[{"role": "user", "content": text}])
    return raw.headers["x-selfmodel-request-id"], raw.parse().choices[0].message.content or ""


def model_of(served: ServedApp, user: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{served.url}/v1/self-models/{user}")
    return list(answer.json()["beliefs"]) if answer.status_code == 200 else []


# -- an operator with a key -----------------------------------------------------------------------

def test_sign_in_correct_erase_and_a_stored_script_that_never_runs(
        browser: WebDriver, tmp_path: Path, sqlite_url: str) -> None:
    config = config_for(sqlite_url)
    with serve(create_app(config, run_workers=False)) as served:
        seed(sqlite_url, "acme", "alice", [
            ("communication", "response_length", "concise", "Prefers concise answers",
             "keep it short please"),
            ("diet", "diet", "vegetarian", "Is vegetarian", "I'm vegetarian"),
            ("tech", "language", "python", "Writes Python", "my Python service is slow")])
        mallory = "mallory" + XSS
        seed(sqlite_url, "acme", mallory, [("general", "tone", "x", "Likes " + XSS,
                                             "I said " + XSS)])
        browser.get(served.url + "/console/users")
        assert browser.current_url.endswith("/console/sign-in")
        css(browser, "input#key").send_keys(KEYS["acme"])
        css(browser, "button.primary").click()
        css(browser, "table")
        assert KEYS["acme"] not in browser.page_source
        assert all(c["httpOnly"] for c in browser.get_cookies())
        shot(browser, tmp_path, "console-users")

        browser.find_element(By.PARTIAL_LINK_TEXT, "mallory").click()
        statement = css(browser, ".statement")
        assert statement.text == "Likes " + XSS  # shown as text, not run as markup
        no_script_ran(browser)

        browser.get(served.url + "/console/users")
        click_text(browser, "alice")
        click_text(browser, "Is vegetarian")
        assert "I'm vegetarian" in css(browser, "table").text  # the evidence timeline
        correct(browser, statement="Is vegetarian, eats fish on Fridays")
        says(browser, ".notice", "Belief corrected")
        assert "Is vegetarian, eats fish on Fridays" in browser.page_source
        api = httpx.get(f"{served.url}/v1/self-models/alice",
                        headers={"Authorization": f"Bearer {KEYS['acme']}"}).json()
        assert "Is vegetarian, eats fish on Fridays" in [b["statement"] for b in api["beliefs"]]

        click_text(browser, "Erase…")
        css(browser, "input#confirm").send_keys("alice")
        css(browser, "button.danger").click()
        says(browser, ".notice", "Everything about the user was erased")
        gone = httpx.get(f"{served.url}/v1/self-models/alice",
                         headers={"Authorization": f"Bearer {KEYS['acme']}"})
        assert gone.status_code == 404


def seed(store_url: str, tenant: str, user: str,
         beliefs: list[tuple[str, str, str, str, str]]) -> None:
    """Beliefs with evidence written through the store (as the worker would)."""
    async def main() -> None:
        store = open_store(store_url)
        await store.start()
        now = time.time()
        made = [Belief(id=f"b_{key}", domain=domain, key=key, value=value, statement=text,
                       support=3.0, ref_at=now, first_seen=now - 3600, last_seen=now,
                       observations=2,
                       evidence=[Evidence(observation_id=f"obs_{key}", quote=quote,
                                          source=Source.EXPLICIT, at=now - 60)])
                for domain, key, value, text, quote in beliefs]

        def put(model: SelfModel) -> SelfModel:
            return model.model_copy(update={"beliefs": made})

        await store.mutate_model(tenant, user, put)
        await store.close()
    asyncio.run(main())


# -- the user's own page --------------------------------------------------------------------------

def test_a_user_corrects_withdraws_and_erases_from_their_link(
        browser: WebDriver, tmp_path: Path, sqlite_url: str) -> None:
    config = config_for(sqlite_url)
    config.console = ConsoleSettings(secret="another-console-secret-0123456789")
    with serve(create_app(config, run_workers=False)) as served:
        seed(sqlite_url, "acme", "uma", [
            ("communication", "response_length", "concise", "Prefers concise answers",
             "keep answers short"),
            ("diet", "diet", "vegetarian", "Is vegetarian", "I'm vegetarian"),
            ("travel", "home_city", "lisbon", "Lives in Lisbon", "here in Lisbon it rains")])
        headers = {"Authorization": f"Bearer {KEYS['acme']}"}
        link = httpx.post(f"{served.url}/v1/self-models/uma/portal-link", headers=headers)
        browser.get(link.json()["url"])
        says(browser, "h1", "What this app believes about you")
        assert "Because you said" in browser.page_source
        shot(browser, tmp_path, "console-portal")

        card = browser.find_element(
            By.XPATH, "//li[.//p[@class='statement' and text()='Lives in Lisbon']]")
        card.find_element(By.LINK_TEXT, "Correct it").click()
        words = css(browser, "input#statement")
        words.clear()
        words.send_keys("Lives in Porto")
        css(browser, "button.primary").click()
        says(browser, ".notice", "Corrected")
        assert "t=" not in browser.current_url  # the token left the address bar
        model = httpx.get(f"{served.url}/v1/self-models/uma", headers=headers).json()
        assert "Lives in Porto" in [b["statement"] for b in model["beliefs"]]

        browser.find_element(By.XPATH, "//button[text()='Stop learning about me']").click()
        says(browser, ".notice", "stopped learning")
        export = httpx.get(f"{served.url}/v1/self-models/uma/export", headers=headers).json()
        assert export["consent"] is False

        browser.find_element(By.PARTIAL_LINK_TEXT, "Erase everything").click()
        says(browser, "h1", "Erase everything about you?")
        css(browser, "button.danger").click()
        says(browser, ".notice", "has been erased")
        assert httpx.get(f"{served.url}/v1/self-models/uma",
                         headers=headers).status_code == 404
        browser.get(served.url + "/console/users")  # nothing of the tenant is reachable
        assert browser.current_url.endswith("/console/sign-in")


# -- insights, read without script -------------------------------------------------------------

def test_insights_show_lift_rates_and_readiness_as_charts_and_tables(
        browser: WebDriver, tmp_path: Path, sqlite_url: str) -> None:
    config = config_for(sqlite_url)
    config.tenants[0].experiment = ExperimentSettings(name="holdout", control_share=0.5)
    with serve(create_app(config, run_workers=False)) as served:
        asyncio.run(population(sqlite_url, users=60))
        browser.get(served.url + "/console/sign-in")
        css(browser, "input#key").send_keys(KEYS["acme"])
        css(browser, "button.primary").click()
        css(browser, "table")
        browser.get(served.url + "/console/insights")
        main = css(browser, "main").text
        assert "Experiment holdout" in main and "correction_rate" in main
        charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
        assert len(charts) == 4  # lift intervals, per-arm means, days, alignment scores
        assert browser.find_elements(By.CSS_SELECTOR, "svg.chart circle.point")
        assert browser.find_elements(By.CSS_SELECTOR, "svg.chart polyline.line-a")
        days = browser.find_elements(By.XPATH, "//table[.//th[text()='Corrections']]//tbody/tr")
        assert len(days) == 14
        assert sum(int(row.find_elements(By.TAG_NAME, "td")[3].text) for row in days) > 0
        assert "Readiness" in main
        no_script_ran(browser)
        shot(browser, tmp_path, "console-insights")


async def population(store_url: str, users: int) -> None:
    """Users in both arms of the holdout: exchanges and corrections in their counters,
    correction evidence on recent days, and decision records spread over the last days."""
    store = open_store(store_url)
    await store.start()
    now = time.time()
    for i in range(users):
        user, arm = f"user-{i:03d}", ("control", "personalized")[i % 2]
        exchanges = 10.0 + i % 7
        corrections = (4.0 if arm == "control" else 1.0) + i % 3
        fixes = [Evidence(observation_id=f"obs_{i}_{d}", quote="no, shorter please",
                          source=Source.CORRECTION, at=now - d * 86_400.0 - 60)
                 for d in range(i % 5)]
        belief = Belief(id=f"b_{i}", domain="communication", key="response_length",
                        value="concise", statement="Prefers concise answers", support=3.0,
                        ref_at=now, last_seen=now, evidence=fixes, observations=len(fixes))
        update = {"experiments": {"holdout": arm}, "beliefs": [belief],
                  "stats": {"exchanges": exchanges, "corrections": corrections},
                  "last_exchange_at": now - 3600}
        await store.mutate_model("acme", user,
                                 lambda m, update=update: m.model_copy(update=update))
        for d in range(6):
            await store.put_decision(DecisionRecord(
                request_id=f"req_{i}_{d}", tenant="acme", user_id=user,
                at=now - d * 86_400.0 - 120, model="echo", arm=arm,
                personalized=arm == "personalized",
                reason="" if arm == "personalized" else "control arm of the holdout"), 86_400 * 30)
    await store.close()

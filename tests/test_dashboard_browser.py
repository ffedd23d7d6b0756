"""The dashboard in headless Chromium: sign in, filter, retry, and watch the badge change without a reload."""

import math
import time

import pytest
from sqlalchemy import select

from tests.support.browser import screenshot
from tests.support.factories import booking_payload, contact, envelope, notifications, post_and_plan
from tests.support.redirects import OFF_SITE
from tests.support.signin import PASSWORD
from webapp.extensions import db
from webapp.models import Staff

# Under make test-fast these tests share one process, so the run boots one Chromium, not one per process.
pytestmark = pytest.mark.xdist_group("chromium")

LIVE_WAIT_SECONDS = 2.5  # the "within 2 seconds", plus the test's own polling
# Headless Chromium never hides a tab, so the test tells the page it is hidden the way the browser would.
SET_HIDDEN = """Object.defineProperty(document, 'hidden', {value: arguments[0], configurable: true});
document.dispatchEvent(new Event('visibilitychange'));"""
LIVE_ASKS = "return performance.getEntriesByType('resource').filter(e => e.name.includes('/dashboard/live/')).length"


def wait_for(driver, condition, seconds: float, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition, message)


def sign_in(browser, email: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{browser.base_url}/login")
    browser.find_element(By.NAME, "email").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, lambda driver: driver.current_url.endswith("/dashboard/"), 5, "sign-in did not land")


def badge(browser, row_id: int) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'[data-live-id="{row_id}"] [data-field="status"] .badge').text


def next_second() -> None:
    time.sleep(math.ceil(time.time()) - time.time() + 0.3)  # wake-ups are armed for whole seconds


@pytest.fixture
def failed_welcome(app, client, run_jobs, telegram):
    """One welcome message that failed at Telegram (the next send succeeds), beside a planned booking."""
    app.config.update(CHANNELS=["telegram"], TELEGRAM_BASE_URL=telegram.url, TELEGRAM_BOT_TOKEN=telegram.TOKEN)
    telegram.error(400, "Bad Request: message text is empty")
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "name": "Ada", "telegram_chat_id": "1"}))
    run_jobs()
    booking = booking_payload(
        "b-1", client=contact("client-1", telegram_chat_id="2"), expert=contact("expert-1", telegram_chat_id="3")
    )
    assert post_and_plan(client, envelope("booking.created", booking)).status_code == 202
    [row] = notifications(status="failed")
    return row


def test_an_operator_filters_retries_and_sees_the_badge_change_live(browser, accounts, failed_welcome, run_jobs):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, "operator@example.com")
    browser.get(f"{browser.base_url}/dashboard/notifications")
    Select(browser.find_element(By.NAME, "status")).select_by_visible_text("failed")
    browser.find_element(By.XPATH, "//button[text()='Filter']").click()
    wait_for(browser, lambda driver: "status=failed" in driver.current_url, 5, "the filter did not reach the URL")
    rows = browser.find_elements(By.CSS_SELECTOR, "[data-live-id]")
    assert [row.get_attribute("data-live-id") for row in rows] == [str(failed_welcome.id)]
    screenshot(browser, "notifications-filtered")

    browser.find_element(By.LINK_TEXT, str(failed_welcome.id)).click()
    browser.find_element(By.XPATH, "//button[text()='Retry now']").click()
    wait_for(browser, lambda driver: "outcome=done" in driver.current_url, 5, "the retry did not come back")
    assert badge(browser, failed_welcome.id) == "pending"
    browser.execute_script("window.bellhopSamePage = true")  # gone if the page reloads

    next_second()
    run_jobs()  # the real scheduler step and worker send it; the page is not told, it asks
    wait_for(
        browser,
        lambda driver: badge(driver, failed_welcome.id) == "sent",
        LIVE_WAIT_SECONDS,
        "the badge did not turn to sent without a reload",
    )
    assert browser.execute_script("return window.bellhopSamePage") is True
    assert browser.find_element(By.CSS_SELECTOR, '[data-field="attempts"]').text == "2"
    # The attempt log and the actions follow the row: attempt 2 appears, and a sent message offers no action.
    wait_for(
        browser,
        lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "#attempt-log tr")) == 3,
        2,
        "the attempt log did not show the new attempt",
    )
    assert "sent" in browser.find_element(By.CSS_SELECTOR, "#attempt-log").text
    assert "retried by operator@example.com" in browser.find_element(By.CSS_SELECTOR, "#history").text
    assert browser.find_elements(By.CSS_SELECTOR, "#row-actions button") == []
    assert browser.execute_script("return window.bellhopSamePage") is True
    screenshot(browser, "notification-sent-live")


def test_the_list_and_overview_update_live_and_a_hidden_tab_stops_asking(browser, accounts, client):
    from selenium.webdriver.common.by import By

    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    sign_in(browser, "operator@example.com")
    overview_count = browser.execute_script(
        "return document.querySelector('#overview').textContent.includes('Figures as of')"
    )
    assert overview_count
    browser.get(f"{browser.base_url}/dashboard/notifications?type=booking_1h")
    [first, second] = [
        row.get_attribute("data-live-id") for row in browser.find_elements(By.CSS_SELECTOR, "[data-live-id]")
    ]
    browser.execute_script("window.bellhopSamePage = true")
    # Another operator (another browser) cancels one row; this page only polls.
    from tests.support.signin import csrf_token
    from tests.support.signin import sign_in as sign_in_client

    sign_in_client(client, "admin@example.com")
    client.post(
        "/dashboard/notifications/selected",
        data={"csrf_token": csrf_token(client, "/dashboard/notifications"), "action": "cancel", "id": [first]},
    )
    wait_for(
        browser,
        lambda driver: badge(driver, int(first)) == "cancelled",
        LIVE_WAIT_SECONDS,
        "the list did not show the cancel",
    )
    assert badge(browser, int(second)) == "pending"
    assert browser.execute_script("return window.bellhopSamePage") is True
    screenshot(browser, "notifications-live")

    # Hidden, the tab asks nothing; shown again, it asks at once.
    browser.execute_script(SET_HIDDEN, True)
    time.sleep(0.5)  # let an ask already on its way finish
    asked = browser.execute_script(LIVE_ASKS)
    time.sleep(2.5)
    assert browser.execute_script(LIVE_ASKS) == asked
    browser.execute_script(SET_HIDDEN, False)
    wait_for(browser, lambda driver: driver.execute_script(LIVE_ASKS) > asked, 0.8, "a shown tab did not ask at once")


def staff_id(email: str) -> int:
    return db.session.scalar(select(Staff.id).where(Staff.email == email))


def test_screenshots_of_the_main_pages(browser, accounts, failed_welcome):
    sign_in(browser, "admin@example.com")
    pages = {
        "overview": "/dashboard/",
        "notifications": "/dashboard/notifications",
        "notification": f"/dashboard/notifications/{failed_welcome.id}",
        "bookings": "/dashboard/bookings",
        "booking-timeline": "/dashboard/bookings/b-1",
        "person": "/dashboard/people/client-1",
        "people-search": "/dashboard/people?q=client",
        "events": "/dashboard/events",
        "audit": "/dashboard/audit",
        "templates": "/dashboard/templates",
        "confirm-bulk": "/dashboard/notifications/matching/cancel?type=booking_1h",
        "admin-staff": "/admin/admin_staff/",
        "admin-recipients": "/admin/admin_recipients/",
        "admin-notifications": "/admin/admin_notifications/",
        # Flask-Admin's forms carry its inline scripts: the fixture fails on any Content-Security-Policy refusal.
        "admin-staff-create": "/admin/admin_staff/new/",
        "admin-staff-edit": f"/admin/admin_staff/edit/?id={staff_id('viewer@example.com')}",
        "admin-recipient-edit": f"/admin/admin_recipients/edit/?id={failed_welcome.recipient_id}",
    }
    for name, path in pages.items():
        browser.get(f"{browser.base_url}{path}")
        assert "Bellhop" in browser.title and "Internal Server Error" not in browser.page_source, name
        assert screenshot(browser, name).stat().st_size > 5_000


def test_the_top_bar_search_finds_a_person_and_opens_their_page(browser, accounts, failed_welcome, client):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    person = contact("client-9", name="Ada Lovelace", email="ada@example.com")
    assert (
        post_and_plan(
            client, envelope("booking.created", booking_payload("b-9", client=person, client_id="client-9"))
        ).status_code
        == 202
    )
    sign_in(browser, "viewer@example.com")
    search = browser.find_element(By.CSS_SELECTOR, "header form[role=search] input[name=q]")
    search.send_keys("ada@EXAMPLE", Keys.ENTER)
    wait_for(browser, lambda driver: "/dashboard/people?q=" in driver.current_url, 5, "the search did not run")
    browser.find_element(By.LINK_TEXT, "Ada Lovelace").click()
    wait_for(browser, lambda driver: driver.current_url.endswith("/dashboard/people/client-9"), 5, "no person page")
    contacts = browser.find_element(By.ID, "contacts").text
    assert "ada@example.com" in contacts and "Europe/Berlin" in contacts
    assert "booking_24h" in browser.find_element(By.ID, "messages").text  # her reminders, newest first


SCHEDULER_DOWN = r"No scheduler is running the clock since (.+) UTC: no reminder is being sent\."


def test_a_red_banner_on_every_page_while_the_scheduler_is_down_saying_since_when(
    browser, accounts, app, database_url, redis_url, tmp_path
):
    import os
    import re
    import signal
    from datetime import datetime, timezone

    from selenium.webdriver.common.by import By

    from tests.support.processes import process_env, start, stop, wait_until_ready

    def banners() -> list[str]:
        browser.refresh()
        return [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".at-risk")]

    app.config["HEARTBEAT_STALE_SECONDS"] = 3
    env = process_env(database_url, redis_url)
    scheduler, worker = start("scheduler", env, tmp_path / "scheduler.log"), start("worker", env, tmp_path / "w.log")
    try:
        wait_until_ready(redis_url, tmp_path)
        sign_in(browser, "viewer@example.com")
        wait_for(browser, lambda _: banners() == [], 10, "a banner while everything runs")
        os.kill(scheduler.pid, signal.SIGKILL)
        killed_at = time.time()
        for path in ("/dashboard/", "/dashboard/notifications", "/dashboard/bookings", "/dashboard/events"):
            browser.get(f"{browser.base_url}{path}")
            [banner] = wait_for(browser, lambda _: banners() or None, 10, f"no banner on {path}")
            since = re.fullmatch(SCHEDULER_DOWN, banner)
            assert since, banner
            last_beat = datetime.strptime(since[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
            assert killed_at - 2 <= last_beat <= killed_at + 1, (banner, killed_at)
        screenshot(browser, "banner-scheduler-down")
    finally:
        stop([scheduler, worker])


def test_a_signed_in_browser_never_leaves_the_site_whatever_next_says(browser, accounts):
    from urllib.parse import quote, urlsplit

    from selenium.webdriver.common.by import By

    home = urlsplit(browser.base_url).netloc
    for target in [*OFF_SITE, "/dashboard/audit?action=login"]:
        browser.delete_all_cookies()
        browser.get(f"{browser.base_url}/login?next={quote(target, safe='')}")
        browser.find_element(By.NAME, "email").send_keys("admin@example.com")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait_for(browser, lambda driver: "/login" not in driver.current_url, 5, f"sign-in did not land: {target!r}")
        landed = urlsplit(browser.current_url)
        assert (landed.scheme, landed.netloc) == ("http", home), (target, browser.current_url)
    assert landed.path == "/dashboard/audit" and landed.query == "action=login"  # a path of ours is followed

"""Headless Chromium (Debian's chromium and chromium-driver) driving a Bellhop served on loopback."""

import shutil
import threading
from pathlib import Path

from werkzeug.serving import make_server

from tests.support import services

ARTEFACTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
CHROMEDRIVER_PATHS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def find_chromium() -> tuple[str, str] | None:
    """The chromium binary and its driver, or None when either is missing."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or next((path for path in CHROMEDRIVER_PATHS if Path(path).exists()), None)
    return (binary, driver) if binary and driver else None


def start_chromium(binary: str, driver: str):
    """A headless Chromium session with a desktop-sized window."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-gpu",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, read by csp_violations
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


class LiveServer:
    """The test's app served by werkzeug in a thread, so the browser and the test share one database."""

    def __init__(self, app):
        self.port = services.free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


def csp_violations(driver) -> list[str]:
    """The Content-Security-Policy refusals in the console since the last call (reading empties it)."""
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


def screenshot(driver, name: str) -> Path:
    """Save the page as var/screenshots/<name>.png, a test artefact to look at."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path

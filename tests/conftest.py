"""Fixtures: a real Redis, real SQLite and PostgreSQL, the app, and helpers to run jobs."""

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# Metrics files go to a directory of this test process's own, not the checkout's var/metrics.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bellhop-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

import pytest
from redis import Redis
from rq import SimpleWorker

from tests.support import processes, services
from tests.support.apps import TestConfig, clear_tables, config_for, migrate
from tests.support.providers import SmtpServer, Telegram, Twilio
from tests.support.receiver import Receiver
from webapp import create_app
from webapp.extensions import db
from webapp.plumbing import queueing
from workers.scheduler import BellhopScheduler

BACKENDS = ["sqlite", "postgresql"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Start the long tests first, so no process is left with one at the end while the others idle.

    make test runs the tests marked timing in a phase of their own, so the long ones started together here
    are the CPU-bound ones (the fuzzers, the hostile query strings, the benchmarks' smoke run, the cancel
    races), none of which asserts how soon something happens.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def redis_url():
    """A private Redis server for the whole run."""
    workdir = Path(tempfile.mkdtemp(prefix="bellhop-redis-"))
    process, url = services.start_redis(workdir)
    yield url
    process.terminate()
    process.wait(10)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL cluster for the whole run."""
    workdir = Path(tempfile.mkdtemp(prefix="bellhop-pg-"))
    stop, url = services.start_postgres(workdir)
    yield url
    subprocess.run(stop, capture_output=True)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """Each test runs once on SQLite (a file, shared with worker processes) and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'bellhop.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrate(url)
    return url


@pytest.fixture
def config_overrides():
    """Tests override settings by overriding this fixture or updating the dict."""
    return {}


@pytest.fixture
def app(database_url, redis_url, config_overrides):
    """A Bellhop app on clean tables and an empty Redis."""
    app = create_app(config_for(database_url, redis_url, **config_overrides))
    with app.app_context():
        clear_tables()
        queueing.redis_connection().flushall()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def redis(app) -> Redis:
    """The app's Redis client."""
    return queueing.redis_connection()


@pytest.fixture
def run_jobs(app):
    """Run the real scheduler step and a burst worker until nothing is left to do."""

    def run() -> None:
        connection = queueing.redis_connection()
        clock = BellhopScheduler(
            queue_name=app.config["RQ_QUEUE"],
            connection=connection,
            interval=1,
            sweep_interval=app.config["SWEEP_INTERVAL_SECONDS"],
        )
        clock.enqueue_jobs()
        SimpleWorker([queueing.queue()], connection=connection).work(burst=True, with_scheduler=False)
        db.session.expire_all()

    return run


@pytest.fixture
def receiver():
    """A loopback HTTP server that checks Bellhop's outgoing signatures and records requests."""
    server = Receiver(TestConfig.OUTBOUND_WEBHOOK_SECRET)
    yield server
    server.stop()


@pytest.fixture
def smtp():
    """A real SMTP server on loopback that keeps what it accepts."""
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def twilio():
    """A loopback stand-in for Twilio's Messages API."""
    server = Twilio()
    yield server
    server.stop()


@pytest.fixture
def telegram():
    """A loopback stand-in for Telegram's Bot API."""
    server = Telegram()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command line."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def accounts(app):
    """One dashboard account per role: viewer@, operator@ and admin@example.com."""
    from tests.support.signin import PASSWORD
    from webapp.domain.staff import accounts
    from webapp.extensions import db
    from webapp.models import Role

    for role in Role:
        accounts.create(f"{role.value}@example.com", PASSWORD, role)
    db.session.commit()


@pytest.fixture(scope="session")
def chromium():
    """Debian's headless Chromium and its driver; one browser for the whole run."""
    from tests.support.browser import find_chromium, start_chromium

    found = find_chromium()
    if found is None:
        services.missing("chromium and chromium-driver (apt-get install chromium chromium-driver)")
    driver = start_chromium(*found)
    yield driver
    driver.quit()


@pytest.fixture
def browser(app, chromium):
    """The browser, pointed at this test's app served on loopback, with no session left from another test."""
    from tests.support.browser import LiveServer, csp_violations

    server = LiveServer(app)
    chromium.base_url = server.url
    chromium.get(f"{server.url}/health")  # cookies are cleared per site: be on it first
    chromium.delete_all_cookies()
    csp_violations(chromium)  # start with an empty console
    yield chromium
    violations = csp_violations(chromium)
    chromium.get("about:blank")  # stop the page's polling before the server goes
    server.stop()
    assert not violations, f"the Content-Security-Policy refused something: {violations}"


@pytest.fixture(scope="session")
def rabbit():
    """A private RabbitMQ node for the whole run."""
    from tests.support.rabbitmq import RabbitNode

    node = RabbitNode(Path(tempfile.mkdtemp(prefix="bellhop-rabbit-")))
    yield node
    node.close()


@pytest.fixture
def consumers(app, database_url, redis_url, tmp_path):
    """Start consumer processes on demand, with this test's broker settings; stop them all after the test."""
    from tests.support.rabbitmq import TOPOLOGY_SETTINGS

    started = []

    def start(database=database_url, amqp_url=None, **extra) -> subprocess.Popen:
        env = {
            **processes.process_env(database, redis_url),
            **{name: app.config[name] for name in TOPOLOGY_SETTINGS},
            "AMQP_RETRY_MAX_SECONDS": "1",
            "LOG_LEVEL": "INFO",
            **extra,
        }
        env["AMQP_URL"] = amqp_url or env["AMQP_URL"]
        log = tmp_path / f"consumer{len(started)}.log"
        process = processes.start("consumer", env, log)
        process.log = log
        started.append(process)
        assert processes.wait_for(lambda: "consuming" in log.read_text() or process.poll() is not None, 30), (
            log.read_text()
        )
        return process

    yield start
    processes.stop(started)


@pytest.fixture
def web_server(database_url, redis_url, tmp_path):
    """The Procfile's web process (gunicorn, four workers) on a free loopback port; yields its base URL."""
    with processes.web(processes.process_env(database_url, redis_url), tmp_path / "web.log", workers=4) as url:
        yield url

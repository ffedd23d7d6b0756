"""Unbound Flask extensions, bound to an app by create_app."""

from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base shared by every model."""


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()


@event.listens_for(Engine, "connect")
def tune_sqlite(dbapi_connection, _record) -> None:
    """Let several processes share the SQLite file: WAL, a busy wait, enforced keys, one sync per checkpoint."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # NORMAL, as Rails 8 and Django's guides advise for WAL: a commit skips its own fsync (ingest 244 -> 279
    # events/s measured); the file never corrupts, though power loss may undo the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def engine_options(config) -> dict:
    """SQLAlchemy engine options for the configured database."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # psycopg prepares a statement on its fifth run, and PostgreSQL may then keep a generic plan made
        # while the table was small: a sequential scan that stays as the table grows. Measured: the
        # notification key look-up took most of the database's CPU during ingest. Plan every run instead.
        options["connect_args"] = {**options.get("connect_args", {}), "prepare_threshold": None}
    return options


def insert_or_skip(model):
    """An INSERT in this database's dialect, so that .on_conflict_do_nothing() can follow it."""
    return (postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert)(model)

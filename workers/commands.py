"""`flask worker`, `flask scheduler`, `flask consumer`: the background processes, started like every flask command.

Each runs on the app the flask command line already made; wsgi.py adds them to it.
"""

import click
from flask import current_app

from workers.processes import run_consumer, run_scheduler, run_worker


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when there is no more work.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of a forked horse.")
def worker_command(burst: bool, simple: bool) -> None:
    """Run an RQ worker on Bellhop's queue."""
    run_worker(burst, simple, current_app._get_current_object())


@click.command("scheduler")
@click.option("--burst", is_flag=True, help="Run one pass and stop.")
def scheduler_command(burst: bool) -> None:
    """Run the clock: wake-ups, the sweep, and taking back work when Redis came back empty."""
    run_scheduler(burst, current_app._get_current_object())


@click.command("consumer")
def consumer_command() -> None:
    """Consume the platform's RabbitMQ events (exits when AMQP_URL is not set)."""
    run_consumer(current_app._get_current_object())


COMMANDS = (worker_command, scheduler_command, consumer_command)


def register(app) -> None:
    """Add the background processes' commands to the app's `flask` command line."""
    for command in COMMANDS:
        app.cli.add_command(command)

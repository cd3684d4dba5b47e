"""``pledge worker``: run request steps, deadline reminders, owed mail and the retention schedule
until stopped.

The worker is a :class:`~pledge.system.Pledge` like the web app, so its steps see the same
consent ledger, clock and policy history. With a broker (``--broker redis://…`` or ``amqp://…``)
it is a dramatiq worker; with ``--inline`` it polls the database itself (no broker, one request
at a time). Stops cleanly on SIGTERM or Ctrl-C once the step in hand is done; a kill -9 is
survived too (the next worker resumes).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from pledge.cli import _output
from pledge.cli._common import (
    ConfigOpt,
    ConnectOpt,
    DatamapOpt,
    DbOpt,
    declaration_path,
    open_system,
    reported,
    settings,
)

if TYPE_CHECKING:
    from pledge.system import Pledge


def worker(
    broker: Annotated[
        str | None, typer.Option("--broker", help="redis://HOST:6379/0 or amqp://USER:PW@HOST:5672/")
    ] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    datamap: DatamapOpt = None,
    connect: ConnectOpt = None,
    planner: Annotated[
        str | None, typer.Option("--planner", help="MODULE:CALLABLE building the step planner instead")
    ] = None,
    inline: Annotated[bool, typer.Option("--inline", help="poll the database; no broker")] = False,
    threads: Annotated[
        int, typer.Option("--threads", min=1, max=64, help="worker threads (broker mode)")
    ] = 4,
    worker_id: Annotated[
        str | None,
        typer.Option(
            "--worker-id", help="stable identity (inline): a restart resumes its own requests at once"
        ),
    ] = None,
    poll: Annotated[float, typer.Option("--poll", min=0.05, help="seconds between database polls")] = 5.0,
) -> None:
    """Run data-subject request steps, reminders and owed mail until stopped."""
    from pledge.errors import InputError
    from pledge.worker.app import load_planner_factory

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with reported():
        chosen = settings(db, broker_url=broker)
        declaration_path(config, chosen, needed_by="a worker")
        if planner is None and not datamap:
            raise InputError(
                "a worker needs to know how to run steps", hint="pass --datamap PATH (and --connect KEY=URL)"
            )
        factory = load_planner_factory(planner) if planner is not None else None
        with open_system(
            config,
            datamap=datamap,
            connect=connect,
            chosen=chosen,
            needed_by="a worker",
            planner=factory,
            cross_process=True,  # the web app's consent changes reach this process's decisions
            worker_poll=poll,
            worker_id=worker_id if inline else None,
        ) as system:
            _serve(system, stop, inline=inline, threads=threads, poll=poll)


def _serve(system: Pledge, stop: threading.Event, *, inline: bool, threads: int, poll: float) -> None:
    from pledge.worker.schedule import retention_schedule

    with retention_schedule(
        system.settings,
        system.loaded,
        system.planner,
        system.db,
        system.audit,
        clock=system.now,
        ledger=system.ledger,
    ):
        if inline:
            system.worker.start()
            _output.err.print(f"pledge worker: inline, polling every {poll:g} s", markup=False)
            try:
                stop.wait()
            finally:
                system.worker.stop()
            return
        from pledge.worker import WorkerService, make_broker

        queue_broker = make_broker(system.settings.broker_url)
        try:
            service = WorkerService(
                queue_broker, system.workflow, system.make_runner, threads=threads, poll_interval=poll
            )
            system.services.on_runnable = service.queue.enqueue
            _output.err.print(f"pledge worker: {threads} thread(s) on the broker", markup=False)
            service.run(stop)
        finally:
            queue_broker.close()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)

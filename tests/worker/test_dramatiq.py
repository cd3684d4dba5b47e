"""Request steps on dramatiq with real brokers: Redis and RabbitMQ on this machine."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest

from pledge.errors import ConfigError
from pledge.requests.runner import Runner
from pledge.requests.steps import Identity
from pledge.worker import RequestQueue, WorkerService, make_broker
from tests.requests.support import FAST_RETRY, TEST_LEASE, Env, ListPlanner, build, real_clock


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    made = build(
        f"sqlite:///{tmp_path / 'pledge.db'}", tmp_path, clock=real_clock, planner=ListPlanner(["a", "b"])
    )
    yield made
    made.db.dispose()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[dramatiq.Broker, str]]:
    """A real broker, isolated from anything else using the server (own namespace or queue)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    tag = uuid.uuid4().hex[:10]
    made = make_broker(url, namespace=f"pledge-test-{tag}")
    queue = f"pledge-requests-{tag}"
    yield made, queue
    made.flush_all()
    if request.param == "rabbitmq":
        channel = made.channel  # type: ignore[attr-defined]
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(name)
    made.close()


def _service(env: Env, broker: dramatiq.Broker, queue: str) -> WorkerService:
    def make_runner(owner: str) -> Runner:
        return Runner(env.services, env.planner, owner=owner, retry=FAST_RETRY, lease=TEST_LEASE)

    return WorkerService(
        broker, env.workflow, make_runner, threads=2, poll_interval=0.2, tick_interval=3600, queue_name=queue
    )


def _wait(env: Env, ids: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while {env.workflow.get_request(i).state for i in ids} != {"completed"}:
        assert time.monotonic() < deadline, {i: env.workflow.get_request(i).state for i in ids}
        time.sleep(0.05)


def _create(env: Env, n: int) -> list[str]:
    return [
        env.workflow.create_request(
            "access",
            [Identity("email", f"p{i}@example.org")],
            jurisdiction="gdpr",
            source="cli",
            operator="op",
        ).id
        for i in range(n)
    ]


def test_requests_run_on_the_broker_each_step_once(env: Env, broker: tuple[dramatiq.Broker, str]) -> None:
    made, queue = broker
    planner = ListPlanner(["a", "b", "c"], fail={"b": 1})  # one retry goes through a delayed message
    env.runner.planner = planner
    env.planner = planner
    service = _service(env, made, queue)
    env.services.on_runnable = service.queue.enqueue
    service.start()
    try:
        ids = _create(env, 6)
        _wait(env, ids)
    finally:
        service.stop(timeout=10)
    for rid in ids:
        assert env.audit.kinds(rid).count("request.step_done") == 3
        assert env.audit.kinds(rid).count("request.completed") == 1
    assert sorted(n for n, _ in planner.calls).count("a") == 6


def test_the_dispatcher_sends_requests_nobody_announced(
    env: Env, broker: tuple[dramatiq.Broker, str]
) -> None:
    made, queue = broker
    ids = _create(env, 3)  # created with no broker wired: no message was ever sent
    service = _service(env, made, queue)
    service.start()
    try:
        _wait(env, ids)
    finally:
        service.stop(timeout=10)
    assert service.dispatch() == 0  # nothing left to run


def test_a_sender_only_queue_reaches_the_worker_processes(env: Env, redis_url: str) -> None:
    """The web app holds a RequestQueue without a handler; a worker with a handler consumes."""
    namespace = f"pledge-test-{uuid.uuid4().hex[:10]}"
    sender_broker = make_broker(redis_url, namespace=namespace)
    worker_broker = make_broker(redis_url, namespace=namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    sender = RequestQueue(sender_broker, queue_name=queue)
    service = WorkerService(
        worker_broker,
        env.workflow,
        lambda owner: Runner(env.services, env.planner, owner=owner),
        threads=1,
        poll_interval=3600,
        tick_interval=3600,
        queue_name=queue,
    )
    env.services.on_runnable = sender.enqueue
    try:
        ids = _create(env, 2)
        service.start()
        _wait(env, ids)
    finally:
        service.stop(timeout=10)
        worker_broker.flush_all()
        sender_broker.close()
        worker_broker.close()


def test_bad_broker_urls_are_config_errors() -> None:
    for url in ("http://localhost", "", "kafka://x"):
        with pytest.raises(ConfigError):
            make_broker(url)


def test_stub_broker_for_unit_tests(env: Env) -> None:
    made = make_broker("stub://")
    service = _service(env, made, "q")
    env.services.on_runnable = service.queue.enqueue
    worker = dramatiq.Worker(made, worker_threads=1)
    worker.start()
    try:
        ids = _create(env, 2)
        made.join("q", timeout=10_000)  # type: ignore[attr-defined]
        worker.join()
    finally:
        worker.stop()
    assert {env.workflow.get_request(i).state for i in ids} == {"completed"}

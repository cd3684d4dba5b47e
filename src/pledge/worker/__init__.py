"""Scale-out adapter: request steps on dramatiq (Redis or RabbitMQ). The core never imports this."""

from pledge.worker.queue import ACTOR_NAME, QUEUE_NAME, RequestQueue, make_broker
from pledge.worker.service import WorkerService

__all__ = ["ACTOR_NAME", "QUEUE_NAME", "RequestQueue", "WorkerService", "make_broker"]

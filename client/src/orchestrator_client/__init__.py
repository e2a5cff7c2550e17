"""A Python client for the Orchestrator's v1 API, and the `orchestrator` command on top.

    from orchestrator_client import Client

    with Client("http://127.0.0.1:8000", token) as orchestrator:
        problem = orchestrator.problems.create(workflow=w, test_dataset=[t], size_train_dataset=2)
        orchestrator.data.register(Path("storage/hospital-a"), problems=[problem["uuid"]])
        algo = orchestrator.algos.create(problem=problem["uuid"], name="logistic regression")
        chain = orchestrator.wait_for_chain(algo["uuid"], timeout=600)
        print(orchestrator.leaderboard(problem["uuid"]))

It needs httpx and nothing of the server. See the package's README.md.
"""

from orchestrator_client.client import Client, Curve
from orchestrator_client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    KeyReused,
    NotFound,
    OrchestratorError,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)
from orchestrator_client.resources import Registration
from orchestrator_client.transport import NO_RETRY, Response, Retry, new_key
from orchestrator_client.types import (
    Algo,
    Data,
    Event,
    LeaderboardRow,
    Learnuplet,
    Preduplet,
    Problem,
    Site,
)
from orchestrator_client.waiting import Progress

__version__ = "0.1.0"
__all__ = [
    "NO_RETRY", "Algo", "ApiError", "BadRequest", "Client", "Conflict", "Curve", "Data", "Event", "Forbidden",
    "KeyReused", "LeaderboardRow", "Learnuplet", "NotFound", "OrchestratorError", "PayloadTooLarge", "Preduplet",
    "Problem", "Progress", "Registration", "Response", "Retry", "Site", "Unauthorized", "Unavailable",
    "WaitTimeout", "new_key",
]

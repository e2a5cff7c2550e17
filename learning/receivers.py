"""One-line receivers: registration in `problems` → learnuplet generation here."""

from typing import Any

from learning import services
from problems.models import Algo, Data, Problem


def on_algo_registered(sender: type[Algo], *, algo: Algo, **kwargs: Any) -> int:
    return services.learnuplets_for_new_algo(algo)


def on_data_registered(
    sender: type[Data], *, data: list[Data], problems: list[Problem], **kwargs: Any
) -> int:
    return services.learnuplets_for_new_data(data, problems)

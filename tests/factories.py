"""factory_boy factories for the Orchestrator's records."""

import uuid

import factory
from django.db.models.signals import post_save
from django.utils import timezone

from accounts.models import Site
from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Algo, Data, Problem
from tasks.models import Status


class SiteFactory(factory.django.DjangoModelFactory[Site]):
    class Meta:
        model = Site
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"site-{n}")


class ProblemFactory(factory.django.DjangoModelFactory[Problem]):
    class Meta:
        model = Problem

    workflow = factory.LazyFunction(uuid.uuid4)
    test_dataset = factory.LazyFunction(lambda: [uuid.uuid4(), uuid.uuid4()])
    size_train_dataset = 2
    higher_is_better = True


# A bare algo row: the test builds the tasks it needs (registering through the API, or
# problems.services, generates the chain from the algo's post_save).
@factory.django.mute_signals(post_save)
class AlgoFactory(factory.django.DjangoModelFactory[Algo]):
    class Meta:
        model = Algo

    problem = factory.SubFactory(ProblemFactory)
    name = factory.Sequence(lambda n: f"algo-{n}")


class DataFactory(factory.django.DjangoModelFactory[Data]):
    class Meta:
        model = Data

    problems = factory.LazyFunction(list)


class LearnupletFactory(factory.django.DjangoModelFactory[Learnuplet]):
    class Meta:
        model = Learnuplet

    algo = factory.SubFactory(AlgoFactory)
    problem = factory.SelfAttribute("algo.problem")
    workflow = factory.SelfAttribute("problem.workflow")
    train_data = factory.LazyFunction(lambda: [uuid.uuid4()])
    test_data = factory.SelfAttribute("problem.test_dataset")
    rank = factory.Sequence(int)
    status = Status.TODO
    model_start = factory.SelfAttribute("algo.uuid")
    queued_at = factory.LazyFunction(timezone.now)


class PredupletFactory(factory.django.DjangoModelFactory[Preduplet]):
    class Meta:
        model = Preduplet

    problem = factory.SubFactory(ProblemFactory)
    workflow = factory.SelfAttribute("problem.workflow")
    data = factory.LazyFunction(lambda: [uuid.uuid4()])
    model = factory.LazyFunction(uuid.uuid4)
    status = Status.TODO
    queued_at = factory.LazyFunction(timezone.now)


# Any of the factories above: `.create()` gives the record of its model.
AnyFactory = (
    type[ProblemFactory] | type[AlgoFactory] | type[DataFactory] | type[LearnupletFactory] | type[PredupletFactory]
)

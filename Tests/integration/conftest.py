import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from vipdlab import Cluster  # noqa: E402


@pytest.fixture
def cluster_factory(request):
    clusters = []

    def make(priorities, **kwargs):
        cluster = Cluster(priorities, **kwargs)
        clusters.append(cluster)
        return cluster

    yield make
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    for cluster in clusters:
        if failed:
            cluster.dump_logs()
        cluster.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)

"""A local emulated Aurora cluster with fault injection, for tests and by hand.

Real PostgreSQL or MariaDB servers run on 127.0.0.1; each instance gets a fault proxy on
``127.0.K.<id>:<port>``, the cluster endpoint is ``127.0.K.200`` and the reader endpoint
``127.0.K.201`` (same port). The servers answer the Aurora topology queries.

    async with Testbed.start("postgres", instances=3) as tb:
        conn = await psycopg.AsyncConnection.connect(tb.dsn())
        report = await tb.failover()

``Testbed.start(engine, regions={"us-east-1": 3, "eu-west-1": 2})`` emulates an Aurora Global Database
(see ``_global``).

Command line: ``python -m awsasyncwrap.testbed --help``.
"""

from __future__ import annotations

from ._bluegreen import BlueGreenDeployment, BlueGreenNames, PhaseSeconds, SwitchoverReport
from ._cluster import CATCH_UP_TIMEOUT, ENGINES, Testbed
from ._custom_endpoint import CustomEndpoint
from ._errors import TestbedError
from ._limitless import LimitlessShardGroup
from ._model import EngineName, FailoverReport, Instance, InstanceStatus, Role, TestbedStatus
from ._proxy import MODES, FaultProxy
from ._resolver import use_hosts_file

__all__ = [
    "CATCH_UP_TIMEOUT",
    "ENGINES",
    "MODES",
    "BlueGreenDeployment",
    "BlueGreenNames",
    "CustomEndpoint",
    "EngineName",
    "FailoverReport",
    "FaultProxy",
    "Instance",
    "InstanceStatus",
    "LimitlessShardGroup",
    "PhaseSeconds",
    "Role",
    "SwitchoverReport",
    "Testbed",
    "TestbedError",
    "TestbedStatus",
    "use_hosts_file",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj

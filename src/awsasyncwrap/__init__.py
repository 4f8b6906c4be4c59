"""awsasyncwrap: an asyncio-native driver wrapper for psycopg 3 async and aiomysql.

Wrapped connections run their network-bound calls through an awaitable plugin
pipeline (failover, enhanced failure monitoring, IAM / Secrets Manager auth,
read/write splitting, custom plugins) without ever blocking the event loop.
"""

from __future__ import annotations

from ._background import release_resources
from ._mysql_connection import AsyncAwsMysqlConnection
from ._pipeline import WEIGHT_RELATIVE_TO_PRIOR_PLUGIN, PluginManager
from .connection import AsyncAwsConnection
from .cursor import AsyncAwsCursor, AsyncAwsMysqlCursor
from .dialects import DatabaseDialect
from .drivers import DriverDialect, SessionState
from .errors import (
    AwsConnectError,
    AwsWrapperError,
    ConfigurationError,
    ConnectionReplacedError,
    FailoverError,
    FailoverFailedError,
    FailoverSuccessError,
    TransactionResolutionUnknownError,
    UnsupportedDriverError,
)
from .events import ConnectionEvent, HostEvent, OldConnectionSuggestedAction
from .host_list_provider import HostListProvider, HostListProviderService, StaticHostListProvider
from .hostinfo import HostAvailability, HostInfo, HostRole
from .plugin import Plugin, PluginFactory
from .plugin_service import PluginService
from .plugins.read_write_splitting.errors import ReadWriteSplittingError
from .properties import Properties, WrapperProperties, WrapperProperty

__all__ = [
    "WEIGHT_RELATIVE_TO_PRIOR_PLUGIN",
    "AsyncAwsConnection",
    "AsyncAwsCursor",
    "AsyncAwsMysqlConnection",
    "AsyncAwsMysqlCursor",
    "AwsConnectError",
    "AwsWrapperError",
    "ConfigurationError",
    "ConnectionEvent",
    "ConnectionReplacedError",
    "DatabaseDialect",
    "DriverDialect",
    "FailoverError",
    "FailoverFailedError",
    "FailoverSuccessError",
    "HostAvailability",
    "HostEvent",
    "HostInfo",
    "HostListProvider",
    "HostListProviderService",
    "HostRole",
    "OldConnectionSuggestedAction",
    "Plugin",
    "PluginFactory",
    "PluginManager",
    "PluginService",
    "Properties",
    "ReadWriteSplittingError",
    "SessionState",
    "StaticHostListProvider",
    "TransactionResolutionUnknownError",
    "UnsupportedDriverError",
    "WrapperProperties",
    "WrapperProperty",
    "release_resources",
]

__version__ = "0.1.0"

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj

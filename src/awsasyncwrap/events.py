"""Notification payloads of the connection-changed and host-list-changed pipelines."""

from __future__ import annotations

import enum

__all__ = ["ConnectionEvent", "HostEvent", "OldConnectionSuggestedAction"]


class ConnectionEvent(enum.Enum):
    """What changed about the current connection."""

    CONNECTION_OBJECT_CHANGED = "connection_object_changed"
    INITIAL_CONNECTION = "initial_connection"


class HostEvent(enum.Enum):
    """What changed about one host of the topology."""

    CONVERTED_TO_WRITER = "converted_to_writer"
    CONVERTED_TO_READER = "converted_to_reader"
    WENT_UP = "went_up"
    WENT_DOWN = "went_down"
    HOST_ADDED = "host_added"
    HOST_DELETED = "host_deleted"
    HOST_CHANGED = "host_changed"


class OldConnectionSuggestedAction(enum.Enum):
    """A plugin's opinion on what to do with the connection that was just replaced."""

    NO_OPINION = "no_opinion"
    DISPOSE = "dispose"
    PRESERVE = "preserve"

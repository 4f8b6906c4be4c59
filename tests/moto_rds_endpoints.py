"""Custom cluster endpoints for the moto server: actions moto 5 does not implement.

``install()`` (run in the moto server's process before it starts) adds ``CreateDBClusterEndpoint``,
``DescribeDBClusterEndpoints``, ``ModifyDBClusterEndpoint`` and ``DeleteDBClusterEndpoint`` to moto's RDS
responses, kept per account and region on the RDS backend (so ``/moto-api/reset`` clears them). Any
cluster identifier is accepted (the testbed's clusters are not moto's). ``ThrottleNext`` answers the next
``n`` describe calls with ``Throttling``: set it with ``ModifyDBClusterEndpoint`` and the custom
``CustomEndpointType`` value ``THROTTLE:<n>``.
"""

from __future__ import annotations

from typing import Any


def _endpoints(backend: Any) -> dict[str, dict[str, Any]]:
    found = getattr(backend, "_awsasyncwrap_custom_endpoints", None)
    if found is None:
        found = {}
        backend._awsasyncwrap_custom_endpoints = found
    return found


def _error(code: str, message: str) -> Any:
    from moto.rds.exceptions import RDSClientError

    return RDSClientError(code, message)


def install() -> None:
    """Teach moto's RDS server the custom endpoint actions."""
    from moto.core.responses import ActionResult
    from moto.rds.responses import RDSResponse

    def create_db_cluster_endpoint(self: Any) -> Any:
        params = self.params
        endpoint_id = params["DBClusterEndpointIdentifier"]
        cluster_id = params["DBClusterIdentifier"]
        table = _endpoints(self.backend)
        if endpoint_id in table:
            raise _error("DBClusterEndpointAlreadyExistsFault", f"{endpoint_id} exists")
        record = {
            "DBClusterEndpointIdentifier": endpoint_id,
            "DBClusterIdentifier": cluster_id,
            "DBClusterEndpointResourceIdentifier": f"cluster-endpoint-{endpoint_id}",
            "Endpoint": f"{endpoint_id}.cluster-custom-{cluster_id}.{self.region}.rds.amazonaws.com",
            "Status": "available",
            "EndpointType": "CUSTOM",
            "CustomEndpointType": params.get("EndpointType", "ANY"),
            "StaticMembers": list(params.get("StaticMembers") or []),
            "ExcludedMembers": list(params.get("ExcludedMembers") or []),
            "DBClusterEndpointArn": (
                f"arn:aws:rds:{self.region}:{self.current_account}:cluster-endpoint:{endpoint_id}"
            ),
        }
        table[endpoint_id] = record
        return ActionResult(record)

    def modify_db_cluster_endpoint(self: Any) -> Any:
        params = self.params
        record = _endpoints(self.backend).get(params["DBClusterEndpointIdentifier"])
        if record is None:
            raise _error("DBClusterEndpointNotFoundFault", "no such endpoint")
        kind = params.get("EndpointType")
        if kind and kind.startswith("THROTTLE:"):
            record["_throttle"] = int(kind.split(":", 1)[1])
            return ActionResult({k: v for k, v in record.items() if not k.startswith("_")})
        if kind:
            record["CustomEndpointType"] = kind
        if "StaticMembers" in params:
            record["StaticMembers"] = list(params.get("StaticMembers") or [])
        if "ExcludedMembers" in params:
            record["ExcludedMembers"] = list(params.get("ExcludedMembers") or [])
        return ActionResult({k: v for k, v in record.items() if not k.startswith("_")})

    def describe_db_cluster_endpoints(self: Any) -> Any:
        params = self.params
        table = _endpoints(self.backend)
        wanted = params.get("DBClusterEndpointIdentifier")
        records = [r for r in table.values() if wanted in (None, r["DBClusterEndpointIdentifier"])]
        for record in records:
            if record.get("_throttle", 0) > 0:
                record["_throttle"] -= 1
                raise _error("Throttling", "Rate exceeded")
        return ActionResult(
            {"DBClusterEndpoints": [{k: v for k, v in r.items() if not k.startswith("_")} for r in records]}
        )

    def delete_db_cluster_endpoint(self: Any) -> Any:
        record = _endpoints(self.backend).pop(self.params["DBClusterEndpointIdentifier"], None)
        if record is None:
            raise _error("DBClusterEndpointNotFoundFault", "no such endpoint")
        return ActionResult({k: v for k, v in record.items() if not k.startswith("_")})

    RDSResponse.create_db_cluster_endpoint = create_db_cluster_endpoint  # type: ignore[attr-defined]
    RDSResponse.modify_db_cluster_endpoint = modify_db_cluster_endpoint  # type: ignore[attr-defined]
    RDSResponse.describe_db_cluster_endpoints = describe_db_cluster_endpoints  # type: ignore[attr-defined]
    RDSResponse.delete_db_cluster_endpoint = delete_db_cluster_endpoint  # type: ignore[attr-defined]

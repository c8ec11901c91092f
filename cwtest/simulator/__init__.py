"""The simulated CodeWords runtime: the protocol of the real client, the catalog's services."""

from cwtest.simulator.mcp import ToolError, ToolScript
from cwtest.simulator.records import Call, Exchange, ServiceRequest
from cwtest.simulator.redis_server import RedisCredentials, RedisViolation
from cwtest.simulator.runtime import SimulatedRuntime
from cwtest.simulator.script import (
    Delay,
    DropConnection,
    HttpError,
    Malformed,
    Reply,
    ServiceScript,
    Unsuccessful,
)
from cwtest.simulator.state import Page, Upload

__all__ = [
    "Call", "Delay", "DropConnection", "Exchange", "HttpError", "Malformed", "Page", "RedisCredentials",
    "RedisViolation", "Reply", "ServiceRequest", "ServiceScript", "SimulatedRuntime", "ToolError", "ToolScript",
    "Unsuccessful", "Upload",
]

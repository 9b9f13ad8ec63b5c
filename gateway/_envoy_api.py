"""Envoy's API types (envoy-data-plane), imported in this one place.

Defining envoy-data-plane's generated classes raises pydantic's deprecation
warning for after-validators on classmethods, more than a hundred times. It
concerns the generated code, not ours, so it is silenced here, for these
imports only.
"""

import warnings

from pydantic.warnings import PydanticDeprecatedSince212

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=PydanticDeprecatedSince212)
    from envoy_data_plane.envoy.config.accesslog import v3 as accesslog
    from envoy_data_plane.envoy.config.bootstrap import v3 as bootstrap
    from envoy_data_plane.envoy.config.cluster import v3 as cluster
    from envoy_data_plane.envoy.config.common.mutation_rules import (
        v3 as mutation_rules,
    )
    from envoy_data_plane.envoy.config.core import v3 as core
    from envoy_data_plane.envoy.config.endpoint import v3 as endpoint
    from envoy_data_plane.envoy.config.listener import v3 as listener
    from envoy_data_plane.envoy.config.overload import v3 as overload
    from envoy_data_plane.envoy.config.route import v3 as route
    from envoy_data_plane.envoy.extensions.access_loggers.stream import (
        v3 as stream_log,
    )
    from envoy_data_plane.envoy.extensions.filters.http.buffer import v3 as buffer
    from envoy_data_plane.envoy.extensions.filters.http.grpc_json_transcoder import (
        v3 as transcoder,
    )
    from envoy_data_plane.envoy.extensions.filters.http.health_check import (
        v3 as health_check,
    )
    from envoy_data_plane.envoy.extensions.filters.http.jwt_authn import (
        v3 as jwt_authn,
    )
    from envoy_data_plane.envoy.extensions.filters.http.lua import v3 as lua
    from envoy_data_plane.envoy.extensions.filters.http.router import v3 as router
    from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager import (  # noqa: E501
        v3 as hcm,
    )
    from envoy_data_plane.envoy.extensions.http.early_header_mutation.header_mutation import (  # noqa: E501
        v3 as early_mutation,
    )
    from envoy_data_plane.envoy.extensions.resource_monitors.downstream_connections import (  # noqa: E501
        v3 as downstream_connections,
    )
    from envoy_data_plane.envoy.extensions.transport_sockets.tls import v3 as tls
    from envoy_data_plane.envoy.extensions.upstreams.http import v3 as upstream_http
    from envoy_data_plane.envoy.type import v3 as envoy_type
    from envoy_data_plane.envoy.type.matcher import v3 as matcher
    from envoy_data_plane.google import protobuf

__all__ = [
    "accesslog",
    "bootstrap",
    "buffer",
    "cluster",
    "core",
    "downstream_connections",
    "early_mutation",
    "endpoint",
    "envoy_type",
    "hcm",
    "health_check",
    "jwt_authn",
    "listener",
    "lua",
    "matcher",
    "mutation_rules",
    "overload",
    "protobuf",
    "route",
    "router",
    "stream_log",
    "tls",
    "transcoder",
    "upstream_http",
]

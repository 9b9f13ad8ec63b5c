"""The public HTTP connection manager: its filter chain and its error bodies.

Filters run in this order, each able to answer on its own:

    health_check   /ready: 200 while every cluster has a healthy host, else 503
    jwt_authn      401 without a valid token (see _routes.build_jwt_rules)
    buffer         413 above the request body limit
    lua            off unless a route turns it on: 200 -> 202 for REST submit
    transcoder     REST/JSON <-> gRPC; 400 on unknown query parameters
    router         to the cluster, or a direct answer (/health, 404)

Responses pass the filters in reverse order, so the Lua filter sees the status
the transcoder settled on, after any gRPC error became its HTTP status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway import _routes
from gateway._envoy_api import (
    accesslog,
    buffer,
    core,
    early_mutation,
    envoy_type,
    hcm,
    health_check,
    jwt_authn,
    lua,
    matcher,
    mutation_rules,
    protobuf,
    route,
    router,
    stream_log,
    transcoder,
)

if TYPE_CHECKING:
    from betterproto2 import Message

    from gateway.config import GatewayConfig, JwtSettings

# Identity headers only the gateway or a service may set; a client's copy is
# dropped before any filter or route sees the request.
UNTRUSTED_HEADERS = ("x-user-id", "x-jwt-payload")

# HTTP status of a local reply -> the google.rpc.Code that REST clients see in
# its JSON body, matching what the transcoder reports for upstream errors.
_LOCAL_REPLY_CODES = {
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND
    413: 8,  # RESOURCE_EXHAUSTED
    429: 8,  # RESOURCE_EXHAUSTED
    500: 13,  # INTERNAL
    501: 12,  # UNIMPLEMENTED
    502: 14,  # UNAVAILABLE
    503: 14,  # UNAVAILABLE
    504: 4,  # DEADLINE_EXCEEDED
}
_UNKNOWN_CODE = 2

# The transcoder answers 200 for every successful call. A submission is only
# accepted for processing, which HTTP says with 202; errors keep the status
# the transcoder gave them. This is the filter's default code, not a route's:
# Lua looks its route up again for the response, and by then the transcoder
# has moved the request to the gRPC route.
_ACCEPTED_STATUS_LUA = """
function envoy_on_response(response_handle)
  local headers = response_handle:headers()
  if headers:get(":status") == "200" then
    headers:replace(":status", "202")
  end
end
"""

_ACCESS_LOG_FIELDS = {
    "time": "%START_TIME%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "status": "%RESPONSE_CODE%",
    "grpc_status": "%GRPC_STATUS%",
    "flags": "%RESPONSE_FLAGS%",
    "details": "%RESPONSE_CODE_DETAILS%",
    "duration_ms": "%DURATION%",
    "upstream": "%UPSTREAM_HOST%",
}


def build_connection_manager(config: GatewayConfig) -> hcm.HttpConnectionManager:
    """Return the connection manager of the public listener."""
    return hcm.HttpConnectionManager(
        stat_prefix="public",
        codec_type=hcm.HttpConnectionManagerCodecType.AUTO,
        route_config=_routes.build_route_configuration(),
        http_filters=_http_filters(config),
        use_remote_address=True,
        # Token rules match on the path: "/api/v1/signing-keys/../audit" must
        # not count as an open path.
        normalize_path=True,
        merge_slashes=True,
        path_with_escaped_slashes_action=(
            hcm.HttpConnectionManagerPathWithEscapedSlashesAction.REJECT_REQUEST
        ),
        early_header_mutation_extensions=[_strip_untrusted_headers()],
        local_reply_config=_json_local_replies(),
        access_log=[_stdout_access_log()],
    )


def _http_filters(config: GatewayConfig) -> list[hcm.HttpFilter]:
    filters: list[tuple[str, Message]] = [
        ("envoy.filters.http.health_check", _readiness_filter()),
        ("envoy.filters.http.jwt_authn", _jwt_filter(config.jwt)),
        (
            "envoy.filters.http.buffer",
            buffer.Buffer(max_request_bytes=config.max_request_bytes),
        ),
        (
            _routes.ACCEPTED_STATUS_FILTER,
            lua.Lua(
                default_source_code=core.DataSource(inline_string=_ACCEPTED_STATUS_LUA)
            ),
        ),
        (_routes.TRANSCODER_FILTER, _transcoder_filter(config)),
        ("envoy.filters.http.router", router.Router()),
    ]
    return [
        hcm.HttpFilter(
            name=name,
            typed_config=protobuf.Any.pack(message),
            disabled=name == _routes.ACCEPTED_STATUS_FILTER,
        )
        for name, message in filters
    ]


def _readiness_filter() -> health_check.HealthCheck:
    # The percentage is truncated to an integer by Envoy; 1 % means "at least
    # one healthy host" for clusters of up to 100 hosts.
    at_least_one_host = envoy_type.Percent(value=1.0)
    return health_check.HealthCheck(
        pass_through_mode=False,
        headers=[
            route.HeaderMatcher(
                name=":path",
                string_match=matcher.StringMatcher(exact=_routes.READY_PATH),
            )
        ],
        cluster_min_healthy_percentages={
            cluster: at_least_one_host
            for cluster in sorted(set(_routes.GRPC_SERVICE_CLUSTERS.values()))
        },
    )


def _jwt_filter(settings: JwtSettings) -> jwt_authn.JwtAuthentication:
    if settings.jwks_file is not None:
        jwks = core.DataSource(filename=str(settings.jwks_file))
    else:
        jwks = core.DataSource(inline_string=settings.jwks)
    provider = jwt_authn.JwtProvider(
        issuer=settings.issuer,
        audiences=list(settings.audiences),
        require_expiration=True,
        local_jwks=jwks,
        # Services check the token again, so a caller that bypasses the
        # gateway gains nothing.
        forward=True,
    )
    return jwt_authn.JwtAuthentication(
        providers={_routes.JWT_PROVIDER: provider}, rules=_routes.build_jwt_rules()
    )


def _transcoder_filter(config: GatewayConfig) -> transcoder.GrpcJsonTranscoder:
    return transcoder.GrpcJsonTranscoder(
        proto_descriptor=str(config.descriptor_set),
        services=list(_routes.GRPC_SERVICE_CLUSTERS),
        convert_grpc_status=True,
        request_validation_options=transcoder.GrpcJsonTranscoderRequestValidationOptions(
            reject_unknown_method=True, reject_unknown_query_parameters=True
        ),
        print_options=transcoder.GrpcJsonTranscoderPrintOptions(
            always_print_primitive_fields=True, stream_sse_style_delimited=True
        ),
    )


def _strip_untrusted_headers() -> core.TypedExtensionConfig:
    mutation = early_mutation.HeaderMutation(
        mutations=[mutation_rules.HeaderMutation(remove=h) for h in UNTRUSTED_HEADERS]
    )
    return core.TypedExtensionConfig(
        name="envoy.http.early_header_mutation.header_mutation",
        typed_config=protobuf.Any.pack(mutation),
    )


def _json_local_replies() -> hcm.LocalReplyConfig:
    """Give Envoy's own error answers the JSON shape of transcoded errors.

    Only REST requests are rewritten; a gRPC caller reads grpc-status and
    grpc-message. Upstream errors reach REST callers as JSON through the
    transcoder's convert_grpc_status; these mappers cover what Envoy answers
    itself (401, 404, 413, a 400 from the transcoder, 503 without upstream).
    """
    mappers = [_ready_body_mapper()]
    mappers += [
        _json_error_mapper(accesslog.ComparisonFilterOp.EQ, status, code)
        for status, code in _LOCAL_REPLY_CODES.items()
    ]
    mappers.append(
        _json_error_mapper(accesslog.ComparisonFilterOp.GE, 400, _UNKNOWN_CODE)
    )
    return hcm.LocalReplyConfig(mappers=mappers)


def _ready_body_mapper() -> hcm.ResponseMapper:
    # The health_check filter answers /ready with an empty body; give its 200
    # the body /health has. Its 503 gets the JSON error body like any other.
    ready_path = accesslog.AccessLogFilter(
        header_filter=accesslog.HeaderFilter(
            header=route.HeaderMatcher(
                name=":path",
                string_match=matcher.StringMatcher(exact=_routes.READY_PATH),
            )
        )
    )
    body = protobuf.Struct.from_dict({"status": "SERVING"})
    return hcm.ResponseMapper(
        filter=accesslog.AccessLogFilter(
            and_filter=accesslog.AndFilter(
                filters=[
                    _status_filter(accesslog.ComparisonFilterOp.EQ, 200),
                    ready_path,
                    _rest_request(),
                ]
            )
        ),
        body_format_override=core.SubstitutionFormatString(json_format=body),
    )


def _json_error_mapper(
    op: accesslog.ComparisonFilterOp, status: int, code: int
) -> hcm.ResponseMapper:
    body = protobuf.Struct.from_dict(
        {"code": code, "message": "%LOCAL_REPLY_BODY%", "details": []}
    )
    return hcm.ResponseMapper(
        filter=accesslog.AccessLogFilter(
            and_filter=accesslog.AndFilter(
                filters=[_status_filter(op, status), _rest_request()]
            )
        ),
        body_format_override=core.SubstitutionFormatString(json_format=body),
    )


def _status_filter(
    op: accesslog.ComparisonFilterOp, status: int
) -> accesslog.AccessLogFilter:
    return accesslog.AccessLogFilter(
        status_code_filter=accesslog.StatusCodeFilter(
            comparison=accesslog.ComparisonFilter(
                op=op,
                value=core.RuntimeUInt32(
                    default_value=status,
                    runtime_key=f"gateway.local_reply_status_{status}",
                ),
            )
        )
    )


def _rest_request() -> accesslog.AccessLogFilter:
    """Match requests that came in as REST, transcoded or not.

    The transcoder rewrites content-type to application/grpc before it can
    fail (a bad query value, for example), but it keeps the REST path in
    x-envoy-original-path.
    """
    not_grpc = route.HeaderMatcher(
        name="content-type",
        string_match=matcher.StringMatcher(prefix="application/grpc"),
        invert_match=True,
        treat_missing_header_as_empty=True,
    )
    transcoded = route.HeaderMatcher(name="x-envoy-original-path", present_match=True)
    return accesslog.AccessLogFilter(
        or_filter=accesslog.OrFilter(
            filters=[
                accesslog.AccessLogFilter(
                    header_filter=accesslog.HeaderFilter(header=h)
                )
                for h in (not_grpc, transcoded)
            ]
        )
    )


def _stdout_access_log() -> accesslog.AccessLog:
    log_format = core.SubstitutionFormatString(
        json_format=protobuf.Struct.from_dict(_ACCESS_LOG_FIELDS)
    )
    return accesslog.AccessLog(
        name="envoy.access_loggers.stdout",
        typed_config=protobuf.Any.pack(
            stream_log.StdoutAccessLog(log_format=log_format)
        ),
    )

"""Which path goes where, and which paths need a token.

The transcoder rewrites a REST request to its gRPC path and has the route
matched again, so REST and gRPC calls of one method end on the same gRPC route:
timeouts belong there. The REST prefix routes only decide that the transcoder
handles the request at all; the catch-all route turns it off and answers 404.

Envoy picks a request's filters when its headers arrive, by the first route it
matches, so a filter a REST route turns on stays on for the whole exchange; a
gRPC caller of the same method never matches that route.
"""

from __future__ import annotations

from datetime import timedelta

from gateway._envoy_api import core, jwt_authn, lua, matcher, protobuf, route

TRANSCODER_FILTER = "envoy.filters.http.grpc_json_transcoder"
# Turns a successful REST answer's 200 into 202; on for ACCEPTED_POST_PATHS only.
ACCEPTED_STATUS_FILTER = "portcert.accepted_status"
JWT_PROVIDER = "portcert"

HEALTH_PATH = "/health"
READY_PATH = "/ready"

VERIFICATION_SERVICE = "portcert.verification.v1.VerificationService"
CERTIFICATION_SERVICE = "portcert.certification.v1.CertificationService"
AUDIT_SERVICE = "portcert.audit.v1.AuditService"

GRPC_SERVICE_CLUSTERS = {
    VERIFICATION_SERVICE: "verifier",
    CERTIFICATION_SERVICE: "certifier",
    AUDIT_SERVICE: "certifier",
}
REST_PREFIX_CLUSTERS = {
    "/api/v1/verification": "verifier",
    "/api/v1/certification": "certifier",
    "/api/v1/containers": "certifier",
    "/api/v1/signing-keys": "certifier",
    "/api/v1/audit": "certifier",
}
# Server-streaming methods: the default 15 s route timeout would cut them.
STREAMING_METHODS = {f"/{VERIFICATION_SERVICE}/WatchVerificationStatus": "verifier"}
# REST POST paths whose success means "accepted for processing": 202, not 200.
ACCEPTED_POST_PATHS = {"/api/v1/verification/submit": "verifier"}
# Called by the verification worker directly over mTLS, never from outside.
INTERNAL_METHODS = (f"/{CERTIFICATION_SERVICE}/IssueCertification",)

# Reachable without a token, whatever the method.
OPEN_PATHS = (
    HEALTH_PATH,
    READY_PATH,
    "/api/v1/signing-keys",
    f"/{CERTIFICATION_SERVICE}/ListSigningKeys",
    f"/{CERTIFICATION_SERVICE}/VerifyCertification",
)
# Reachable without a token with POST only (GET of the path is a lookup).
OPEN_POST_PATHS = ("/api/v1/certification/verify",)

_POST_ONLY = route.HeaderMatcher(
    name=":method", string_match=matcher.StringMatcher(exact="POST")
)


def build_route_configuration() -> route.RouteConfiguration:
    """Return the single virtual host that serves every domain."""
    routes = [
        _health_route(),
        *(_not_exposed_route(path) for path in INTERNAL_METHODS),
        *(
            _cluster_route(route.RouteMatch(path=path), cluster, streaming=True)
            for path, cluster in STREAMING_METHODS.items()
        ),
        *(
            _cluster_route(route.RouteMatch(prefix=f"/{service}/"), cluster)
            for service, cluster in GRPC_SERVICE_CLUSTERS.items()
        ),
        *(
            _accepted_route(path, cluster)
            for path, cluster in ACCEPTED_POST_PATHS.items()
        ),
        *(
            _cluster_route(route.RouteMatch(path_separated_prefix=prefix), cluster)
            for prefix, cluster in REST_PREFIX_CLUSTERS.items()
        ),
        _unknown_path_route(),
    ]
    return route.RouteConfiguration(
        name="public",
        virtual_hosts=[
            route.VirtualHost(name="portcert", domains=["*"], routes=routes)
        ],
    )


def build_jwt_rules() -> list[jwt_authn.RequirementRule]:
    """Return the token rules: the open paths first, then a token for the rest.

    Unknown paths need a token too, so that a route added later is never open
    by accident; an authenticated caller then gets the 404.
    """
    open_rules = [
        jwt_authn.RequirementRule(match=route.RouteMatch(path=path))
        for path in OPEN_PATHS
    ]
    open_rules += [
        jwt_authn.RequirementRule(
            match=route.RouteMatch(path=path, headers=[_POST_ONLY])
        )
        for path in OPEN_POST_PATHS
    ]
    token_rule = jwt_authn.RequirementRule(
        match=route.RouteMatch(prefix="/"),
        requires=jwt_authn.JwtRequirement(provider_name=JWT_PROVIDER),
    )
    return [*open_rules, token_rule]


def _cluster_route(
    match: route.RouteMatch, cluster: str, *, streaming: bool = False
) -> route.Route:
    timeout = timedelta(0) if streaming else None
    return route.Route(
        match=match, route=route.RouteAction(cluster=cluster, timeout=timeout)
    )


def _accepted_route(path: str, cluster: str) -> route.Route:
    # An empty LuaPerRoute keeps the filter's own code; FilterConfig needs a
    # config to turn on a filter that is off by default.
    accepted_status_on = route.FilterConfig(
        disabled=False, config=protobuf.Any.pack(lua.LuaPerRoute())
    )
    return route.Route(
        name="accepted",
        match=route.RouteMatch(path=path, headers=[_POST_ONLY]),
        route=route.RouteAction(cluster=cluster),
        typed_per_filter_config={
            ACCEPTED_STATUS_FILTER: protobuf.Any.pack(accepted_status_on)
        },
    )


def _health_route() -> route.Route:
    body = protobuf.Struct.from_dict({"status": "SERVING"})
    return route.Route(
        name="health",
        match=route.RouteMatch(path=HEALTH_PATH),
        direct_response=route.DirectResponseAction(
            status=200, body_format=core.SubstitutionFormatString(json_format=body)
        ),
        typed_per_filter_config=_transcoder_off(),
    )


def _not_exposed_route(path: str) -> route.Route:
    return route.Route(
        name="not-exposed",
        match=route.RouteMatch(path=path),
        direct_response=route.DirectResponseAction(
            status=404,
            body=core.DataSource(inline_string="method not exposed by the gateway"),
        ),
    )


def _unknown_path_route() -> route.Route:
    # Without this route the transcoder's reject_unknown_method would answer
    # first, with a message that names transcoder internals.
    return route.Route(
        name="unknown-path",
        match=route.RouteMatch(prefix="/"),
        direct_response=route.DirectResponseAction(
            status=404, body=core.DataSource(inline_string="no such path")
        ),
        typed_per_filter_config=_transcoder_off(),
    )


def _transcoder_off() -> dict[str, protobuf.Any]:
    return {TRANSCODER_FILTER: protobuf.Any.pack(route.FilterConfig(disabled=True))}

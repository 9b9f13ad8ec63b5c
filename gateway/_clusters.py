"""Upstream clusters: the services, reached over mTLS and health-checked."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from gateway._envoy_api import (
    cluster,
    core,
    endpoint,
    matcher,
    protobuf,
    tls,
    upstream_http,
)
from portcert_runtime.pki import TlsMaterial, spiffe_id

if TYPE_CHECKING:
    from gateway.config import GatewayConfig, Upstream

# The gRPC health service name each service reports readiness under.
READINESS_SERVICE = "readiness"

_CONNECT_TIMEOUT = timedelta(seconds=2)
_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def build_clusters(config: GatewayConfig) -> list[cluster.Cluster]:
    """Return one cluster per service, named after it."""
    upstreams = {"verifier": config.verifier, "certifier": config.certifier}
    return [
        _service_cluster(name, upstream, config) for name, upstream in upstreams.items()
    ]


def _service_cluster(
    name: str, upstream: Upstream, config: GatewayConfig
) -> cluster.Cluster:
    address = core.Address(
        socket_address=core.SocketAddress(
            address=upstream.host, port_value=upstream.port
        )
    )
    return cluster.Cluster(
        name=name,
        type=cluster.ClusterDiscoveryType.STRICT_DNS,
        dns_lookup_family=cluster.ClusterDnsLookupFamily.V4_PREFERRED,
        connect_timeout=_CONNECT_TIMEOUT,
        load_assignment=endpoint.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[
                endpoint.LocalityLbEndpoints(
                    lb_endpoints=[
                        endpoint.LbEndpoint(endpoint=endpoint.Endpoint(address=address))
                    ]
                )
            ],
        ),
        typed_extension_protocol_options={
            _HTTP_PROTOCOL_OPTIONS: protobuf.Any.pack(_http2_only())
        },
        transport_socket=core.TransportSocket(
            name="envoy.transport_sockets.tls",
            typed_config=protobuf.Any.pack(
                _mtls_context(
                    config.tls, peer_identity=upstream.peer_identity or spiffe_id(name)
                )
            ),
        ),
        health_checks=[_readiness_check(name, config.health_check_interval)],
    )


def _http2_only() -> upstream_http.HttpProtocolOptions:
    return upstream_http.HttpProtocolOptions(
        explicit_http_config=upstream_http.HttpProtocolOptionsExplicitHttpConfig(
            http2_protocol_options=core.Http2ProtocolOptions()
        )
    )


def _mtls_context(
    material: TlsMaterial, *, peer_identity: str
) -> tls.UpstreamTlsContext:
    # Without a SAN matcher Envoy accepts any certificate the CA signed, so a
    # compromised worker certificate could impersonate a service.
    return tls.UpstreamTlsContext(
        common_tls_context=tls.CommonTlsContext(
            alpn_protocols=["h2"],
            tls_certificates=[
                tls.TlsCertificate(
                    certificate_chain=core.DataSource(filename=str(material.cert)),
                    private_key=core.DataSource(filename=str(material.key)),
                )
            ],
            validation_context=tls.CertificateValidationContext(
                trusted_ca=core.DataSource(filename=str(material.ca_cert)),
                match_typed_subject_alt_names=[
                    tls.SubjectAltNameMatcher(
                        san_type=tls.SubjectAltNameMatcherSanType.URI,
                        matcher=matcher.StringMatcher(exact=peer_identity),
                    )
                ],
            ),
        ),
    )


def _readiness_check(name: str, interval: timedelta) -> core.HealthCheck:
    return core.HealthCheck(
        timeout=min(interval, timedelta(seconds=2)),
        interval=interval,
        # Envoy probes an idle cluster only every 60 s by default, which would
        # leave /ready stale for a minute after a service stops.
        no_traffic_interval=interval,
        unhealthy_threshold=2,
        healthy_threshold=1,
        grpc_health_check=core.HealthCheckGrpcHealthCheck(
            service_name=READINESS_SERVICE, authority=name
        ),
    )

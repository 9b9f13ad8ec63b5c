"""The public listener: one port for REST and gRPC, over TLS when configured.

With a certificate, the listener speaks TLS 1.2 or later and offers HTTP/2 and
HTTP/1.1 by ALPN; the connection manager's AUTO codec follows what the client
picked. Without one it serves plaintext HTTP/1.1 and h2c, for loopback or for
a load balancer that terminates TLS in front of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway._envoy_api import core, listener, protobuf, tls
from gateway._http import build_connection_manager

if TYPE_CHECKING:
    from gateway.config import GatewayConfig, PublicTls

# Offered in this order: gRPC clients need h2, curl and browsers take either.
_ALPN_PROTOCOLS = ["h2", "http/1.1"]


def build_public_listener(config: GatewayConfig) -> listener.Listener:
    """Return the listener on ``config.listen_host:config.listen_port``."""
    connection_manager = listener.Filter(
        name="envoy.filters.network.http_connection_manager",
        typed_config=protobuf.Any.pack(build_connection_manager(config)),
    )
    transport_socket = (
        None if config.public_tls is None else _tls_socket(config.public_tls)
    )
    return listener.Listener(
        name="public",
        address=core.Address(
            socket_address=core.SocketAddress(
                address=config.listen_host, port_value=config.listen_port
            )
        ),
        filter_chains=[
            listener.FilterChain(
                filters=[connection_manager], transport_socket=transport_socket
            )
        ],
    )


def _tls_socket(public_tls: PublicTls) -> core.TransportSocket:
    context = tls.DownstreamTlsContext(
        common_tls_context=tls.CommonTlsContext(
            tls_params=tls.TlsParameters(
                tls_minimum_protocol_version=tls.TlsParametersTlsProtocol.TLSv1_2
            ),
            alpn_protocols=_ALPN_PROTOCOLS,
            tls_certificates=[
                tls.TlsCertificate(
                    certificate_chain=core.DataSource(
                        filename=str(public_tls.cert_file)
                    ),
                    private_key=core.DataSource(filename=str(public_tls.key_file)),
                )
            ],
        )
    )
    return core.TransportSocket(
        name="envoy.transport_sockets.tls", typed_config=protobuf.Any.pack(context)
    )

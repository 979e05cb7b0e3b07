"""Google's gRPC hosts on loopback, for clients that dial ``*.googleapis.com:443`` themselves.

Some gRPC clients take no endpoint from the kit: the Vertex AI model mirror builds its
``ModelServiceClient`` for ``REGION-aiplatform.googleapis.com``, and the Vertex SDK asks Resource
Manager who owns a pipeline-root bucket. gRPC honours ``grpc_proxy``: the twin's proxy (an HTTP
``CONNECT`` proxy on loopback) sends the hosts it serves to a gRPC server with a certificate of the
twin's CA for ``*.googleapis.com`` (trusted through ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``, see
:func:`trusted_ca`) and
refuses every other host, so nothing leaves the machine. The server answers:

- ``google.cloud.aiplatform.v1.ModelService/UploadModel``, through :class:`FakeVertex` (the same
  models and recorded requests as its REST API);
- ``google.cloud.resourcemanager.v3.Projects/GetProject``: the project and its number.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import socket
import tempfile
import threading
from concurrent import futures
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc

from tests.cloud_twin.sockets import TcpServer
from tests.cloud_twin.tls import CertificateAuthority
from tests.cloud_twin.vertex import FakeVertex

PROJECT_NUMBER = "123456789012"
"""The number Resource Manager gives every project."""
ROOTS_VARIABLE = "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"


@functools.cache
def trusted_ca() -> tuple[CertificateAuthority, Path]:
    """This process's CA of the gRPC hosts, and the roots file that trusts it alone.

    gRPC reads its roots once per process, at the first secure channel: ``tests/conftest.py``
    calls :func:`trust_twin_roots` before any test runs, so no channel made earlier fixes them.
    """
    ca = CertificateAuthority()
    roots = Path(tempfile.mkdtemp(prefix="googleapis-ca-")) / "roots.pem"
    roots.write_text(ca.pem, encoding="utf-8")
    return ca, roots


def trust_twin_roots() -> None:
    """Make gRPC trust the twin's CA, and nothing else: real Google hosts cannot be reached."""
    os.environ[ROOTS_VARIABLE] = str(trusted_ca()[1])


class GoogleApis:
    """The gRPC server of the hosts the twin serves, and the proxy in front of it."""

    def __init__(self, vertex: FakeVertex, directory: Path) -> None:
        self.vertex = vertex
        self.ca, self.roots_file = trusted_ca()
        cert_file, key_file = self.ca.server_files(directory, dns_names=("*.googleapis.com",))
        credentials = grpc.ssl_server_credentials([(key_file.read_bytes(), cert_file.read_bytes())])
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers([_Handlers(self)])
        self.port = self.server.add_secure_port("127.0.0.1:0", credentials)
        self._proxy = TcpServer(("127.0.0.1", 0), self._tunnel)

    @property
    def proxy_url(self) -> str:
        """``http://127.0.0.1:PORT``, the value of ``grpc_proxy``."""
        return f"http://127.0.0.1:{self._proxy.port}"

    def start(self) -> GoogleApis:
        """Serve gRPC and the proxy."""
        self.server.start()
        self._proxy.start()
        return self

    def stop(self) -> None:
        """Stop both."""
        self._proxy.stop()
        self.server.stop(grace=None)

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = client.recv(4096)
                if not chunk:
                    return
                request += chunk
            head, _, rest = request.partition(b"\r\n\r\n")
            method, target, *_ = head.split(b"\r\n")[0].decode().split(" ")
            host = target.rsplit(":", 1)[0]
            if method != "CONNECT" or not host.endswith(".googleapis.com"):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            with socket.create_connection(("127.0.0.1", self.port)) as server:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                server.sendall(rest)
                pump = threading.Thread(target=_copy, args=(server, client), daemon=True)
                pump.start()
                _copy(client, server)
                pump.join()


def _copy(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


_GRPC_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _Handlers(grpc.GenericRpcHandler):
    def __init__(self, apis: GoogleApis) -> None:
        self.apis = apis

    @functools.cached_property
    def methods(self) -> dict[str, tuple[Any, Any, Any]]:
        # The Google API packages take seconds to import: only when a client first calls.
        from google.cloud import aiplatform_v1, resourcemanager_v3
        from google.longrunning import operations_pb2

        return {
            "/google.cloud.aiplatform.v1.ModelService/UploadModel": (
                aiplatform_v1.UploadModelRequest.deserialize,
                self.upload_model,
                operations_pb2.Operation.SerializeToString,
            ),
            **{
                f"/google.cloud.aiplatform.v1.{service}/{method}": (
                    request.deserialize,
                    self._rest_answer(route, response),
                    response.serialize,
                )
                for service, method, request, response, route in (
                    (
                        "PipelineService",
                        "CreatePipelineJob",
                        aiplatform_v1.CreatePipelineJobRequest,
                        aiplatform_v1.PipelineJob,
                        "POST {parent}/pipelineJobs?pipelineJobId={pipeline_job_id}",
                    ),
                    (
                        "PipelineService",
                        "GetPipelineJob",
                        aiplatform_v1.GetPipelineJobRequest,
                        aiplatform_v1.PipelineJob,
                        "GET {name}",
                    ),
                    (
                        "PipelineService",
                        "ListPipelineJobs",
                        aiplatform_v1.ListPipelineJobsRequest,
                        aiplatform_v1.ListPipelineJobsResponse,
                        "GET {parent}/pipelineJobs?filter={filter}",
                    ),
                    (
                        "ScheduleService",
                        "CreateSchedule",
                        aiplatform_v1.CreateScheduleRequest,
                        aiplatform_v1.Schedule,
                        "POST {parent}/schedules",
                    ),
                )
            },
            "/google.cloud.resourcemanager.v3.Projects/GetProject": (
                resourcemanager_v3.GetProjectRequest.deserialize,
                self.get_project,
                resourcemanager_v3.Project.serialize,
            ),
        }

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        found = self.methods.get(handler_call_details.method)
        if found is None:
            return None
        deserialize, answer, serialize = found
        return grpc.unary_unary_rpc_method_handler(
            answer, request_deserializer=deserialize, response_serializer=serialize
        )

    def _rest_answer(self, route: str, response_class: Any) -> Any:
        """A gRPC method answered by the REST fake: ``route`` is its REST request, fields in braces."""

        def answer(request: Any, context: grpc.ServicerContext) -> Any:
            fields = json.loads(type(request).to_json(request, preserving_proto_field_name=True))
            method, _, template = route.partition(" ")
            path = "/v1/" + template.format_map(collections.defaultdict(str, fields))
            # The body is the request's one message field (pipeline_job, schedule), if any.
            field = next((k for k, v in fields.items() if isinstance(v, dict)), None)
            camel = json.loads(type(request).to_json(request))
            body = json.dumps(camel[_camel(field)]).encode() if field else b""
            status, reply = self.apis.vertex.route(method, path, {}, body)
            if status != 200:
                context.abort(
                    _GRPC_STATUS.get(status, grpc.StatusCode.UNKNOWN), reply["error"]["message"]
                )
            return response_class.from_json(json.dumps(reply), ignore_unknown_fields=True)

        return answer

    def upload_model(self, request: Any, context: grpc.ServicerContext) -> Any:
        # Recorded as the REST transport sends it: fields left unset are absent, not empty.
        body = json.loads(
            type(request).to_json(request, always_print_fields_with_no_presence=False)
        )
        parent = body.pop("parent")
        vertex = self.apis.vertex
        with vertex.lock:
            vertex.requests.append(("POST", f"grpc:/v1/{parent}/models:upload", body))
            if vertex.refusal:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, vertex.refusal)
            _, operation = vertex.upload_model(parent, body)
        from google.cloud import aiplatform_v1
        from google.longrunning import operations_pb2

        response = aiplatform_v1.UploadModelResponse(
            model=operation["response"]["model"],
            model_version_id=operation["response"]["modelVersionId"],
        )
        done = operations_pb2.Operation(name=operation["name"], done=True)
        done.response.Pack(aiplatform_v1.UploadModelResponse.pb(response))
        return done

    def get_project(self, request: Any, context: grpc.ServicerContext) -> Any:
        project = urlsplit(request.name).path.removeprefix("projects/")
        from google.cloud import resourcemanager_v3

        return resourcemanager_v3.Project(
            name=f"projects/{PROJECT_NUMBER}", project_id=project, display_name=project
        )

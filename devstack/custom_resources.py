"""CloudFormation custom resources, run the way CloudFormation runs them: the ServiceToken's
function is invoked with a `Create` request whose `ResponseURL` is a local one-shot HTTP
endpoint, and the stack goes on once the function has PUT its answer there (its `Data` become
the resource's attributes for `!GetAtt`, its `PhysicalResourceId` its `!Ref`)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.runtime import FunctionRuntime
from devstack.template import Template, TemplateError

log = logging.getLogger("devstack")


def is_custom(resource_type: str) -> bool:
    return resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource"


class _Answers(ThreadingHTTPServer):
    answers: dict[str, dict[str, Any]]


class _Receiver(BaseHTTPRequestHandler):
    server: _Answers

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.answers[self.path.strip("/")] = json.loads(body or b"{}")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def create_custom_resources(template: Template, runtime: FunctionRuntime) -> None:
    custom = {key: value for key, value in template.resources.items() if is_custom(str(value.get("Type")))}
    if not custom:
        return
    server = _Answers(("127.0.0.1", 0), _Receiver)
    server.answers = {}
    thread = threading.Thread(target=server.serve_forever, name="custom-resources", daemon=True)
    thread.start()
    try:
        by_arn = {function.arn: function for function in runtime.functions.values()}
        for logical_id, resource in custom.items():
            properties = template.resolve(resource.get("Properties") or {})
            token = str(properties.get("ServiceToken"))
            function = by_arn.get(token)
            if function is None:
                raise TemplateError(f"{logical_id}: ServiceToken {token} is not a function of this template")
            request_id = str(uuid.uuid4())
            event = {
                "RequestType": "Create",
                "ServiceToken": token,
                "ResponseURL": f"http://127.0.0.1:{server.server_address[1]}/{request_id}",
                "StackId": f"arn:aws:cloudformation:{template.region}:123456789012:stack/{template.stack_name}/local",
                "RequestId": request_id,
                "LogicalResourceId": logical_id,
                "ResourceType": resource["Type"],
                "ResourceProperties": properties,
            }
            runtime.invoke(function, event, "cloudformation")
            answer = server.answers.get(request_id)
            if answer is None or answer.get("Status") != "SUCCESS":
                reason = (answer or {}).get("Reason", "the function never answered")
                raise TemplateError(f"{logical_id}: custom resource failed: {reason}")
            template.refs[logical_id] = str(answer.get("PhysicalResourceId"))
            template.attributes.setdefault(logical_id, {}).update(answer.get("Data") or {})
            log.info("custom resource %s (%s)", logical_id, resource["Type"])
    finally:
        server.shutdown()
        server.server_close()

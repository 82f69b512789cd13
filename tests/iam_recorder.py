"""Records which AWS operations each Lambda function of the app makes while the tests drive it.

A botocore ``before-parameter-build`` hook sees every API call and every presigned URL or POST (the
signer's role needs the permission the URL exercises). The Lambda function a call belongs to is found
by walking the stack to the first frame of a registered handler (routes -> ``api_handler``, as
``chalice package`` bundles them; authorizers and event handlers -> their own name). Work a handler
hands to a thread pool inherits the handler of the code that submitted it.
"""

from __future__ import annotations

import sys
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType
from typing import Any
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
APP_CODE = (str(ROOT / "chalicelib") + "/", str(ROOT / "app.py"))
TEST_CODE = str(ROOT / "tests") + "/"
API_HANDLER = "api_handler"  # the one Lambda function `chalice package` makes for every route
ACCOUNT = "123456789012"
REGION = "us-east-1"  # the tests' region (tests/conftest.py)
current_test: str | None = None  # the node id of the test running (tests/session_records.py sets it)

# botocore service name -> IAM service prefix, where they differ
_PREFIX = {"sesv2": "ses"}
# operations whose IAM action has another name (or that need more than one action)
_ACTIONS: dict[str, tuple[str, ...]] = {
    "s3:HeadObject": ("s3:GetObject",),
    "s3:CopyObject": ("s3:GetObject", "s3:PutObject"),
    "s3:ListObjectsV2": ("s3:ListBucket",),
    "s3:HeadBucket": ("s3:ListBucket",),
    "s3:CreateMultipartUpload": ("s3:PutObject",),
    "s3:UploadPart": ("s3:PutObject",),
    "s3:CompleteMultipartUpload": ("s3:PutObject",),
    "s3:ListParts": ("s3:ListMultipartUploadParts",),
    "s3:GetObjectAttributes": ("s3:GetObject", "s3:GetObjectAttributes"),
    "sqs:SendMessageBatch": ("sqs:SendMessage",),
    "sqs:DeleteMessageBatch": ("sqs:DeleteMessage",),
    "sqs:ChangeMessageVisibilityBatch": ("sqs:ChangeMessageVisibility",),
    "dynamodb:DescribeTable": ("dynamodb:DescribeTable",),
}


def _not_simulated(cache: Any) -> bool:
    """A quota cache of the scale model (bench/scale) reads its simulated SES, which stands for no AWS call: its
    reads run in greenlets, where no handler or test is on the stack, and would read as escaped calls."""
    owner = getattr(getattr(cache, "_fetch", None), "__self__", None)
    return not type(owner).__module__.startswith("bench.")


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    resource: str
    operation: str  # botocore's name, for messages


def iam_actions(service: str, operation: str) -> tuple[str, ...]:
    name = f"{_PREFIX.get(service, service)}:{operation}"
    return _ACTIONS.get(name, (name,))


def _dynamodb(region: str, params: dict[str, Any]) -> list[str]:
    tables: list[tuple[str, str | None]] = []
    if "TableName" in params:
        tables.append((params["TableName"], params.get("IndexName")))
    tables += [(t, None) for t in params.get("RequestItems", {})]
    arns = []
    for table, index in tables:
        arn = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"
        arns.append(f"{arn}/index/{index}" if index else arn)
    return arns


def _copy_source(src: Any) -> str:
    """``bucket/key`` of a CopySource, given as a dict or as botocore's (possibly quoted) string."""
    if isinstance(src, dict):
        return f"{src['Bucket']}/{src['Key']}"
    return unquote(str(src).split("?versionId=", 1)[0]).lstrip("/")


# A call naming a version is authorised as the version action (S3 user guide, "Policy actions for Amazon S3"):
# s3:GetObject does not let a role read a given version, nor s3:DeleteObject remove one.
_VERSIONED = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion"}


def _copy_source_versioned(src: Any) -> bool:
    return bool(src.get("VersionId")) if isinstance(src, dict) else "?versionId=" in str(src)


def _s3(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    bucket = f"arn:aws:s3:::{params.get('Bucket', '')}"
    if operation in ("CopyObject", "UploadPartCopy"):  # reads the source, writes the target
        read = "s3:GetObjectVersion" if _copy_source_versioned(params["CopySource"]) else "s3:GetObject"
        return [
            (read, f"arn:aws:s3:::{_copy_source(params['CopySource'])}"),
            ("s3:PutObject", f"{bucket}/{params['Key']}"),
        ]
    arn = f"{bucket}/{params['Key']}" if "Key" in params else bucket
    actions = iam_actions("s3", operation)
    if params.get("VersionId"):
        actions = tuple(_VERSIONED.get(a, a) for a in actions)
    return [(action, arn) for action in actions]


def _arns(service: str, region: str, params: dict[str, Any]) -> list[str]:
    if service == "dynamodb":
        return _dynamodb(region, params)
    if service == "sqs":
        name = params.get("QueueName") or urlparse(params.get("QueueUrl", "")).path.rsplit("/", 1)[-1]
        return [f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"]
    if service == "secretsmanager":
        secret = params.get("SecretId", "")
        return [
            secret if secret.startswith("arn:") else f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{secret}-AbCdEf"
        ]
    if service == "sesv2" and "FromEmailAddress" in params:
        domain = params["FromEmailAddress"].rsplit("@", 1)[-1].rstrip(">")
        arns = [f"arn:aws:ses:{region}:{ACCOUNT}:identity/{domain}"]
        if params.get("ConfigurationSetName"):
            arns.append(f"arn:aws:ses:{region}:{ACCOUNT}:configuration-set/{params['ConfigurationSetName']}")
        return arns
    if service == "sns" and "TopicArn" in params:
        return [params["TopicArn"]]
    if service == "ssm" and "Name" in params:
        return [f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/{params['Name'].lstrip('/')}"]
    if service == "scheduler" and "Name" in params:
        return [f"arn:aws:scheduler:{region}:{ACCOUNT}:schedule/{params.get('GroupName', 'default')}/{params['Name']}"]
    if service == "lambda" and "FunctionName" in params:
        return [f"arn:aws:lambda:{region}:{ACCOUNT}:function:{params['FunctionName']}"]
    return ["*"]  # actions without resource-level permissions (ses:GetAccount); teach this function the others


# IAM authorises each part of a DynamoDB transaction as the single-item action it is ("Using IAM with
# DynamoDB transactions", DynamoDB developer guide); there is no grant for the transaction as a whole.
_TRANSACT_PARTS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                   "ConditionCheck": "dynamodb:ConditionCheckItem"}  # fmt: skip


def accesses(service: str, operation: str, region: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (IAM action, ARN) pairs a call needs, as IAM would evaluate them (a secret's ARN gets a stand-in
    random suffix, as Secrets Manager adds one)."""
    if service == "s3":
        return _s3(operation, params)
    if service == "dynamodb" and operation == "TransactWriteItems":
        return [
            (_TRANSACT_PARTS[kind], f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{part['TableName']}")
            for item in params.get("TransactItems", [])
            for kind, part in item.items()
        ]
    return [(action, arn) for action in iam_actions(service, operation) for arn in _arns(service, region, params)]


def _innermost(obj: Any) -> list[Any]:
    """The function objects behind a registered handler, outermost first (decorators, Chalice wrappers)."""
    found, seen = [], set()
    while obj is not None and id(obj) not in seen:
        seen.add(id(obj))
        if callable(obj) and hasattr(obj, "__code__"):
            found.append(obj)
        obj = getattr(obj, "__wrapped__", None) or getattr(obj, "func", None) or getattr(obj, "view_function", None)
    return found


def function_codes(chalice_app: Any) -> dict[CodeType, str]:
    """Code object -> Lambda function name, for every handler the app registers."""
    route_views = {entry.view_name for path in chalice_app.routes.values() for entry in path.values()}
    owners: dict[CodeType, set[str]] = defaultdict(set)
    for name, handler in chalice_app.handler_map.items():
        function = API_HANDLER if name in route_views else name
        for fn in _innermost(handler):
            owners[fn.__code__].add(function)
    # a wrapper shared by several functions (e.g. ``http.handled``) says nothing: the inner code decides
    return {code: next(iter(names)) for code, names in owners.items() if len(names) == 1}


class Recorder:
    def __init__(self, chalice_app: Any) -> None:
        self.codes = function_codes(chalice_app)
        self.functions = set(self.codes.values())
        self.calls: set[Call] = set()
        self.tests: dict[Call, set[str]] = {}  # each call -> the tests that made it
        self.unattributed: set[str] = set()
        self.escaped: set[str] = set()
        self._inherited = threading.local()
        self._lock = threading.Lock()

    def current_function(self, frame: FrameType | None = None) -> str | None:
        frame = frame or sys._getframe(1)
        while frame is not None:
            name = self.codes.get(frame.f_code)
            if name is not None:
                return name
            frame = frame.f_back
        return getattr(self._inherited, "function", None)

    def by_test(self, frame: FrameType | None) -> bool:
        """Whether a test's code leads to ``frame``: on the stack, or handing this thread its work."""
        return (
            _app_frame_without_a_test(frame) is None
            and _has_test_frame(frame)
            or bool(getattr(self._inherited, "by_test", False))
        )

    def _presigned_post_key(self, frame: FrameType | None) -> str | None:
        while frame is not None:
            if frame.f_code.co_name == "generate_presigned_post" and "Key" in frame.f_locals:
                return str(frame.f_locals["Key"])
            frame = frame.f_back
        return None

    def _record(self, frame: FrameType, service: str, operation: str, params: dict[str, Any]) -> None:
        function = self.current_function(frame)
        if function is None:
            self.unattributed.add(f"{service}:{operation}")
            origin = _app_frame_without_a_test(frame)
            if origin and not getattr(self._inherited, "by_test", False):
                self.escaped.add(f"{service}.{operation} from {origin}")
            return
        with self._lock:
            for action, arn in accesses(service, operation, REGION, params):
                call = Call(function, action, arn, f"{service}.{operation}")
                self.calls.add(call)
                if current_test is not None:
                    self.tests.setdefault(call, set()).add(current_test)

    def on_call(self, params: dict[str, Any], model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
        frame = sys._getframe(1)
        service, operation = model.service_model.service_name, model.name
        if service == "s3" and operation == "CreateBucket" and (context or {}).get("is_presign_request"):
            # generate_presigned_post borrows CreateBucket's model; the POST it signs is a PutObject
            operation = "PutObject"
            params = {**params, "Key": self._presigned_post_key(frame) or "*"}
        self._record(frame, service, operation, params)

    def _count_cached(self, cls: Any, method: str, call: Any, applies: Any = lambda obj: True) -> None:
        """Count a cached read as the AWS call it stands for: each Lambda function has containers of its
        own, so a value another function fetched in this test process would be fetched again there
        (``applies``: whether this cache stands for AWS at all)."""
        original = getattr(cls, method)
        recorder = self

        def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
            if applies(obj):
                recorder._record(sys._getframe(1), *call(obj, *args, **kwargs))
            return original(obj, *args, **kwargs)

        setattr(cls, method, wrapper)

    def install(self) -> None:
        import botocore.session

        recorder = self
        original_create_client = botocore.session.Session.create_client

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original_create_client(session, *args, **kwargs)
            client.meta.events.register("before-parameter-build.*.*", recorder.on_call)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]

        original_submit = ThreadPoolExecutor.submit

        def submit(pool: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            owner, by_test = recorder.current_function(sys._getframe(1)), recorder.by_test(sys._getframe(1))

            def run() -> Any:
                recorder._inherited.function, recorder._inherited.by_test = owner, by_test
                try:
                    return fn(*args, **kwargs)
                finally:
                    recorder._inherited.function, recorder._inherited.by_test = None, False

            return original_submit(pool, run)

        ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]

        original_start = threading.Thread.start

        def start(thread: threading.Thread) -> None:
            owner, by_test = recorder.current_function(sys._getframe(1)), recorder.by_test(sys._getframe(1))
            run = thread.run

            def owned_run() -> None:
                recorder._inherited.function, recorder._inherited.by_test = owner, by_test
                try:
                    run()
                finally:
                    recorder._inherited.function, recorder._inherited.by_test = None, False

            thread.run = owned_run  # type: ignore[method-assign]
            original_start(thread)

        threading.Thread.start = start  # type: ignore[method-assign]

        from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

        from chalicelib.adapters.queues import Queues
        from chalicelib.domain.mail.pacing import QuotaCache

        def first(args: tuple[Any, ...], kwargs: dict[str, Any], key: str) -> Any:
            return args[0] if args else kwargs[key]

        self._count_cached(Queues, "url", lambda q, *a, **k: ("sqs", "GetQueueUrl", {"QueueName": first(a, k, "name")}))
        self._count_cached(
            SecretsProvider,
            "get",
            lambda p, *a, **k: ("secretsmanager", "GetSecretValue", {"SecretId": first(a, k, "name")}),
        )
        self._count_cached(
            SSMProvider, "get", lambda p, *a, **k: ("ssm", "GetParameter", {"Name": first(a, k, "name")})
        )
        self._count_cached(QuotaCache, "get", lambda c, *a, **k: ("sesv2", "GetAccount", {}), applies=_not_simulated)


def _has_test_frame(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith(TEST_CODE) and frame.f_code.co_filename != __file__:
            return True
        frame = frame.f_back
    return False


def _app_frame_without_a_test(frame: FrameType | None = None) -> str | None:
    """``file:line`` of the app's outermost frame when no test's code is on the stack: the app called AWS
    on its own, outside any handler the recorder knows (a test calling the domain directly does not count;
    this module's own wrappers are no test)."""
    frame = frame or sys._getframe(1)
    origin = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(TEST_CODE) and filename != __file__:
            return None
        if filename.startswith(APP_CODE):
            origin = f"{Path(filename).relative_to(ROOT)}:{frame.f_lineno}"
        frame = frame.f_back
    return origin


_recorder: Recorder | None = None


def install(chalice_app: Any) -> Recorder:
    """Install once per session, before the app's clients are made (clients made earlier go unseen)."""
    global _recorder
    if _recorder is None:
        _recorder = Recorder(chalice_app)
        _recorder.install()
    return _recorder


def get() -> Recorder | None:
    return _recorder

from vwmp_proto.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("host_id", "plugins", "step_types", "templates")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    STEP_TYPES_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    plugins: _containers.RepeatedScalarFieldContainer[str]
    step_types: _containers.RepeatedCompositeFieldContainer[_common_pb2.StepType]
    templates: _containers.RepeatedCompositeFieldContainer[_common_pb2.Template]
    def __init__(self, host_id: _Optional[str] = ..., plugins: _Optional[_Iterable[str]] = ..., step_types: _Optional[_Iterable[_Union[_common_pb2.StepType, _Mapping]]] = ..., templates: _Optional[_Iterable[_Union[_common_pb2.Template, _Mapping]]] = ...) -> None: ...

class ValidateConfigRequest(_message.Message):
    __slots__ = ("type", "config_json")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    type: str
    config_json: str
    def __init__(self, type: _Optional[str] = ..., config_json: _Optional[str] = ...) -> None: ...

class ValidateConfigResponse(_message.Message):
    __slots__ = ("errors",)
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ValidationError]
    def __init__(self, errors: _Optional[_Iterable[_Union[_common_pb2.ValidationError, _Mapping]]] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("type", "config_json", "run_id", "step_id", "attempt", "idempotency_key", "dry_run", "platform_config_json", "redact")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    REDACT_FIELD_NUMBER: _ClassVar[int]
    type: str
    config_json: str
    run_id: str
    step_id: str
    attempt: int
    idempotency_key: str
    dry_run: bool
    platform_config_json: str
    redact: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type: _Optional[str] = ..., config_json: _Optional[str] = ..., run_id: _Optional[str] = ..., step_id: _Optional[str] = ..., attempt: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., dry_run: _Optional[bool] = ..., platform_config_json: _Optional[str] = ..., redact: _Optional[_Iterable[str]] = ...) -> None: ...

class LogRecord(_message.Message):
    __slots__ = ("stream", "line")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    stream: str
    line: str
    def __init__(self, stream: _Optional[str] = ..., line: _Optional[str] = ...) -> None: ...

class StepResult(_message.Message):
    __slots__ = ("outputs_json",)
    OUTPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    outputs_json: str
    def __init__(self, outputs_json: _Optional[str] = ...) -> None: ...

class StepFailure(_message.Message):
    __slots__ = ("kind", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    message: str
    def __init__(self, kind: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("log", "result", "failure")
    LOG_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    log: LogRecord
    result: StepResult
    failure: StepFailure
    def __init__(self, log: _Optional[_Union[LogRecord, _Mapping]] = ..., result: _Optional[_Union[StepResult, _Mapping]] = ..., failure: _Optional[_Union[StepFailure, _Mapping]] = ...) -> None: ...

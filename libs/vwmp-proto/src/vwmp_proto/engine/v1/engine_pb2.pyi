from vwmp_proto.common.v1 import common_pb2 as _common_pb2
from vwmp_proto.storage.v1 import storage_pb2 as _storage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ValidateWorkflowRequest(_message.Message):
    __slots__ = ("definition_json",)
    DEFINITION_JSON_FIELD_NUMBER: _ClassVar[int]
    definition_json: str
    def __init__(self, definition_json: _Optional[str] = ...) -> None: ...

class ValidateWorkflowResponse(_message.Message):
    __slots__ = ("valid", "errors")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ValidationError]
    def __init__(self, valid: _Optional[bool] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ValidationError, _Mapping]]] = ...) -> None: ...

class ListStepTypesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStepTypesResponse(_message.Message):
    __slots__ = ("step_types",)
    STEP_TYPES_FIELD_NUMBER: _ClassVar[int]
    step_types: _containers.RepeatedCompositeFieldContainer[_common_pb2.StepType]
    def __init__(self, step_types: _Optional[_Iterable[_Union[_common_pb2.StepType, _Mapping]]] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates",)
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[_common_pb2.Template]
    def __init__(self, templates: _Optional[_Iterable[_Union[_common_pb2.Template, _Mapping]]] = ...) -> None: ...

class StartRunRequest(_message.Message):
    __slots__ = ("workflow", "version", "parameters_json", "dry_run", "actor")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    workflow: str
    version: int
    parameters_json: str
    dry_run: bool
    actor: str
    def __init__(self, workflow: _Optional[str] = ..., version: _Optional[int] = ..., parameters_json: _Optional[str] = ..., dry_run: _Optional[bool] = ..., actor: _Optional[str] = ...) -> None: ...

class StartRunResponse(_message.Message):
    __slots__ = ("run", "errors")
    RUN_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    run: _storage_pb2.Run
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ValidationError]
    def __init__(self, run: _Optional[_Union[_storage_pb2.Run, _Mapping]] = ..., errors: _Optional[_Iterable[_Union[_common_pb2.ValidationError, _Mapping]]] = ...) -> None: ...

class ControlRunRequest(_message.Message):
    __slots__ = ("run_id", "action", "actor", "step_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    action: str
    actor: str
    step_id: str
    def __init__(self, run_id: _Optional[str] = ..., action: _Optional[str] = ..., actor: _Optional[str] = ..., step_id: _Optional[str] = ...) -> None: ...

class DecideApprovalRequest(_message.Message):
    __slots__ = ("run_id", "step_id", "approve", "actor", "comment")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    step_id: str
    approve: bool
    actor: str
    comment: str
    def __init__(self, run_id: _Optional[str] = ..., step_id: _Optional[str] = ..., approve: _Optional[bool] = ..., actor: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Event(_message.Message):
    __slots__ = ("seq", "run_id", "type", "step_id", "attempt", "at", "data_json")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    seq: int
    run_id: str
    type: str
    step_id: str
    attempt: int
    at: str
    data_json: str
    def __init__(self, seq: _Optional[int] = ..., run_id: _Optional[str] = ..., type: _Optional[str] = ..., step_id: _Optional[str] = ..., attempt: _Optional[int] = ..., at: _Optional[str] = ..., data_json: _Optional[str] = ...) -> None: ...

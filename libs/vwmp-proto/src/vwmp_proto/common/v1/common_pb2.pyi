from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ValidationError(_message.Message):
    __slots__ = ("pointer", "message")
    POINTER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    pointer: str
    message: str
    def __init__(self, pointer: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class StepType(_message.Message):
    __slots__ = ("type", "plugin", "title", "description", "config_schema_json", "outputs_schema_json")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    type: str
    plugin: str
    title: str
    description: str
    config_schema_json: str
    outputs_schema_json: str
    def __init__(self, type: _Optional[str] = ..., plugin: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., config_schema_json: _Optional[str] = ..., outputs_schema_json: _Optional[str] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("name", "plugin", "workflow_type", "title", "description", "definition_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_TYPE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    plugin: str
    workflow_type: str
    title: str
    description: str
    definition_json: str
    def __init__(self, name: _Optional[str] = ..., plugin: _Optional[str] = ..., workflow_type: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., definition_json: _Optional[str] = ...) -> None: ...

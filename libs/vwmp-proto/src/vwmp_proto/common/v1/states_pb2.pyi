from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATE_UNSPECIFIED: _ClassVar[RunState]
    RUN_STATE_QUEUED: _ClassVar[RunState]
    RUN_STATE_RUNNING: _ClassVar[RunState]
    RUN_STATE_PAUSED: _ClassVar[RunState]
    RUN_STATE_SUCCEEDED: _ClassVar[RunState]
    RUN_STATE_SUCCEEDED_WITH_WARNINGS: _ClassVar[RunState]
    RUN_STATE_FAILED: _ClassVar[RunState]
    RUN_STATE_CANCELLED: _ClassVar[RunState]

class StepState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_STATE_UNSPECIFIED: _ClassVar[StepState]
    STEP_STATE_PENDING: _ClassVar[StepState]
    STEP_STATE_RUNNING: _ClassVar[StepState]
    STEP_STATE_RETRYING: _ClassVar[StepState]
    STEP_STATE_AWAITING_APPROVAL: _ClassVar[StepState]
    STEP_STATE_SUCCEEDED: _ClassVar[StepState]
    STEP_STATE_FAILED: _ClassVar[StepState]
    STEP_STATE_SKIPPED: _ClassVar[StepState]
    STEP_STATE_CANCELLED: _ClassVar[StepState]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_RUN_QUEUED: _ClassVar[EventType]
    EVENT_TYPE_RUN_STARTED: _ClassVar[EventType]
    EVENT_TYPE_RUN_PAUSED: _ClassVar[EventType]
    EVENT_TYPE_RUN_RESUMED: _ClassVar[EventType]
    EVENT_TYPE_RUN_SUCCEEDED: _ClassVar[EventType]
    EVENT_TYPE_RUN_SUCCEEDED_WITH_WARNINGS: _ClassVar[EventType]
    EVENT_TYPE_RUN_FAILED: _ClassVar[EventType]
    EVENT_TYPE_RUN_CANCELLED: _ClassVar[EventType]
    EVENT_TYPE_STEP_STARTED: _ClassVar[EventType]
    EVENT_TYPE_STEP_LOG: _ClassVar[EventType]
    EVENT_TYPE_STEP_RETRYING: _ClassVar[EventType]
    EVENT_TYPE_STEP_AWAITING_APPROVAL: _ClassVar[EventType]
    EVENT_TYPE_STEP_SUCCEEDED: _ClassVar[EventType]
    EVENT_TYPE_STEP_FAILED: _ClassVar[EventType]
    EVENT_TYPE_STEP_SKIPPED: _ClassVar[EventType]
    EVENT_TYPE_STEP_CANCELLED: _ClassVar[EventType]

class ControlAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTROL_ACTION_UNSPECIFIED: _ClassVar[ControlAction]
    CONTROL_ACTION_CANCEL: _ClassVar[ControlAction]
    CONTROL_ACTION_PAUSE: _ClassVar[ControlAction]
    CONTROL_ACTION_RESUME: _ClassVar[ControlAction]
    CONTROL_ACTION_RETRY: _ClassVar[ControlAction]
    CONTROL_ACTION_RERUN: _ClassVar[ControlAction]
    CONTROL_ACTION_APPROVE: _ClassVar[ControlAction]
    CONTROL_ACTION_REJECT: _ClassVar[ControlAction]
RUN_STATE_UNSPECIFIED: RunState
RUN_STATE_QUEUED: RunState
RUN_STATE_RUNNING: RunState
RUN_STATE_PAUSED: RunState
RUN_STATE_SUCCEEDED: RunState
RUN_STATE_SUCCEEDED_WITH_WARNINGS: RunState
RUN_STATE_FAILED: RunState
RUN_STATE_CANCELLED: RunState
STEP_STATE_UNSPECIFIED: StepState
STEP_STATE_PENDING: StepState
STEP_STATE_RUNNING: StepState
STEP_STATE_RETRYING: StepState
STEP_STATE_AWAITING_APPROVAL: StepState
STEP_STATE_SUCCEEDED: StepState
STEP_STATE_FAILED: StepState
STEP_STATE_SKIPPED: StepState
STEP_STATE_CANCELLED: StepState
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_RUN_QUEUED: EventType
EVENT_TYPE_RUN_STARTED: EventType
EVENT_TYPE_RUN_PAUSED: EventType
EVENT_TYPE_RUN_RESUMED: EventType
EVENT_TYPE_RUN_SUCCEEDED: EventType
EVENT_TYPE_RUN_SUCCEEDED_WITH_WARNINGS: EventType
EVENT_TYPE_RUN_FAILED: EventType
EVENT_TYPE_RUN_CANCELLED: EventType
EVENT_TYPE_STEP_STARTED: EventType
EVENT_TYPE_STEP_LOG: EventType
EVENT_TYPE_STEP_RETRYING: EventType
EVENT_TYPE_STEP_AWAITING_APPROVAL: EventType
EVENT_TYPE_STEP_SUCCEEDED: EventType
EVENT_TYPE_STEP_FAILED: EventType
EVENT_TYPE_STEP_SKIPPED: EventType
EVENT_TYPE_STEP_CANCELLED: EventType
CONTROL_ACTION_UNSPECIFIED: ControlAction
CONTROL_ACTION_CANCEL: ControlAction
CONTROL_ACTION_PAUSE: ControlAction
CONTROL_ACTION_RESUME: ControlAction
CONTROL_ACTION_RETRY: ControlAction
CONTROL_ACTION_RERUN: ControlAction
CONTROL_ACTION_APPROVE: ControlAction
CONTROL_ACTION_REJECT: ControlAction

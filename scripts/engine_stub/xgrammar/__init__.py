"""Stand-in for xgrammar on the machine that ran docs/engines-measured.md (structured output,
unused by those runs): StructuralTag is a permissive pydantic model (the servers use it as a
request field's type), any other name a class that takes any arguments."""

from pydantic import BaseModel, ConfigDict


class StructuralTag(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Any:
    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args, self.kwargs = args, kwargs


def __getattr__(name: str) -> type:
    if name.startswith("__"):
        raise AttributeError(name)
    return type(name, (_Any,), {})

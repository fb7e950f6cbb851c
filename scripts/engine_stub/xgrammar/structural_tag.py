"""Stand-in for xgrammar.structural_tag: any name is a class that takes any arguments."""

from xgrammar import _Any


def __getattr__(name: str) -> type:
    if name.startswith("__"):
        raise AttributeError(name)
    return type(name, (_Any,), {})

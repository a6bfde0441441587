import pytest

from pq.errors import TaskDefinitionError, UnknownTaskError
from pq.registry import import_by_name, task_name_of
from taskmods import funcs


def test_module_function_is_named_module_colon_qualname() -> None:
    assert task_name_of(funcs.add) == "taskmods.funcs:add"
    assert import_by_name("taskmods.funcs:add") is funcs.add


def test_lambda_is_refused_with_advice() -> None:
    with pytest.raises(TaskDefinitionError, match=r"lambda.*def"):
        task_name_of(lambda: None)


def test_closure_is_refused_with_advice() -> None:
    def inner() -> None: ...

    with pytest.raises(TaskDefinitionError, match=r"inside another function.*module level"):
        task_name_of(inner)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_colon", "not of the form"),
        ("taskmods.nope:f", "cannot be imported"),
        ("taskmods.funcs:renamed", "has no attribute"),
    ],
)
def test_unknown_names_say_what_is_missing(name: str, message: str) -> None:
    with pytest.raises(UnknownTaskError, match=message):
        import_by_name(name)

"""One exception tree: every error stylecloak defines lives in errors.py and in the wire's table."""

from __future__ import annotations

import importlib
import pkgutil
import warnings

from stylecloak.errors import ERRORS_BY_CODE, StylecloakError
from stylecloak.wire import ERRORS, error_from_dict


def _every_module() -> list[str]:
    # The folders map onto subpackages (middleware/ → stylecloak.middleware …), so each is walked itself.
    names = []
    for package in ("stylecloak", "stylecloak.middleware", "stylecloak.serve", "stylecloak.adapters"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + ".", onerror=lambda name: None):
            if info.name.endswith("__main__"):
                continue  # runs the CLI
            try:
                with warnings.catch_warnings():  # Ray's own imports warn about their pydantic use
                    warnings.simplefilter("ignore")
                    importlib.import_module(info.name)
            except ImportError:
                continue  # an optional framework that is not installed
            names.append(info.name)
    return names


def _subclasses(cls: type[StylecloakError]) -> set[type[StylecloakError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_is_defined_in_errors_py_and_has_a_code_in_the_table() -> None:
    assert {"stylecloak.adapters.s3.events", "stylecloak.serve.store", "stylecloak.middleware.core"} <= set(
        _every_module()
    )
    ours = {cls for cls in _subclasses(StylecloakError) if cls.__module__.startswith("stylecloak.")}
    assert {cls.__qualname__ for cls in ours if cls.__module__ != "stylecloak.errors"} == set()
    abstract = {"ImageError", "ModelError", "RemoteError", "MissingExtraError"}
    concrete = {cls for cls in ours if cls.__name__ not in abstract}
    assert {cls.__name__ for cls in concrete - set(ERRORS_BY_CODE.values())} == set()
    assert len({cls.code for cls in concrete}) == len(concrete)  # one code, one class
    assert ERRORS == ERRORS_BY_CODE


def test_a_server_error_comes_back_as_its_own_type() -> None:
    for code, cls in ERRORS_BY_CODE.items():
        rebuilt = error_from_dict({"error": code, "message": "m", "detail": "d"}, cls.status)
        assert type(rebuilt) is cls and rebuilt.message == "m"


def test_every_error_pickles_as_itself() -> None:
    """A Serve worker returns errors across the Ray boundary as the exceptions themselves."""
    import pickle

    from stylecloak.errors import MissingExtraError

    errors = [cls("it failed", detail="why") for cls in set(ERRORS_BY_CODE.values())]
    errors.append(MissingExtraError("lpips", "engine"))
    for error in errors:
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and again.to_dict() == error.to_dict() and str(again) == str(error)
    assert pickle.loads(pickle.dumps(errors[-1])).extra == "engine"

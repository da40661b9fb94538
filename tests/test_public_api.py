"""The public surface is ``branchops.__all__``: every name there exists, and nothing else is promised."""

from __future__ import annotations

import branchops
from branchops.errors import BackendError, BranchopsError, CheckFailed, ExitCode, UsageError


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then the rest, each alphabetically."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_all_names_exist_and_are_sorted() -> None:
    missing = [name for name in branchops.__all__ if not hasattr(branchops, name)]
    assert missing == []
    assert len(set(branchops.__all__)) == len(branchops.__all__)
    assert branchops.__all__ == sorted(branchops.__all__, key=_isort_key)


def test_connect_and_lakehouse_are_public() -> None:
    assert {"connect", "Lakehouse", "VersionedCatalog", "BranchopsError"} <= set(branchops.__all__)


def test_every_error_has_an_exit_code_of_1_or_2() -> None:
    def walk(cls: type[BranchopsError]) -> list[type[BranchopsError]]:
        return [cls, *[c for sub in cls.__subclasses__() for c in walk(sub)]]

    classes = walk(BranchopsError)
    assert {CheckFailed, BackendError, UsageError} <= set(classes)
    for cls in classes:
        # a check that said no, or a server that failed: 1; everything the user can fix in the input: 2
        expected = ExitCode.CHECK_FAILED if issubclass(cls, (CheckFailed, BackendError)) else ExitCode.USAGE
        assert cls.exit_code == expected, cls.__name__


def test_error_tree_in_docstring_names_every_error() -> None:
    import branchops.errors as errors

    doc = errors.__doc__ or ""
    for name, obj in vars(errors).items():
        if isinstance(obj, type) and issubclass(obj, BranchopsError):
            assert name in doc, f"{name} missing from the error tree in branchops/errors.py"

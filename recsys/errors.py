"""Every exception recsys raises on purpose. The CLI and the server map these to exit codes and
HTTP."""

from __future__ import annotations


class RecsysError(Exception):
    """Base of all expected errors: the message is meant for the user, on one line."""


class InputError(RecsysError):
    """A bad input file or row: names the file, the row (or line), the column and the reason."""

    def __init__(
        self,
        path: str,
        reason: str,
        row: int | None = None,
        column: str | None = None,
        row_label: str = "line",
    ) -> None:
        self.path, self.reason, self.row, self.column = path, reason, row, column
        where = path if row is None else f"{path}:{row_label} {row}"
        col = f": column '{column}'" if column else ""
        super().__init__(f"{where}{col}: {reason}")


class ConfigError(RecsysError):
    """An unknown key or an out-of-range value in the configuration (of the file `path`, when
    read from one)."""

    def __init__(self, key: str, reason: str, path: str | None = None) -> None:
        self.key, self.reason, self.path = key, reason, path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}config key '{key}': {reason}")


class BundleError(RecsysError):
    """A model bundle that is missing, damaged or cannot be published."""


class NoModelError(RecsysError):
    """No bundle is loaded yet (the server answers 503)."""


class ParameterError(RecsysError):
    """A bad parameter in a request: names the parameter (the server answers 400)."""

    def __init__(self, parameter: str, reason: str) -> None:
        self.parameter = parameter
        self.reason = reason
        super().__init__(f"parameter '{parameter}': {reason}")

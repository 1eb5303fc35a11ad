"""Typed errors raised by the Sinch provider.

Every API error carries the HTTP status and Sinch's own ``code`` and ``message``, parsed leniently
from both error shapes Sinch uses (``{code: 400, status, message, details}`` and
``{code: "404", error, message}``) and from empty bodies. Messages never contain credentials.
"""

from __future__ import annotations

from typing import Any

from airflow.exceptions import AirflowException


class SinchError(AirflowException):
    """Base class of every error raised by this provider."""


class SinchConnectionConfigError(SinchError, ValueError):
    """The Airflow connection (or a hook argument) is incomplete or malformed."""


class SinchArgumentError(SinchError, ValueError):
    """An argument of an operator, sensor, trigger or notifier is invalid; the message names it."""


class FaxSelectionError(SinchArgumentError):
    """An argument of a fax operator or sensor is invalid (unknown direction or status, bad limit or window)."""


class SinchInsecureTransportError(SinchError, ValueError):
    """Credentials would be sent over plain ``http://`` to a host that is not loopback."""


class SinchConnectionError(SinchError):
    """Sinch could not be reached, or the connection broke or timed out (after retries where safe)."""


class SinchAPIError(SinchError):
    """The Sinch API answered with an error status.

    :param message: human-readable summary (never contains credentials).
    :param status_code: the HTTP status code.
    :param sinch_code: Sinch's ``code`` from the error body, as a string, if any.
    :param sinch_message: Sinch's ``message`` from the error body, if any.
    :param details: Sinch's ``details`` list, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        sinch_code: str | None = None,
        sinch_message: str | None = None,
        details: list[Any] | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code  # type: ignore[assignment]  # AirflowException's is an HTTPStatus
        self.sinch_code = sinch_code
        self.sinch_message = sinch_message
        self.details = details or []
        self.method = method
        self.path = path


class SinchAuthError(SinchAPIError):
    """401 or 403: the credentials, the project ID or the key's access are wrong."""


class SinchNotFoundError(SinchAPIError):
    """404: the resource (a fax, its file, a service) does not exist."""


class SinchRateLimitError(SinchAPIError):
    """429 after the configured retries were used up.

    :param waited: seconds spent waiting on retries before giving up.
    """

    def __init__(self, message: str, *, waited: float = 0.0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.waited = waited


class SinchInvalidRequestError(SinchAPIError):
    """400 or 422: Sinch rejected the request; ``field_violations`` says which field and why."""

    @property
    def field_violations(self) -> list[dict[str, str]]:
        """The ``fieldViolations`` entries of every ``details`` item, flattened."""
        out: list[dict[str, str]] = []
        for detail in self.details:
            if isinstance(detail, dict):
                for violation in detail.get("fieldViolations") or []:
                    if isinstance(violation, dict):
                        out.append(
                            {
                                "field": str(violation.get("field", "")),
                                "description": str(violation.get("description", "")),
                            }
                        )
        return out


class SinchServerError(SinchAPIError):
    """5xx from Sinch (after retries, where the request was safe to retry)."""


class SinchResponseError(SinchAPIError):
    """Sinch answered 2xx with a body that is not what the API documents (e.g. invalid JSON)."""


class SinchDownloadError(SinchError):
    """A fax download ended early or did not match its announced size; no file was left behind."""


class SinchFaxFailedError(SinchError):
    """An outbound fax ended in status FAILURE.

    :param failures: the failed faxes' ``id``, ``to``, ``errorType``, ``errorCode``, ``errorMessage``.
    """

    def __init__(self, message: str, failures: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.failures = failures

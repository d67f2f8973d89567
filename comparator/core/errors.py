"""The one error type that front ends turn into a one-line message (exit 2 in the CLI, st.error in the UI)."""


class InputError(ValueError):
    """Bad input or usage: the message is one line, meant for the user as it is."""


def first_line(exc: BaseException, default: str = "", limit: int = 300) -> str:
    """The first line of an exception's message (at most `limit` characters): what a one-line error shows."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else default

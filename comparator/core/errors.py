"""The one error type that front ends turn into a one-line message (exit 2 in the CLI, st.error in the UI)."""


class InputError(ValueError):
    """Bad input or usage: the message is one line, meant for the user as it is."""

"""The project's one exception type, and the exit codes the command line maps it to."""

BAD_INPUT = 2  # the user can fix it: an argument, a file, a checkpoint
FAILED = 1  # a run that failed on its own: it diverged, the disk filled up


class MinrnnError(Exception):
    """A problem the user can act on, with the exit code the command line ends with."""

    def __init__(self, message, exit_code=BAD_INPUT):
        super().__init__(message)
        self.exit_code = exit_code


class FieldError(MinrnnError):
    """One setting out of range: which, its value and why, so that the command line can name the
    flag (`argument --hidden: 0 must be > 0`) and a checkpoint its entry (`hidden = 0 must be > 0`)."""

    def __init__(self, source, field, value, why):
        super().__init__(f"{source}: {field} = {value!r} {why}")
        self.field, self.value, self.why = field, value, why

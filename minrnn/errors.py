"""The project's one exception type, the exit codes the command line maps it to, and how a
message names an option: in the words of the face that was called, a flag on the command line
(`--sample-every N`), a keyword in Python (`sample_every=N`)."""
import contextvars
import re

BAD_INPUT = 2  # the user can fix it: an argument, a file, a checkpoint
FAILED = 1  # a run that failed on its own: it diverged, the disk filled up

# "cli" while the command line runs a command (cli.main sets it), else "api"
FACE = contextvars.ContextVar("minrnn_face", default="api")
_SAID = re.compile("\u2063([^\u2063\u2064]*)\u2064([^\u2063\u2064]*)\u2063")


def said(name, value=None, flag=None):
    """An option named in a message: `name` (the keyword) with, if given, a value (a Python
    value, or a placeholder in capitals such as "N"); `flag`: the command line's name where it is
    not --name (a positional "FILE", viz's "--text"). It reads `--lr-decay-every N` or
    `lr_decay_every=N` depending on who asked (in_words)."""
    placeholder = isinstance(value, str) and value.isupper()
    api = name if value is None else f"{name}={value if placeholder else repr(value)}"
    flag = flag or "--" + name.replace("_", "-")
    cli = flag if value is None or value is True else f"{flag} {value}"
    return f"\u2063{api}\u2064{cli}\u2063"


def in_words(text, face=None):
    """text with each option it names (said) in the words of `face` ("cli" or "api"; default: the
    face running now)."""
    face = face or FACE.get()
    return _SAID.sub(lambda m: m.group(2 if face == "cli" else 1), str(text))


class MinrnnError(Exception):
    """A problem the user can act on, with the exit code the command line ends with; str() names
    options as the face that was called says them."""

    def __init__(self, message, exit_code=BAD_INPUT):
        super().__init__(message)
        self.exit_code = exit_code

    def __str__(self):
        return in_words(super().__str__())

    def in_words(self, face):
        return in_words(super().__str__(), face)


class FieldError(MinrnnError):
    """One setting out of range: which, its value and why, so that the command line can name the
    flag (`argument --hidden: 0 must be > 0`) and a checkpoint its entry (`hidden = 0 must be > 0`)."""

    def __init__(self, source, field, value, why):
        super().__init__(f"{source}: {field} = {value!r} {why}")
        self.field, self.value, self.why = field, value, why

"""Every option of every command, defined once: its keyword (the Python API's), its flag (the
command line's), its help, default and valid values, and the one check of a value.

    Option(int, 500, "characters to generate", above=0)

The command line's arguments (`add_arguments`) and the API's keywords (`takes`) are both made
from these definitions, and both judge a value by `Option.problem`: what one refuses the other
refuses, for the same reason. An option's name is its keyword, given where a group of options
is made (`group`); its flag is the name with dashes, unless it says otherwise.
"""
import argparse
import dataclasses
import difflib
import functools
import inspect
import math
import numbers
import os
import types

from .errors import FieldError, MinrnnError

PATH = "path"  # the kind of an option that names a file or a folder
FUNCTION = "function"  # the kind of an option the API is given a function for (a callback)
METAVARS = {int: "N", float: "X", str: "TEXT", PATH: "PATH"}


@dataclasses.dataclass(frozen=True)
class Option:
    kind: object  # int, float, str, bool, PATH or FUNCTION
    default: object
    help: str
    above: float | None = None  # the range: above and below exclusive, low and high inclusive
    low: float | None = None
    below: float | None = None
    high: float | None = None
    choices: tuple | None = None
    unset: str | None = None  # None is allowed and means this (--help shows it as the default)
    shown: str | None = None  # the default as --help shows it, where the value would not say it
    also: object = None  # value -> why it cannot be, or None: what a range cannot say
    hint: str | None = None  # said after a value of the wrong kind: what to give instead
    metavar: str | None = None
    flag: str | None = None  # the command line's name, where it is not the keyword's
    positional: str | None = None  # on the command line an argument, not a flag: its nargs ("1": one)
    many: bool = False  # a list: a flag given again, or a positional's further values, adds one
    resumable: bool = False  # a training setting that a resumed run may change
    cli: bool = True  # on the command line
    api: bool = True  # a keyword of the Python API
    name: str = ""  # the keyword: set by `group`

    @property
    def dest(self):
        return self.flag or "--" + self.name.replace("_", "-")

    def shown_default(self):
        """The default as --help and the API's help show it."""
        if self.shown is not None:
            return self.shown
        if self.default is None:
            return self.unset
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)

    def range_words(self):
        """The range, in words: 'must be > 0', 'must be in [0, 1)'."""
        lo = (f"({self.above:g}" if self.above is not None else f"[{self.low:g}" if self.low is not None else None)
        hi = (f"{self.below:g})" if self.below is not None else f"{self.high:g}]" if self.high is not None else None)
        if lo and hi:
            return f"must be in {lo}, {hi}"
        if lo:
            return f"must be {'>' if lo[0] == '(' else '>='} {lo[1:]}"
        return f"must be {'<' if hi[-1] == ')' else '<='} {hi[:-1]}"

    def problem(self, value):
        """Why `value` cannot be this option, or None when it can: the one check of a value,
        whether it came from the command line, a keyword or a checkpoint."""
        if value is None:
            return None if self.unset is not None else "cannot be None"
        if self.many:
            if not isinstance(value, (list, tuple)):
                return "is not a list"
            return next((why for why in map(self._problem, value) if why), None)
        return self._problem(value)

    def _problem(self, value):
        why = self._kind_problem(value)
        if why:
            return f"{why}; {self.hint}" if self.hint else why
        if self.choices and value not in self.choices:
            return f"is not one of {', '.join(map(str, self.choices))}"
        if any(x is not None for x in (self.above, self.low, self.below, self.high)):
            if not ((self.above is None or value > self.above) and (self.low is None or value >= self.low)
                    and (self.below is None or value < self.below) and (self.high is None or value <= self.high)):
                return self.range_words()
        return self.also(value) if self.also else None

    def _kind_problem(self, value):
        kind = self.kind
        if kind is bool:
            return None if isinstance(value, bool) else "is not True or False"
        if kind is int and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
            return "is not an int"
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                return "is not a number"
            if not math.isfinite(value):
                return "is not a finite number"
        if kind is str and not isinstance(value, str):
            return "is not a string"
        if kind is PATH:
            return path_problem(value)
        if kind is FUNCTION and not callable(value):
            return "cannot be called (give a function)"
        return None

    def coerce(self, value):
        """A valid value as the command line would have parsed it: 1 for a rate is 1.0, NumPy's
        ints are ints, a path is a string, a single value of a list option is a list of one."""
        if value is None:
            return None
        if self.many:
            return [self._coerce(v) for v in value]
        return self._coerce(value)

    def _coerce(self, value):
        if self.kind in (int, float):
            return self.kind(value)
        if self.kind is PATH:
            return os.fspath(value)
        return value

    def parse(self, text):
        """The argparse type: the text as this option's kind, judged by `problem`."""
        value = text
        if self.kind in (int, float):
            try:
                value = self.kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{text!r} is not a{'n int' if self.kind is int else ' number'}") from None
        why = self._problem(value)
        if why:
            raise argparse.ArgumentTypeError(f"{text} {why}")
        return value


def path_problem(value):
    """Why value cannot be a path, or None: a path is a string or an os.PathLike (a Run is one)."""
    if hasattr(value, "read") or hasattr(value, "write"):
        return f"is an open file; pass its path{f' ({value.name!r})' if isinstance(getattr(value, 'name', None), str) else ''} instead"
    if isinstance(value, (list, tuple, set)):
        return "is a list; give one path"
    if not isinstance(value, (str, os.PathLike)):
        return f"is not a path (a string or a pathlib.Path), but {type(value).__name__}"
    if os.fspath(value) == "":
        return "is an empty path"
    if "\x00" in os.fspath(value):
        return "holds a NUL character, which no path can"
    return None


def field(option):
    """A dataclass field whose default and metadata come from an Option."""
    return dataclasses.field(default=option.default, metadata={"option": option})


def group(**options):
    """Options by name, each given its name."""
    return {name: dataclasses.replace(option, name=name) for name, option in options.items()}


def of_dataclass(cls):
    """The Options of a dataclass whose fields were made by `field`, by name."""
    return group(**{f.name: f.metadata["option"] for f in dataclasses.fields(cls) if "option" in f.metadata})


# --- the command line -------------------------------------------------------------------------

def add_arguments(parser, options):
    """Each option of the command line as an argparse argument. A flag left out is left out of
    the parsed namespace (argparse.SUPPRESS), so that `given` knows what the user said."""
    for option in options.values():
        if not option.cli:
            continue
        kwargs = dict(help=option.help, default=argparse.SUPPRESS)
        if option.positional:
            names = [option.name]
            kwargs["metavar"] = option.metavar or option.name
            if option.positional != "1":
                kwargs["nargs"] = option.positional
        else:
            names = [option.dest]
            kwargs["dest"] = option.name
            if option.kind is bool:
                kwargs["action"] = "store_true"
            else:
                kwargs["metavar"] = option.metavar or ("{" + ",".join(map(str, option.choices)) + "}" if option.choices
                                                       else METAVARS[option.kind])
                kwargs["action"] = "append" if option.many else "store"
        if option.kind is not bool:
            kwargs["type"] = option.parse
        action = parser.add_argument(*names, **kwargs)
        action.shown_default = None if option.kind is bool else option.shown_default()


class Values(types.SimpleNamespace):
    """Every option's value, by name; `given` names those the caller gave, in the options' order."""

    def said(self, names=None):
        """The options given (of `names`, when given), as keywords to pass on."""
        return {name: getattr(self, name) for name in self.given if names is None or name in names}


def parsed(args, options):
    """The command line's options (argparse's namespace) as Values, defaults filled in."""
    given = tuple(name for name, option in options.items() if option.cli and hasattr(args, name))
    values = Values(**{name: getattr(args, name, option.default) for name, option in options.items() if option.cli})
    values.given = given
    return values


# --- the Python API ---------------------------------------------------------------------------

def judge(source, options, values, known=None):
    """The keywords `values` checked against options, before any work: an unknown one is refused
    naming the closest valid ones, a bad value with its reason, as MinrnnError. Returns them
    coerced (1 for a rate is 1.0)."""
    names = [name for name, option in options.items() if option.api]
    out = {}
    for name, value in values.items():
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
            raise MinrnnError(f"{source}: no setting {name!r}; "
                              + (f"did you mean {' or '.join(close)}?" if close else
                                 f"the settings are {', '.join(names)}"))
        option = options[name]
        one = option.many and (isinstance(value, str) or not isinstance(value, (list, tuple))) and value is not None
        why = option.problem([value] if one else value)  # one value where a list goes: a list of one
        if why:
            raise FieldError(source, name, value, why)
        out[name] = option.coerce([value] if one else value)
    return out


def namespace(options, source, values):
    """Keywords judged (`judge`) and every option's default for the rest, as one namespace;
    `given` names the options the caller gave."""
    judged = judge(source, options, values)
    missing = [name for name, option in options.items()
               if option.api and option.default is None and option.unset is None and name not in judged]
    if missing:
        raise MinrnnError(f"{source}: {missing[0]} is missing ({options[missing[0]].help})")
    out = Values(**{**{name: option.default for name, option in options.items() if option.api}, **judged})
    out.given = tuple(name for name in options if name in judged)  # in the options' order
    return out


def takes(options, source, positional=()):
    """A decorator for a function of the API whose keywords are `options`: its signature and help
    list them with their defaults (so that help() and a notebook's completion show them), every
    call is judged (`judge`) before the function runs, and the function receives its leading
    arguments (self) and one namespace of every option's value, `given` naming those the caller
    gave. `positional` options may also be passed by position, in that order."""
    def decorate(function):
        api = {name: option for name, option in options.items() if option.api}
        leading = list(inspect.signature(function).parameters.values())[:-1]

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            fixed, rest = args[:len(leading)], args[len(leading):]
            if len(rest) > len(positional):
                raise MinrnnError(f"{source}: takes {len(positional) or 'no'} argument(s) by position "
                                  f"({', '.join(positional) or 'all are keywords'}); {len(rest)} were given")
            for name, value in zip(positional, rest):
                if name in kwargs:
                    raise MinrnnError(f"{source}: {name} is given twice, by position and as {name}=")
                kwargs[name] = value
            return function(*fixed, namespace(options, source, kwargs))

        params = leading + [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=api[name].default)
                            for name in positional]
        params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option.default)
                   for name, option in api.items() if name not in positional]
        wrapper.__signature__ = inspect.Signature(params)
        wrapper.__doc__ = (function.__doc__ or "") + "\n\n    Arguments:\n" + "".join(
            f"      {name} ({option.shown_default()}): {option.help}\n" for name, option in api.items())
        return wrapper
    return decorate

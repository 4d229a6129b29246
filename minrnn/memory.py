"""Whether a job's arrays can fit in this machine's memory, asked before they are made."""
import os

from .errors import MinrnnError


def physical_memory():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(nbytes, what):
    """Refuse, before allocating, what could never fit in this machine's memory; `what` names
    the setting to lower ("--length 1000000000")."""
    total = physical_memory()
    if total and nbytes > total:
        raise MinrnnError(f"{what} needs about {nbytes / 2**30:,.1f} GiB, more than this machine's "
                          f"{total / 2**30:,.1f} GiB of memory")

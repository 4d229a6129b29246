"""The model thread of `minrnn serve`: continuous batching. Every request's choices are rows of
one sample.Batch per model, and one thread advances them all, one batched step per character: a
request's rows join at the next step (after its prompt is run through the model, a chunk at a
time between steps) and leave when they end, when their client goes, or when the server stops.

The event loop never waits on the maths. It hands work over (`submit`, `cancel`, `end`) through
a queue the thread reads between steps; the thread hands back what each step made with one
call_soon_threadsafe a step, which the loop passes on to each Completion (completions.py)."""
import collections
import threading

import numpy as np

from . import sample
from .completions import ApiError
from .model import Stepper

# characters of prompts run through the model between two steps of the batch: a long prompt
# delays the rows running by this many characters' time a step (about 0.1 ms each for a GRU
# 2 x 256), not by its whole length; the prompts going through share them, each at least
# PRIME_SHARE (a short prompt behind a long one goes through at once), the oldest first
PRIME_BETWEEN_STEPS, PRIME_SHARE = 32, 8


class Worker:
    """The thread, its batches (one per model) and its queue: at most max_batch rows in the
    batches at once, and max_queue more waiting; a request beyond that is refused (503)."""

    def __init__(self, models, max_batch, max_queue):
        self.models, self.max_batch, self.max_queue = models, max_batch, max_queue
        # one row each, through which prompts go one after another
        self.primers = {name: Stepper(model.net, model.net.zero_state(1)) for name, model in models.items()}
        self.rows = 0  # the loop's count of the rows it handed over that have not ended
        self._inbox = collections.deque()  # ("add" | "cancel", completion) and ("end", None), from the loop
        self._wake = threading.Event()
        self._ending = False
        self._reset()
        self._thread = threading.Thread(target=self._run, name="minrnn-model", daemon=True)
        self.loop = None

    # --- the event loop's side -------------------------------------------------------------

    def start(self, loop):
        self.loop = loop
        self._thread.start()

    def submit(self, completion):
        """Hand a request over; ApiError 503 when the queue is full or the server is stopping."""
        if self._ending:
            raise ApiError(503, "the server is shutting down", "server_error", code="shutting_down")
        if self.rows + completion.rows > self.max_batch + self.max_queue:
            raise ApiError(503, f"the server is busy: {self.rows} choices are being made or waiting; try again "
                           "shortly", "server_error", code="queue_full")
        self.rows += completion.rows
        self._post("add", completion)

    def cancel(self, completion):
        """The request's client has gone: its rows leave the batch at the next step."""
        if not completion.over:
            self.rows -= completion.open_rows()
            completion.over = True
            self._post("cancel", completion)

    def end(self):
        """Stop: every row ends now with what it has (finish_reason "length"), waiting requests
        are refused, and no new one is taken. Safe from a signal handler."""
        self._ending = True
        self._post("end", None)

    def join(self, timeout):
        if self.loop is not None:  # started
            self._thread.join(timeout)

    def _post(self, what, completion):
        self._inbox.append((what, completion))
        self._wake.set()

    def _deliver(self, events):
        """On the loop: a step's results, passed on to their completions."""
        for event in events:
            completion = event[1]
            if completion.over:
                continue
            if event[0] == "fail":
                self.rows -= completion.open_rows()
                completion.fail(event[2])
            elif event[0] == "prompt":
                completion.take_prompt(*event[2:])
            else:
                self.rows -= completion.take(*event[2:])

    # --- the thread's side -----------------------------------------------------------------

    def _run(self):
        # one BLAS thread for the whole thread's life (the limit is the process's: nothing else
        # here computes), so that no product's sum depends on the machine's cores
        with sample.one_thread(), np.errstate(over="ignore", under="ignore"):
            while True:
                self._wake.wait()
                self._wake.clear()
                while True:
                    events = []
                    try:
                        if self._read_inbox(events):
                            self._send(events)
                            return
                        self._prime(events)
                        self._step(events)
                    except Exception as e:  # a bug or no memory: every request in hand fails, the server goes on
                        events = self._fail_all(ApiError(500, f"the model failed: {type(e).__name__}: {e}",
                                                         "server_error"))
                    self._send(events)
                    if not (self.running or self._priming or self._waiting):
                        break

    def _send(self, events):
        if events:
            try:
                self.loop.call_soon_threadsafe(self._deliver, events)
            except RuntimeError:  # the loop has closed: nobody is waiting
                pass

    def _read_inbox(self, events):
        """Take what the loop handed over; True once told to end."""
        while self._inbox:
            what, completion = self._inbox.popleft()
            if what == "add":
                model = self.models[completion.model]
                self._waiting.extend(Group(completion, p, ixs, model.net.zero_state(1))
                                     for p, ixs in enumerate(completion.prompts))
            elif what == "cancel":
                self._drop(completion)
            else:
                events += self._fail_all(ApiError(503, "the server is shutting down", "server_error",
                                                  code="shutting_down"), cut=True)
                return True
        return False

    def _reset(self):
        """Nothing in hand: empty batches (new ones: a step that failed may have left one half
        done), no group waiting."""
        self.batches = {name: sample.Batch(model.net, model.chars) for name, model in self.models.items()}
        self.running = 0  # rows in the batches now (the thread's count, shown by /health)
        self._waiting = collections.deque()  # Groups whose rows wait for room in the batches
        self._priming = []  # Groups whose prompt is going through the model
        self._owners = {}  # (model name, row id) -> [completion, choice index, characters handed over]

    def _drop(self, completion):
        """The completion's rows and groups leave, its rows freed now."""
        self._waiting = collections.deque(g for g in self._waiting if g.completion is not completion)
        self._priming = [g for g in self._priming if g.completion is not completion]
        for name, batch in self.batches.items():
            gone = [row_id for (model, row_id), owner in self._owners.items()
                    if model == name and owner[0] is completion]
            batch.drop(gone)
            for row_id in gone:
                del batch.rows[row_id], self._owners[name, row_id]
            self.running -= len(gone)

    def _fail_all(self, error, cut=False):
        """Every request in hand ends. With `cut` (the server stops), those whose rows are all in
        the batches end now with what they have (finish_reason "length"); the others, and without
        `cut` all, fail with `error`."""
        failing = {g.completion for g in (*self._waiting, *self._priming)}
        if not cut:
            failing.update(completion for completion, _, _ in self._owners.values())
        events = [("fail", completion, error) for completion in failing]
        events += [self._made(self.batches[name].rows[row_id], owner, "length")
                   for (name, row_id), owner in self._owners.items() if owner[0] not in failing]
        self._reset()
        return events

    def _prime(self, events):
        """Admit waiting groups while their rows fit, and run their prompts through the model,
        PRIME_BETWEEN_STEPS characters between two steps, shared among them."""
        while self._waiting and (self.running + sum(g.completion.n for g in self._priming)
                                 + self._waiting[0].completion.n <= self.max_batch):
            self._priming.append(self._waiting.popleft())
        budget = PRIME_BETWEEN_STEPS
        share = max(PRIME_SHARE, budget // max(len(self._priming), 1))
        for group in list(self._priming):
            if budget > 0:
                budget -= group.advance(self.primers[group.completion.model], min(share, budget))
            if group.primed:
                self._priming.remove(group)
                self._start(group, events)

    def _start(self, group, events):
        """A primed group's rows join its model's batch."""
        completion, batch = group.completion, self.batches[group.completion.model]
        if group.prompt_tops is not None:
            events.append(("prompt", completion, group.p, group.prompt_logps, group.prompt_tops))
        for j in range(completion.n):
            row_id = batch.add(group.ixs, completion.rng(j), **completion.settings, state=group.state)
            self._owners[completion.model, row_id] = [completion, group.p * completion.n + j, 0]
            self.running += 1

    def _step(self, events):
        """One character for every row of every model; what each row showed since the last step."""
        for name, batch in self.batches.items():
            if not len(batch):
                continue
            ids, _, _ = batch.step()
            for row_id in ids:
                row, owner = batch.rows[row_id], self._owners[name, row_id]
                event = self._made(row, owner, row.finish)
                if event:
                    events.append(event)
                if row.finish:
                    del batch.rows[row_id], self._owners[name, row_id]
                    self.running -= 1

    @staticmethod
    def _made(row, owner, finish):
        """What the row shows that its completion has not had yet, as an event, or None. A row
        with stop strings holds back what may begin one (its StopScan) until it ends."""
        completion, choice, sent = owner
        shown = row.ready()
        if shown == sent and not finish:
            return None
        owner[2] = shown
        return ("text", completion, choice, row.made[sent:shown], row.logps[sent:shown],
                row.tops[sent:shown] if row.top else None, finish)


class Group:
    """The n rows of one prompt of a request, while that prompt goes through the model."""

    def __init__(self, completion, p, ixs, zero_state):
        self.completion, self.p, self.ixs = completion, p, ixs
        self.state = zero_state  # after the characters primed so far: ixs[:-1] once primed
        self._at = 0  # characters primed
        # the prompt's own log-probabilities (echo with logprobs): None when not asked for
        self.prompt_logps, self.prompt_tops = ([], []) if completion.prompt_logprobs else (None, None)

    @property
    def primed(self):
        return self._at >= len(self.ixs) - 1

    def advance(self, primer, most):
        """Run at most `most` more characters of the prompt through the model, on `primer` (a
        Stepper of one row, which the groups take turns on); the characters it took."""
        if self.primed:
            return 0
        end = min(self._at + most, len(self.ixs) - 1)
        primer.restart(self.state)
        (logits, self.state), = sample.priming(primer, self.ixs[self._at:end + 1], end - self._at)
        if self.prompt_tops is not None:
            logps = sample.log_softmax(logits)
            self.prompt_logps += sample.at(logps, self.ixs[self._at + 1:end + 1]).tolist()
            self.prompt_tops += list(zip(*sample.likeliest(logps, self.completion.top)))
        taken, self._at = end - self._at, end
        return taken

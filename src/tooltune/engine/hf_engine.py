"""The transformers-backed engine: a lean decode loop in one worker thread.

Why not ``model.generate``: per request we want prefix-cache reuse, grammar masks, jump-forward
and streaming; per token we want nothing but one forward pass. The worker thread owns the model;
requests from any number of asyncio tasks are queued to it and served interleaved, so a slow
stream never blocks the others and no two threads touch the model at once.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import queue
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterable

from tooltune.core.format import PromptFormat
from tooltune.core.format.tokens import IM_END, IM_START, TOOL_CALL_CLOSE, TOOL_CALL_OPEN

from .base import EngineDelta, EngineError, EngineFinal, GenerationRequest
from .constraint import ConstraintCompiler
from .openmp import release_thread_team
from .output_history import OutputHistory
from .prefix_cache import PrefixCache
from .prompt import generate_text, prompt_ids
from .sampling import GREEDY_BELOW, make_generator, sample
from .value_ends import ValueEnds, argument_values

log = logging.getLogger(__name__)

DEFAULT_STOPS = (IM_END, IM_START)
SPECULATE_TOKENS = 8
"""Prompt-lookup speculation: after each chosen token, up to this many tokens that followed the
same token in the prompt are fed in the same forward pass and kept as far as greedy decoding
agrees. Tool-call arguments are mostly copied from the user's message (titles, due-date words),
so one pass often yields several tokens. Where the prompt has nothing to copy, the engine's recent
outputs propose the call's structure (``OutputHistory``). Outputs are those of plain greedy
decoding, up to float rounding: a pass over several tokens sums in another order than a pass over
one, so a near-tie between two tokens can go the other way (1 of 200 held-out turns of the demo
model, a `}` against a `,`)."""

RUN_TOKENS = 12
"""Draft length once a value-end run is in the draft (see ``_draft``); up to 12 rows a pass stays
on the int8 kernel (``tooltune.engine.quantize``)."""

PASS_TOKENS = 128
"""Tokens one forward pass may take across the sequences it advances: each sequence's forced run
and draft are cut to an equal share (a lone one gets them all), so a long run that may be
rejected does not slow every other sequence's step. Prompts being prefilled are not cut.
With 8 sequences a share of 16 holds the chosen token and a whole draft (``RUN_TOKENS``); the
earlier 64 (shares of 8) split forced runs and drafts over more passes, each reading every weight
again: in process (``bench/concurrency.py``), 8 clients on the demo model took 5.5-5.9
sequence-passes per request against 3.9-4.4 now, and 1.72x the requests/s of one client against
2.07-2.20x (512 measured the same as 128)."""


_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb", "`": "`"}
"""Opening quote -> closing quote: a value the user quoted ends at its closing quote."""

_NUMBER = re.compile(r"-?\d+")

_QUOTED = re.compile("|".join(f"(?<!\\w){re.escape(o)}([^{re.escape(c)}\n]+){re.escape(c)}(?!\\w)" for o, c in _QUOTES.items()))
"""A span the user quoted: an opening quote not inside a word, up to its closing quote."""

IDLE_GRACE_S = 0.25
"""How long the worker waits for another request before it tidies up for a pause (trims the heap,
releases its OpenMP workers: ~7 ms here). Done after every request, that work delayed the next
request of a client that sends it right away (an agent after its tool ran, a benchmark)."""


CLOSE_RESERVE = 24
"""When a constrained call (or JSON content) is still open this many tokens before max_tokens,
decoding turns to closing it: among the allowed tokens, those that close a string, object or
array (or end the turn) win, so the call completes instead of being cut off."""
"""Text that ends a turn even when the model spells it out of ordinary tokens."""


@dataclass
class EngineStats:
    """Where the worker's time went (cumulative; ``reset()`` between measurements)."""

    prefill_tokens: int = 0
    prefill_s: float = 0.0
    decode_tokens: int = 0
    """Tokens fed after the prompt (sampled and jumped-forward)."""
    decode_passes: int = 0
    decode_s: float = 0.0
    sampled_tokens: int = 0
    jump_tokens: int = 0
    """Tokens appended by jump-forward without sampling."""
    draft_tokens: int = 0
    """Tokens proposed by prompt lookup (speculative decoding)."""
    accepted_tokens: int = 0
    """Proposed tokens that greedy decoding confirmed (each one a forward pass saved)."""
    constraint_s: float = 0.0
    """Grammar work: masks, accepting tokens, jump-forward lookups."""
    cached_tokens: int = 0
    max_batch: int = 0
    """Most sequences advanced by one forward pass."""
    sequence_passes: int = 0
    """Sequences advanced, summed over passes: per request, how many forward passes it rode in."""

    def reset(self) -> None:
        for name, value in EngineStats().__dict__.items():
            setattr(self, name, value)


@dataclass
class _Job:
    request: GenerationRequest
    prompt_ids: list[int]
    compiled: Any
    emit: Callable[[Any], None]
    started: float
    cancelled: bool = False
    prompt_text: str | None = None
    """The prompt as text, decoded the first time a draft copies from it."""


@dataclass(eq=False)
class _Seq:
    job: _Job
    logits: Any
    budget: int
    cached_tokens: int
    matcher: Any = None
    generator: Any = None
    ids: list[int] = field(default_factory=list)
    sent: int = 0
    first_at: float | None = None
    bitmask: Any = None
    next_mask_ready: bool = False
    opening: list[int] | None = None
    """Until its prefill pass has run: the call opening fed with the prompt (``_opening_draft``)."""
    pending: list[int] = field(default_factory=list)
    """Forced (jump-forward) tokens chosen and streamed but not run yet (a shared pass took a share)."""
    draft: list[int] = field(default_factory=list)
    """Tokens proposed by prompt lookup, fed after the chosen ones and verified after the pass."""
    hidden: Any = None
    """The hidden state behind ``logits`` (with a ``BFloat16Head``; else None)."""
    rows_hidden: Any = None
    """The last pass's hidden rows, until ``_take_row`` picks the one behind ``logits``."""


def _accept_all(matcher: Any, tokens: list[int]) -> bool:
    """Feed ``tokens`` to the grammar matcher: all of them, or none (it rolls back and says False)."""
    for n, t in enumerate(tokens):
        if not matcher.accept_token(t):
            matcher.rollback(n)
            return False
    return True


def _trim_heap() -> None:
    """glibc keeps freed memory in per-thread arenas; hand it back (keeps the server's RSS flat)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


_STOP = object()
"""Queued instead of a job: the worker returns (``TransformersEngine.close``)."""


def _close_at_exit(ref: "weakref.ref[TransformersEngine]") -> None:
    engine = ref()
    if engine is not None:
        engine.close()


class TransformersEngine:
    """Engine over a loaded causal LM (see ``load_engine`` for loading by name)."""

    max_concurrency = 8
    """Requests the server lets generate at once (``ChatService``). In a ragged pass another
    sequence costs its own tokens and ~3 ms of attention, no padding: through HTTP, 8 clients ran
    1.28x the requests/s of one with 8 at once against 1.17-1.19x with 4 (``bench/latency.py``)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        fmt: PromptFormat | None = None,
        *,
        name: str = "model",
        constrained: bool = True,
        max_context: int | None = None,
        prefix_cache_entries: int = 4,
        jump_forward: bool = True,
        speculate: int = SPECULATE_TOKENS,
    ) -> None:
        import torch

        from .attention import use_engine_attention

        self.name = name
        self.model = model
        try:
            use_engine_attention(model)
        except (ValueError, NotImplementedError) as e:
            raise EngineError(f"{type(model).__name__} cannot take a custom attention function, which the "
                              f"transformers engine needs: {e}") from e
        self.tokenizer = tokenizer
        self.fmt = fmt or PromptFormat()
        self.constrained = constrained
        self.jump_forward = jump_forward
        self.speculate = speculate
        self._token_prefixes: set[str] | None = None
        self._spaced_twins: dict[int, int] = {}
        self._piece_text: dict[int, str] = {}
        if jump_forward:
            self._extendable(0)  # build the prefix set now, not during the first request
        config = model.config
        self.max_context = int(max_context or getattr(config, "max_position_embeddings", 2048))
        # Logit width (the input embedding stays float under int8 quantisation; tied or resized alike).
        self.vocab_size = int(model.get_input_embeddings().weight.shape[0])
        im_end = tokenizer.convert_tokens_to_ids(IM_END)
        stops = {i for i in (im_end, tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(IM_START))
                 if isinstance(i, int) and i != tokenizer.unk_token_id and 0 <= i < self.vocab_size}
        self.end_of_turn_id = im_end if isinstance(im_end, int) else tokenizer.eos_token_id
        self.call_open_ids: list[int] = tokenizer.encode(TOOL_CALL_OPEN, add_special_tokens=False)
        """``<tool_call>`` as tokens: one where it is an added token. Empty: no call openings
        with the prefill (see ``_opening_draft``)."""
        self.stop_ids = frozenset(stops)
        self.prefix_cache = PrefixCache(prefix_cache_entries)
        self.history = OutputHistory() if speculate else None
        """Recent completions, a second source of drafts after the prompt."""
        self.value_ends = ValueEnds() if speculate else None
        """What followed each tool argument's value in recent calls: drafted after a copied value."""
        self.stats = EngineStats()
        self.weights = str(getattr(config, "dtype", None) or "float32").removeprefix("torch.")
        """What the weights run as ("float32", "bf16-linear", "w8a8", ...; ``load_engine`` sets it)."""
        self._closer_mask = None
        self._constraints: ConstraintCompiler | None = None
        self._constraints_lock = threading.Lock()
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._torch = torch
        self._threads = torch.get_num_threads()  # OpenMP thread counts are per thread: the worker sets it again

    # ---- public API -------------------------------------------------------------------

    def seed_drafts(self, replies: Iterable[str]) -> int:
        """Count ``replies`` (assistant turns as the model writes them: a tuned model's training
        replies, ``tooltune.core.replies``) in the draft statistics as if they were recent
        outputs, so the first requests draft a call's structure too. Call before serving.
        Returns how many were counted."""
        if self.history is None or self.value_ends is None:
            return 0
        n = 0
        for text in replies:
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            if ids:
                self._count_output(ids, ended=True)
                n += 1
        return n

    def _count_output(self, ids: list[int], ended: bool) -> None:
        """Add a completion to the draft statistics (``ended``: it stopped at the end of turn)."""
        if self.history is not None:
            # A turn's end is a follower too: without it the history would draft another call
            # after every ``</tool_call>`` (wasted slots in the pass that decides the end).
            self.history.add(ids + [self.end_of_turn_id] if ended else ids)
        if self.value_ends is not None:
            self.value_ends.add(ids, self._pieces(ids))

    @property
    def constraints(self) -> ConstraintCompiler:
        with self._constraints_lock:
            if self._constraints is None:
                self._constraints = ConstraintCompiler(self.tokenizer, self.vocab_size, [self.end_of_turn_id])
            return self._constraints

    def prepare(self, request: GenerationRequest) -> tuple[list[int], Any]:
        """Validate, render and tokenize a request; compile its constraint. Raises EngineError."""
        ids = prompt_ids(request, self.tokenizer, self.fmt, self.max_context)
        compiled = None
        if self.constrained and request.constrained:
            compiled = self.constraints.compile(request)
        return ids, compiled

    async def generate(self, request: GenerationRequest) -> AsyncIterator[EngineDelta | EngineFinal]:
        started = time.perf_counter()
        ids, compiled = await asyncio.to_thread(self.prepare, request)
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[Any] = asyncio.Queue()

        def emit(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(out.put_nowait, item)
            except RuntimeError:  # the caller's event loop is gone: nobody is left to tell
                pass

        job = _Job(request, ids, compiled, emit, started)
        self._submit(job)
        try:
            while True:
                item = await out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, EngineFinal):
                    return
        finally:
            job.cancelled = True  # the client went away: the worker drops the sequence

    def generate_text(self, request: GenerationRequest) -> tuple[str, EngineFinal]:
        """Blocking convenience for scripts and tests: the whole output text and its final."""
        return generate_text(self, request)

    # ---- worker -----------------------------------------------------------------------

    def _submit(self, job: _Job) -> None:
        release_thread_team()  # this thread's idle OpenMP workers would slow the worker's kernels
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name=f"engine-{self.name}", daemon=True)
                self._worker.start()
                atexit.register(_close_at_exit, weakref.ref(self))
        self._jobs.put(job)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker thread; requests still queued or running get an ``EngineError``. A later
        request starts a new worker. Runs at interpreter exit too: a worker still idling inside
        torch while the interpreter tears down aborted the process ('terminate called without an
        active exception') when a process had run two engines."""
        with self._start_lock:
            worker = self._worker
            if worker is None or not worker.is_alive():
                return
            self._jobs.put(_STOP)
            worker.join(timeout)

    def _run(self) -> None:
        from .batch import RaggedBatch

        torch = self._torch
        torch.set_num_threads(self._threads)
        self._batch = RaggedBatch(self.model)
        active: list[_Seq] = []
        with torch.inference_mode():
            while True:
                pending = []
                if not active:
                    try:  # an agent's next turn usually comes within moments: wait for it first
                        pending.append(self._jobs.get(timeout=IDLE_GRACE_S))
                    except queue.Empty:
                        _trim_heap()  # idle: give freed KV buffers back to the OS
                        release_thread_team()  # and the OpenMP workers, which would slow other engines
                        pending.append(self._jobs.get())
                while True:
                    try:
                        pending.append(self._jobs.get_nowait())
                    except queue.Empty:
                        break
                if _STOP in pending:
                    for job in pending:
                        if job is not _STOP:
                            job.emit(EngineError("the engine is shutting down"))
                    for seq in active:
                        seq.job.emit(EngineError("the engine is shutting down"))
                    return
                # One pass runs the new prompts (their uncached part) and every running sequence's
                # next tokens together.
                feeds: dict[_Seq, list[int]] = {}
                cap = max(1, PASS_TOKENS // max(1, self._batch.live() + len(pending)))
                for seq in active:
                    if seq.job.cancelled:
                        self._batch.remove(seq)
                        continue
                    try:
                        feed = self._advance(seq, cap)
                    except Exception as e:
                        log.exception("decode step failed")
                        seq.job.emit(EngineError(f"generation failed: {e}"))
                        self._batch.remove(seq)
                        feed = None
                    if feed is not None:
                        feeds[seq] = feed
                for job in pending:
                    if job.cancelled:
                        continue
                    try:
                        seq, feed = self._start(job)
                    except Exception as e:  # never let one request kill the worker
                        log.exception("prefill failed")
                        job.emit(e if isinstance(e, EngineError) else EngineError(f"generation failed: {e}"))
                        continue
                    feeds[seq] = feed
                active = list(feeds)
                if not feeds:
                    continue
                keep = {seq: 1 + len(seq.opening if seq.opening is not None else seq.draft) for seq in feeds}
                t0 = time.perf_counter()
                try:
                    logits = self._batch.step(feeds, keep)
                except Exception as e:
                    log.exception("forward pass failed")
                    for seq in active:
                        seq.job.emit(EngineError(f"generation failed: {e}"))
                    self._batch = RaggedBatch(self.model)
                    active = []
                    continue
                self._count_pass(feeds, time.perf_counter() - t0)
                for seq in list(active):
                    rows = logits[seq]
                    seq.rows_hidden = self._batch.hidden.get(seq)
                    if seq.opening is not None:
                        try:
                            self._prefilled(seq, rows)
                        except Exception as e:
                            log.exception("prefill failed")
                            seq.job.emit(EngineError(f"generation failed: {e}"))
                            self._batch.remove(seq)
                            active.remove(seq)
                    else:
                        self._take_row(seq, rows, self._verify(seq, rows) if seq.draft else 0)

    def _count_pass(self, feeds: dict[_Seq, list[int]], took: float) -> None:
        """Stats of one pass (before ``_prefilled``: a prompt's sequence still has its ``opening``);
        a pass that runs prompts and decodes too splits its time by tokens."""
        st = self.stats
        prefilled = sum(len(f) for seq, f in feeds.items() if seq.opening is not None)
        decoded = sum(len(f) for seq, f in feeds.items() if seq.opening is None)
        share = prefilled / (decoded + prefilled)
        st.prefill_tokens += prefilled
        st.prefill_s += took * share
        if decoded:
            st.decode_s += took * (1 - share)
            st.decode_passes += 1
            st.decode_tokens += decoded
        st.max_batch = max(st.max_batch, len(feeds))
        st.sequence_passes += len(feeds)

    def _start(self, job: _Job) -> tuple[_Seq, list[int]]:
        """Seat a request with what the prefix cache holds of its prompt; returns it and the tokens
        its prefill pass runs (the rest of the prompt, and the call opening)."""
        ids = job.prompt_ids
        n, layers = self.prefix_cache.lookup(ids)
        sampling = job.request.sampling
        budget = self.max_context - len(ids)
        if sampling.max_tokens is not None:
            budget = min(budget, sampling.max_tokens)
        seq = _Seq(job=job, logits=None, budget=budget, cached_tokens=n,
                   generator=make_generator(sampling.seed))
        if job.compiled is not None:
            import xgrammar as xgr

            seq.matcher = self.constraints.matcher(job.compiled)
            seq.bitmask = xgr.allocate_token_bitmask(1, self.vocab_size)
        seq.opening = self._opening_draft(seq)
        self._batch.add(seq, layers, n)
        self.stats.cached_tokens += n
        return seq, ids[n:] + seq.opening

    def _prefilled(self, seq: _Seq, logits: Any) -> None:
        """After a prompt's pass (``logits``: after its last token, then after each opening token):
        remember the prompt's KV, keep the opening as far as greedy decoding confirms it."""
        opening, seq.opening = seq.opening or [], None
        ids = seq.job.prompt_ids
        self._remember(ids, self._batch.extract(seq, len(ids)))
        kept = self._opening_kept(seq, opening, logits) if opening else 0
        self._batch.rollback(seq, len(opening) - kept)
        self._take_row(seq, logits, kept)
        if kept:
            seq.ids = opening[:kept]
            self._emit_text(seq)  # no stop string can be in it: requests with stop strings get no opening

    def _opening_draft(self, seq: _Seq) -> list[int]:
        """A tool call's opening, run with the prefill, as decoding would feed it: ``<tool_call>``
        and, where that is one token, the text the grammar forces after it (``{"name":"``, or the
        whole name when only one tool may be called; as ``_jump`` re-tokenizes it). Greedy
        constrained requests only; the matcher accepts the tokens now. A tool-call turn saves the
        forward passes that would run them; any other turn computes a few more prompt tokens,
        which ``_opening_kept`` takes back."""
        request = seq.job.request
        matcher, opening = seq.matcher, list(self.call_open_ids)
        if (matcher is None or not opening or not self.speculate or not self.jump_forward
                or request.sampling.temperature or request.sampling.stop or seq.budget <= 2 * CLOSE_RESERVE):
            return []
        matcher.fill_next_token_bitmask(seq.bitmask)  # the first choice's mask, for the check
        seq.next_mask_ready = True
        if not _accept_all(matcher, opening):
            return []
        if len(opening) == 1 and not matcher.is_terminated():
            jump = matcher.find_jump_forward_string()
            new = self._with_forced(seq, opening, jump) if jump else opening
            forced = new[1:] if len(new) > 1 and new[0] == opening[0] else []
            if _accept_all(matcher, forced):  # else the re-tokenization does not fit: as _jump, none
                opening += forced
        self.stats.draft_tokens += len(opening)
        return opening

    def _opening_kept(self, seq: _Seq, opening: list[int], logits: Any) -> int:
        """How much of the opening greedy decoding confirms (``logits[i]``: after the prompt's
        last token, then after each opening token): the first token under the first choice's mask
        (as ``_choose`` picks it); the other ``<tool_call>`` pieces as the unconstrained argmax
        (a token the grammar took and the argmax is the constrained argmax); the forced rest with
        them. The matcher takes back the rest."""
        import xgrammar as xgr

        torch = self._torch
        masked = logits[0].clone()
        xgr.apply_token_bitmask_inplace(masked.view(1, -1), seq.bitmask)
        self._settle(masked, seq.rows_hidden, 0)
        kept = 0
        if int(torch.argmax(masked)) == opening[0]:
            kept = 1
            pieces = len(self.call_open_ids)
            while kept < pieces and int(torch.argmax(logits[kept])) == opening[kept]:
                kept += 1
            if kept == pieces:
                kept = len(opening)
        if kept < len(opening):
            seq.matcher.rollback(len(opening) - kept)
        if kept:
            seq.next_mask_ready = False  # else the first choice's mask in seq.bitmask still holds
            self.stats.sampled_tokens += min(kept, len(self.call_open_ids))
            self.stats.jump_tokens += max(0, kept - len(self.call_open_ids))
            self.stats.accepted_tokens += kept
        return kept

    def _remember(self, ids: list[int], kv: list[tuple[Any, Any]]) -> None:
        if kv and kv[0][0].shape[-2] == len(ids):
            self.prefix_cache.store(ids, kv)

    @property
    def _closers(self) -> Any:
        """Per token, how much its text closes JSON, as a [2, vocab] table: row 0 when the output
        is outside a string (closing brackets up; anything opening a value, member or string
        down), row 1 inside a string (only tokens with a quote count, scored by what follows it).
        The end-of-turn tokens score highest."""
        if self._closer_mask is None:
            torch = self._torch

            def structural(text: str) -> float:
                return 4.0 * (text.count("}") + text.count("]")) - 3.0 * sum(text.count(c) for c in ',{[:"')

            table = torch.full((2, self.vocab_size), -1e6, dtype=torch.float32)
            for i in range(min(self.vocab_size, len(self.tokenizer))):
                piece = self.tokenizer.decode([i], skip_special_tokens=False)
                table[0, i] = structural(piece)
                if '"' in piece:
                    table[1, i] = 10.0 + structural(piece[piece.index('"') + 1:])
            for i in self.stop_ids:
                table[:, i] = 100.0
            self._closer_mask = table
        return self._closer_mask

    @staticmethod
    def _in_json_string(text: str) -> bool:
        inside = escaped = False
        for c in text:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = inside
            elif c == '"':
                inside = not inside
        return inside

    def _open_structure(self, seq: _Seq) -> str | None:
        """The open tool call's (or constrained JSON content's) text so far, or None."""
        text = self.tokenizer.decode(seq.ids, skip_special_tokens=False)  # only near the budget's end
        fmt = seq.job.request.response_format
        if fmt and fmt.get("type") in ("json_object", "json_schema") and TOOL_CALL_OPEN not in text:
            return text
        start = text.rfind(TOOL_CALL_OPEN)
        if start < 0 or text.rfind(TOOL_CALL_CLOSE) > start:
            return None
        return text[start + len(TOOL_CALL_OPEN):]

    def _choose(self, seq: _Seq) -> int:
        torch = self._torch
        sampling = seq.job.request.sampling
        logits = seq.logits
        greedy = sampling.temperature < GREEDY_BELOW
        if not greedy and seq.hidden is not None and self._batch.head is not None:
            logits = self._batch.head.exact(seq.hidden)  # sampling reads the whole float32 row
        if seq.matcher is not None:
            import xgrammar as xgr

            t0 = time.perf_counter()
            if not seq.next_mask_ready:
                seq.matcher.fill_next_token_bitmask(seq.bitmask)
            seq.next_mask_ready = False
            xgr.apply_token_bitmask_inplace(logits.view(1, -1), seq.bitmask)
            open_text = self._open_structure(seq) if seq.budget - len(seq.ids) <= CLOSE_RESERVE else None
            if open_text is not None:
                # Closing mode: the allowed token that closes the most wins (then the likeliest).
                allowed = torch.isfinite(logits)
                score = self._closers[int(self._in_json_string(open_text))].masked_fill(~allowed, -1e9)
                best = score == score.max()
                row = logits.masked_fill(~best, float("-inf"))
                self._settle(row, seq.hidden)
                self.stats.constraint_s += time.perf_counter() - t0
                return int(torch.argmax(row))
            if greedy:
                self._settle(logits, seq.hidden)
            self.stats.constraint_s += time.perf_counter() - t0
        self.stats.sampled_tokens += 1
        return sample(logits, sampling.temperature, sampling.top_p, seq.generator)

    def _advance(self, seq: _Seq, cap: int) -> list[int] | None:
        """Pick one token (plus whatever the grammar forces after it) and stream the new text.
        Returns the tokens to run the model on next (at most ``cap``; forced ones beyond wait in
        ``seq.pending``), or None when the sequence has finished."""
        if seq.pending:  # forced tokens already chosen (and streamed): just run them
            feed, seq.pending = seq.pending[:cap], seq.pending[cap:]
            return feed
        token = self._choose(seq)
        if token in self.stop_ids:
            return self._finish(seq, "stop")
        feed = [token]
        seq.ids.append(token)
        matcher = seq.matcher
        if matcher is not None:
            t0 = time.perf_counter()
            if not matcher.accept_token(token):  # cannot happen with the mask applied
                raise EngineError("the constraint rejected a token it allowed")
            if self.jump_forward and not matcher.is_terminated():
                jump = matcher.find_jump_forward_string()
                if jump:
                    before = len(seq.ids)
                    feed = self._jump(seq, jump)
                    self.stats.jump_tokens += max(0, len(seq.ids) - before)
            self.stats.constraint_s += time.perf_counter() - t0
        if self._emit_text(seq):
            return self._finish(seq, "stop")
        if len(seq.ids) >= seq.budget:
            return self._finish(seq, "length")
        if matcher is not None:
            # When only the end of turn may follow, stop now instead of running the model once more.
            t0 = time.perf_counter()
            matcher.fill_next_token_bitmask(seq.bitmask)
            seq.next_mask_ready = True
            only_stop = self._only_stop_allowed(seq.bitmask)
            self.stats.constraint_s += time.perf_counter() - t0
            if only_stop:
                return self._finish(seq, "stop")
        feed = self._cut(seq, feed, cap)
        if self.speculate and not seq.job.request.sampling.temperature and len(feed) < cap:
            seq.draft = self._draft(seq, cap - len(feed))
            if seq.draft:
                seq.next_mask_ready = False  # the matcher has moved past the draft
                feed = feed + seq.draft
        return feed

    def _cut(self, seq: _Seq, feed: list[int], width: int) -> list[int]:
        """``feed`` cut to ``width`` tokens: its draft's tail goes first (taken back from the
        matcher), then forced tokens wait in ``seq.pending``."""
        extra = len(feed) - width
        if extra <= 0:
            return feed
        drop = min(extra, len(seq.draft))
        if drop:
            if seq.matcher is not None:
                seq.matcher.rollback(drop)
            seq.draft = seq.draft[:len(seq.draft) - drop]
            self.stats.draft_tokens -= drop
            feed, extra = feed[:len(feed) - drop], extra - drop
        if extra:
            seq.pending = feed[width:] + seq.pending
            feed = feed[:width]
        return feed

    def _draft(self, seq: _Seq, limit: int) -> list[int]:
        """A copy from the prompt (``_copy_from_prompt``; where it ends an argument value, the
        tokens that usually follow the value: ``ValueEnds``), or the rest of such a run that the
        output began its own way (``ValueEnds.resume``); then what followed the current output's
        tail in recent outputs (``OutputHistory``). Cut where the grammar would refuse a token, at
        an end of turn, or near the budget's end. A draft is at most ``speculate`` tokens, or
        ``RUN_TOKENS`` once a value-end run is in it: a long title should not cost a pass of its
        own for the ``</tool_call>`` after it. The matcher accepts them now; ``_verify`` rolls
        back what the model does not confirm."""
        left = seq.budget - len(seq.ids) - CLOSE_RESERVE - 1
        room = min(limit, self.speculate, left)
        if room <= 0 or not seq.ids:
            return []
        wide = min(limit, max(self.speculate, RUN_TOKENS), left)
        copy, quoted = self._copy_from_prompt(seq, room)
        out = self._acceptable(seq, copy)
        if not out and self.value_ends is not None:
            # Partway through what usually follows a value (``","`` of ``","due_date":"``).
            pieces = self._pieces(seq.ids)
            rest = self.value_ends.resume(pieces)
            out = self._acceptable(seq, self._continue(seq, "".join(pieces), rest)[:wide]) if rest else []
            room = wide if out else room
        if copy and self.value_ends is not None:
            # Where the copied value ends, the call's usual next tokens ride on the same pass.
            ended = quoted or len(out) < len(copy)
            drop, run = self.value_ends.after_copy(self._pieces(seq.ids + out), len(out), ended)
            if drop and seq.matcher is not None:
                seq.matcher.rollback(drop)
            out = out[:len(out) - drop]
            out += self._acceptable(seq, run[:wide - len(out)])
            room = wide if run else room
        if len(out) < room and self.history is not None:
            out += self._acceptable(seq, self.history.propose(seq.ids + out, room - len(out)))
        self.stats.draft_tokens += len(out)
        return out

    def _copy_from_prompt(self, seq: _Seq, room: int) -> tuple[list[int], bool]:
        """Up to ``room`` tokens to copy from the prompt, and whether they end the value. Inside a
        string value: what follows the latest occurrence of the value so far in the prompt's text,
        tokenized as the output would go on (the user wrote ' tomorrow', the call spells 'tom'
        'orrow' after its quote: the tokens differ, the text does not); where the user quoted
        the value ('pack for the trip' ...), up to the closing quote, which ends it. Where a
        value that may be a number starts: ``_number_from_prompt``. Elsewhere: what followed the
        latest occurrence of the last token (or of the same word after a space: '"Ask' against
        ' Ask')."""
        prompt, last = seq.job.prompt_ids, seq.ids[-1]
        pieces = self._pieces(seq.ids)
        text = "".join(pieces)
        values = argument_values(text)
        if values and values[-1][3] is None and text[values[-1][2]] == '"' and values[-1][2] + 1 < len(text):
            value = text[values[-1][2] + 1:]
            source = self._prompt_text(seq)
            at = source.rfind(value, 0, max(0, source.rfind(IM_START)))  # not in the reply's own header
            if at < 0:
                return [], False
            rest = source[at + len(value):at + len(value) + 8 * room]
            close = _QUOTES.get(source[at - 1:at]) if at else None
            quoted = close is not None and close in rest
            if quoted:
                rest = rest[:rest.index(close)]
            tokens = self._continue(seq, text, rest)
            return tokens[:room], quoted and len(tokens) <= room
        if values and values[-1][3] is None and values[-1][2] == len(text) - 1 and text[-1] == '"':
            return self._quoted_from_prompt(seq, text, room)
        in_call = text.rfind(TOOL_CALL_OPEN) > text.rfind(TOOL_CALL_CLOSE)
        if in_call and text.endswith('":') and (not values or values[-1][3] is not None):
            return self._number_from_prompt(seq, text, room)
        same = (last, self._spaced(last))
        for i in range(len(prompt) - 2, -1, -1):  # the latest occurrence: most like the current turn
            if prompt[i] in same:
                return prompt[i + 1:i + 1 + room], False
        return [], False

    def _number_from_prompt(self, seq: _Seq, text: str, room: int) -> tuple[list[int], bool]:
        """At the start of an argument value that may be a number (``"task_id":``): the first
        number of the latest message that has one (``regarding task 274, the deadline moves to
        July 21``; ``mark it done`` after ``Created task 157``) that the reply has not used yet
        (the second of two calls takes the next one), which then ends the value. Ids are what
        numbers in calls mostly are; a wrong guess costs a few slots."""
        reply = text[text.find(TOOL_CALL_OPEN):] if TOOL_CALL_OPEN in text else ""
        used = set(_NUMBER.findall(reply))
        numbers = next((found for message in reversed(self._messages(seq)) if (found := _NUMBER.findall(message))), [])
        fresh = [n for n in numbers if n not in used]
        if not fresh:
            return [], False
        tokens = self._continue(seq, text, fresh[0])
        return tokens[:room], len(tokens) <= room

    def _quoted_from_prompt(self, seq: _Seq, text: str, room: int) -> tuple[list[int], bool]:
        """At the start of a string value: the first span the user's message (the prompt's last
        message, when the user wrote it) quotes (``add 'pack for the trip' ...``) that the call
        does not hold yet, which then ends the value. A value the user bothered to quote is the
        one a call most often takes."""
        call = text[text.rfind(TOOL_CALL_OPEN):]
        messages = self._messages(seq)
        if not messages or not messages[-1].startswith("user"):
            return [], False
        for m in _QUOTED.finditer(messages[-1]):
            span = json.dumps(next(g for g in m.groups() if g is not None), ensure_ascii=False)[1:-1]
            if span not in call:
                tokens = self._continue(seq, text, span)
                return tokens[:room], len(tokens) <= room
        return [], False

    def _messages(self, seq: _Seq) -> list[str]:
        """The prompt's messages after the system prompt, as rendered (role line included), oldest
        first; the reply's own header is left out."""
        chunks = self._prompt_text(seq).split(IM_START)[1:-1]
        return [c for c in chunks if not c.startswith("system")]

    def _prompt_text(self, seq: _Seq) -> str:
        """The request's prompt as text (decoded once per request)."""
        if seq.job.prompt_text is None:
            seq.job.prompt_text = self.tokenizer.decode(seq.job.prompt_ids, skip_special_tokens=False)
        return seq.job.prompt_text

    def _continue(self, seq: _Seq, text: str, rest: str) -> list[int]:
        """``rest`` as tokens after the output ``text``, as the tokenizer would split the two
        together (or on its own where the output's last token would merge with it)."""
        whole = self.tokenizer.encode(text + rest, add_special_tokens=False)
        if whole[:len(seq.ids)] == seq.ids:
            return whole[len(seq.ids):]
        return self.tokenizer.encode(rest, add_special_tokens=False)

    def _pieces(self, tokens: list[int]) -> list[str]:
        """Each token's own text (cached per token id)."""
        cache = self._piece_text
        out = []
        for t in tokens:
            piece = cache.get(t)
            if piece is None:
                piece = cache[t] = self.tokenizer.decode([t], skip_special_tokens=False)
            out.append(piece)
        return out

    def _spaced(self, token: int) -> int:
        """The single token that spells ``token``'s text after a space, or ``token`` itself when
        there is none (or it already starts with a space)."""
        twin = self._spaced_twins.get(token)
        if twin is None:
            text = self._pieces([token])[0]
            ids = self.tokenizer.encode(" " + text, add_special_tokens=False) if text[:1].isalnum() else []
            twin = ids[0] if len(ids) == 1 else token
            self._spaced_twins[token] = twin
        return twin

    def _acceptable(self, seq: _Seq, tokens: list[int]) -> list[int]:
        """The longest prefix of ``tokens`` without an end of turn that the grammar accepts (the
        matcher takes it)."""
        out: list[int] = []
        matcher = seq.matcher
        for t in tokens:
            if t in self.stop_ids or (matcher is not None and (matcher.is_terminated() or not matcher.accept_token(t))):
                break
            out.append(t)
        return out

    def _verify(self, seq: _Seq, logits: Any) -> int:
        """Keep the draft's longest prefix that greedy decoding would have produced; return the
        row of the logits after it. ``logits[i]`` predicts the token after the ``i``-th fed position of the
        draft's pass (row 0: after the chosen token). A token the grammar allows and that is the
        unconstrained argmax is also the constrained argmax, so the output is unchanged."""
        draft, seq.draft = seq.draft, []
        best = logits[: len(draft)].argmax(-1).tolist()
        kept = 0
        while kept < len(draft) and best[kept] == draft[kept]:
            kept += 1
        rejected = len(draft) - kept
        if rejected:
            if seq.matcher is not None:
                seq.matcher.rollback(rejected)
            self._batch.rollback(seq, rejected)
        seq.ids.extend(draft[:kept])
        self.stats.accepted_tokens += kept
        return kept

    def _take_row(self, seq: _Seq, logits: Any, row: int) -> None:
        """The next choice reads row ``row`` of the pass's logits (and its hidden state, which a
        ``BFloat16Head`` needs to settle a masked choice)."""
        seq.logits = logits[row]
        hidden = seq.rows_hidden
        seq.hidden = None if hidden is None else hidden[row]
        seq.rows_hidden = None

    def _settle(self, row: Any, hidden: Any, index: int | None = None) -> None:
        """Exact logits, in place, wherever they could decide the argmax of a masked ``row``
        (with a ``BFloat16Head``; other heads' logits are exact already)."""
        head = self._batch.head
        if head is not None and hidden is not None:
            head.settle(row, hidden if index is None else hidden[index])

    def _only_stop_allowed(self, bitmask: Any) -> bool:
        words = bitmask[0]
        nz = self._torch.nonzero(words).flatten().tolist()
        if len(nz) > 1 or not nz:
            return False
        word = int(words[nz[0]]) & 0xFFFFFFFF
        bits = [nz[0] * 32 + b for b in range(32) if word >> b & 1]
        return all(b in self.stop_ids for b in bits)

    def _extendable(self, token_id: int) -> bool:
        """Whether some other vocabulary entry starts with this token's text (so the tokenizer
        could merge it with the text that follows)."""
        if self._token_prefixes is None:
            pieces = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
            self._token_prefixes = {p[:i] for p in pieces if p for i in range(1, len(p))}
        piece = self.tokenizer.convert_ids_to_tokens(token_id)
        # Only openers: after them the tokenizer merges the next quote ('{"'), which is the
        # boundary that cost accuracy; other boundaries are left as forced.
        return bool(piece) and piece.endswith(("{", "[")) and piece in self._token_prefixes

    def _with_forced(self, seq: _Seq, old: list[int], jump: str) -> list[int]:
        """``old`` completion tokens followed by the forced text ``jump``, re-tokenized as a whole so
        the model sees the same tokens as in training (``cre``+``ate`` becomes ``create``)."""
        tok = self.tokenizer
        text = tok.decode(old, skip_special_tokens=False) + jump
        new = tok.encode(text, add_special_tokens=False)
        if tok.decode(new, skip_special_tokens=False) != text:
            new = old + tok.encode(jump, add_special_tokens=False)
        # The forced text's last token may merge with what follows (a forced '{' where training
        # always saw '{"'): leave such a token to the model, which the grammar still constrains
        # (unless the completion budget is nearly spent and every step counts).
        if new and self._extendable(new[-1]) and seq.budget - len(old) > CLOSE_RESERVE:
            new = new[:-1]
        return new

    def _jump(self, seq: _Seq, jump: str) -> list[int]:
        """Append the text the grammar forces (see ``_with_forced``); the KV cache and the matcher
        roll back to where old and new tokens diverge. Returns the tokens to feed."""
        matcher = seq.matcher
        old = seq.ids
        new = self._with_forced(seq, old, jump)
        if len(new) <= len(old):
            return [old[-1]]
        k = 0
        limit = min(len(old), len(new))
        while k < limit and old[k] == new[k]:
            k += 1
        new = new[: max(k, seq.budget)]
        matcher.rollback(len(old) - k)
        if not _accept_all(matcher, new[k:]):  # the re-tokenization does not fit the grammar: keep the old tokens
            for t in old[k:]:
                matcher.accept_token(t)
            return [old[-1]]
        in_cache = len(old) - 1  # the last sampled token has not been run yet
        keep = min(k, in_cache)
        self._batch.rollback(seq, in_cache - keep)
        seq.ids = list(new)
        return new[keep:]

    def _emit_text(self, seq: _Seq) -> bool:
        """Stream the text not yet sent; True when a stop string was reached."""
        text = self.tokenizer.decode(seq.ids, skip_special_tokens=False)
        stops = list(DEFAULT_STOPS) + list(seq.job.request.sampling.stop or [])
        hit = -1
        for s in stops:
            if s:
                i = text.find(s, max(0, seq.sent - len(s)))
                if i >= 0 and (hit < 0 or i < hit):
                    hit = i
        if hit >= 0:
            self._send(seq, text[seq.sent:hit])
            seq.sent = max(seq.sent, hit)
            return True
        end = len(text)
        if text.endswith("\ufffd"):
            end -= 1  # an incomplete UTF-8 character: wait for its other bytes
        for s in stops:  # hold back a tail that may be the start of a stop string
            for j in range(min(len(s) - 1, end - seq.sent), 0, -1):
                if text[end - j:end] == s[:j]:
                    end -= j
                    break
        if end > seq.sent:
            self._send(seq, text[seq.sent:end])
            seq.sent = end
        return False

    def _send(self, seq: _Seq, text: str) -> None:
        if not text:
            return
        if seq.first_at is None:
            seq.first_at = time.perf_counter()
        seq.job.emit(EngineDelta(text))

    def _finish(self, seq: _Seq, reason: str) -> None:
        # Flush text held back as a possible stop-string start (cut at any stop that did occur).
        text = self.tokenizer.decode(seq.ids, skip_special_tokens=False)
        for s in list(DEFAULT_STOPS) + list(seq.job.request.sampling.stop or []):
            cut = text.find(s, max(0, seq.sent - len(s))) if s else -1
            if cut >= 0:
                text = text[:max(cut, seq.sent)]
        self._send(seq, text[seq.sent:].rstrip("\ufffd"))
        now = time.perf_counter()
        job = seq.job
        # The client has its answer first; the bookkeeping below (~7 ms: the KV copy for the
        # prefix cache, the draft statistics) runs before the worker takes the next request.
        job.emit(EngineFinal(
            finish_reason=reason,  # type: ignore[arg-type]
            prompt_tokens=len(job.prompt_ids),
            completion_tokens=len(seq.ids),
            cached_tokens=seq.cached_tokens,
            time_to_first_token_s=(seq.first_at or now) - job.started,
            total_s=now - job.started,
        ))
        try:
            self._count_output(seq.ids, ended=reason == "stop")
            full = job.prompt_ids + seq.ids
            self._remember(full[: self._batch.length(seq)], self._batch.extract(seq, copy=True))
        except Exception:  # the request is answered; only the caches missed this one
            log.exception("bookkeeping after a finished request failed")
        finally:
            self._batch.remove(seq)
        return None

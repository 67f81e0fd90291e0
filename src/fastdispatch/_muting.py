"""``muted()``: silence signals, or chosen receivers, in this thread or task only."""

from __future__ import annotations

from . import _hooks, _signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable
    from contextvars import Token
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["muted"]


def _is_signal(obj: object) -> bool:
    return callable(getattr(obj, "connect", None)) and hasattr(obj, "_live_records")


class muted:  # noqa: N801 (a context manager used like a function)
    """Mute signals, or chosen receivers of one signal, while a block runs::

        with muted(post_save):                  # one signal
            ...
        with muted(pre_save, post_save):        # several
            ...
        with muted(post_save, receivers=[update_search_index]):
            ...                                 # chosen receivers only

        @muted(post_save)                       # a test, sync or async
        def test_import(): ...

    Only the current thread or async task is muted (a context variable):
    other threads and tasks keep receiving, and a task started inside the
    block inherits it, as tasks inherit context variables. Muting lasts as
    long as the block: such a task still running after it receives again.
    Nothing about the
    signals changes (their receivers and caches stay as they are), blocks
    nest, and leaving one restores exactly what was muted before. A muted
    receiver is not called and does not count for ``has_listeners()``.

    ``receivers`` takes receivers (or their ``dispatch_uid``) connected to
    the one signal given; one that is not connected is a ``ValueError`` when
    the block starts.
    """

    def __init__(self, *signals: Any, receivers: Iterable[Any] | None = None) -> None:
        if not signals:
            raise TypeError("muted() takes at least one signal: muted(post_save).")
        for signal in signals:
            if not _is_signal(signal):
                raise TypeError(f"muted() takes fastdispatch signals, not {signal!r}.")
        self.signals = signals
        self.receivers: tuple[Any, ...] | None = None
        if receivers is not None:
            if len(signals) != 1:
                raise TypeError(
                    "muted(..., receivers=[...]) takes exactly one signal, the one "
                    f"the receivers are connected to; got {len(signals)}."
                )
            if isinstance(receivers, (str, bytes)) or callable(receivers):
                receivers = [receivers]
            self.receivers = tuple(receivers)
            if not self.receivers:
                raise TypeError("muted(..., receivers=[...]) needs at least one receiver.")
        self._tokens: list[tuple[_hooks.MuteBlock, Token[Any]]] = []

    def _entries(
        self, block: _hooks.MuteBlock
    ) -> tuple[tuple[_hooks.MuteBlock, Any, frozenset[Hashable] | None], ...]:
        if self.receivers is None:
            return tuple((block, signal, None) for signal in self.signals)
        (signal,) = self.signals
        return ((block, signal, frozenset(self._receiver_ids(signal))),)

    def _receiver_ids(self, signal: Any) -> set[Hashable]:
        """The lookup-key receiver parts of the chosen receivers, checked."""
        records = list(signal._records.values())
        ids: set[Hashable] = set()
        for chosen in self.receivers or ():
            if callable(chosen):
                chosen_id = _signal._make_id(chosen)
                matched = {
                    r[0][0]
                    for r in records
                    if r[0][0] == chosen_id or _signal._live(r) == chosen
                }
                if matched:
                    # Also the receiver itself, for an overridden
                    # _live_receivers that hands out receivers without records.
                    ids |= matched | {chosen_id}
                    continue
            else:
                try:
                    matched = {r[0][0] for r in records if r[0][0] == chosen}
                except TypeError:  # an unhashable "dispatch_uid"
                    matched = set()
                if matched:
                    ids |= matched
                    continue
            raise ValueError(
                f"muted(): {chosen!r} is not connected to {signal!r}, so it cannot be "
                "muted; pass receivers (or dispatch_uids) that are connected to it."
            )
        return ids

    def __enter__(self) -> muted:
        block = _hooks.MuteBlock()
        entries = self._entries(block)  # may raise: nothing changed yet
        self._tokens.append((block, _hooks.MUTED.set(_hooks.MUTED.get() + entries)))
        _hooks.mute_block_entered()
        return self

    def __exit__(self, *exc_info: object) -> None:
        block, token = self._tokens.pop()
        block.active = False  # also for tasks and threads that inherited it
        _hooks.MUTED.reset(token)
        _hooks.mute_block_exited()

    def _copy(self) -> muted:
        return muted(*self.signals, receivers=self.receivers)

    def __call__(self, func: F) -> F:
        """As a decorator: each call of ``func`` runs muted (an ``async def``
        function: inside its coroutine)."""
        import functools

        if _signal.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self._copy():
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._copy():
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]

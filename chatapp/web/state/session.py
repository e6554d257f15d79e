"""The root of one tab's state: whose tab it is, what it has open, and the page's small switches.

Every other substate hangs under this one, so each of them can read these few vars; with Redis, this is the
only state loaded along with whichever substate an event touches.
"""

from __future__ import annotations

import reflex as rx

from ...accounts import owners


class SessionState(rx.State):
    # A random key per browser, kept in its local storage: whose conversations these are.
    owner_key: str = rx.LocalStorage("", name="chatapp_owner", sync=True)
    # The open conversation, kept in the tab's session storage too: a tab whose worker died reconnects to
    # another one whose copy of this state may be older, and a reload keeps what the tab showed.
    conversation_id: str = rx.SessionStorage("", name="chatapp_conversation")
    notice: str = ""
    show_history: bool = False
    show_monitor: bool = False

    def ensure_owner(self) -> None:
        """A browser's first visit has no key yet. The page can send a message before its on_load has run
        (Reflex queues on_load after hydration), so whichever comes first makes the key. A value that isn't
        a key (the browser's storage can send any, at any time) is replaced the same way."""
        if not owners.is_valid_key(self.owner_key):
            self.owner_key = owners.new_key()

    @property
    def owner(self) -> str:
        """The owner id that every query and job check uses: never the key itself (accounts/owners.py)."""
        self.ensure_owner()
        return owners.owner_id(self.owner_key)

    def clear_notice(self) -> None:
        if self.notice:  # assigning a var sends it, even unchanged
            self.notice = ""

    @rx.event
    def dismiss_notice(self) -> None:
        self.clear_notice()

    @rx.event
    def toggle_history(self) -> None:
        self.show_history = not self.show_history
        self.show_monitor = False

    @rx.event
    def toggle_monitor(self) -> None:
        self.show_monitor = not self.show_monitor
        self.show_history = False

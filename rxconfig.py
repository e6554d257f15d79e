import os

import reflex as rx

from chatapp.config import SettingsError, get_settings

try:
    settings = get_settings()
except SettingsError as error:  # a mistyped variable: say which, before Reflex starts anything
    raise SystemExit(str(error)) from None

# One process keeps its tabs' states in memory. Reflex's default for it, the disk manager, pickles every
# changed state every two seconds on the event loop, for nothing: `reflex run` empties its directory at each
# start. With REFLEX_REDIS_URL set, Reflex picks Redis itself (only while this is left unset).
state_manager = (
    {} if os.environ.get("REFLEX_REDIS_URL") else {"state_manager_mode": rx.constants.StateManagerMode.MEMORY}
)
if os.environ.get("REFLEX_REDIS_URL"):
    # Several workers share Redis. Each keeps a tab's state lock while it streams to it, instead of a Redis
    # round trip per update, for 80 % of the lock's lifetime (Reflex's default is half): giving a lease back
    # stores the tab's state and takes it again, and when many tabs' leases ran out together their answers
    # stalled for a few hundred milliseconds.
    lock_ms = int(os.environ.get("REFLEX_REDIS_LOCK_EXPIRATION", "10000"))
    os.environ.setdefault("REFLEX_OPLOCK_ENABLED", "1")
    os.environ.setdefault("REFLEX_OPLOCK_HOLD_TIME", f"{lock_ms * 4 // 5}ms")

config = rx.Config(
    app_name="chatapp",
    # From the app's own settings (CHATAPP_DB_URL or REFLEX_DB_URL), so `reflex db migrate` and the app
    # always use one database.
    db_url=settings.db_url,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
    **state_manager,
)

import reflex as rx

from chatapp.config import SettingsError, get_settings

try:
    settings = get_settings()
except SettingsError as error:  # a mistyped variable: say which, before Reflex starts anything
    raise SystemExit(str(error)) from None

config = rx.Config(
    app_name="chatapp",
    # From the app's own settings (CHATAPP_DB_URL or REFLEX_DB_URL), so `reflex db migrate` and the app
    # always use one database.
    db_url=settings.db_url,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)

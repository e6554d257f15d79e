import os

import reflex as rx

config = rx.Config(
    app_name="chatapp",
    # The same default as chatapp.config, so `reflex db migrate` and the app use one database.
    db_url=os.environ.get("CHATAPP_DB_URL", "sqlite:///chatapp.db"),
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)

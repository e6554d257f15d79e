"""Left panel: this browser's conversations, newest first, under date headings."""

from __future__ import annotations

import reflex as rx

from ..state.conversation import ConversationState
from ..state.session import SessionState
from ..state.sidebar import SidebarState


class ScrollSentinel(rx.Component):
    """Asks for the next page once the end of the list scrolls into view (assets/scroll_sentinel.jsx)."""

    library = "$/public/scroll_sentinel.jsx"
    tag = "ScrollSentinel"
    marker: rx.Var[str]
    on_visible: rx.EventHandler[rx.event.passthrough_event_spec(str)]


def _rename_dialog(row: rx.Var) -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.icon_button(rx.icon("pencil", size=14), variant="ghost", size="1", aria_label="Rename")
        ),
        rx.dialog.content(
            rx.dialog.title("Rename conversation"),
            rx.form(
                rx.input(
                    name="title",
                    default_value=row["title"],
                    max_length=200,
                    auto_focus=True,
                    aria_label="Title",
                ),
                rx.input(name="id", type="hidden", value=row["id"]),
                rx.flex(
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                    rx.dialog.close(rx.button("Save", type="submit")),
                    gap="2",
                    justify="end",
                    margin_top="12px",
                ),
                # The sidebar's row, then the header if it is the open conversation (both read the form).
                on_submit=[SidebarState.rename_chat, ConversationState.refresh_header],
            ),
        ),
    )


def _delete_dialog(row: rx.Var) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.icon_button(
                rx.icon("trash-2", size=14),
                variant="ghost",
                size="1",
                color_scheme="red",
                aria_label="Delete",
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete this conversation?"),
            rx.alert_dialog.description(
                rx.text("“", row["title"], "” and all its messages will be deleted. This can't be undone.")
            ),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Delete",
                        color_scheme="red",
                        high_contrast=True,  # white on Radix's red-9 is 3.9:1
                        on_click=[SidebarState.delete_chat(row["id"]), ConversationState.forget(row["id"])],
                    )
                ),
                gap="2",
                justify="end",
                margin_top="12px",
            ),
        ),
    )


def _pin_button(row: rx.Var) -> rx.Component:
    pinned = row["pinned"] == "1"
    return rx.icon_button(
        rx.cond(pinned, rx.icon("pin-off", size=14), rx.icon("pin", size=14)),
        variant="ghost",
        size="1",
        aria_label=rx.cond(pinned, "Unpin", "Pin"),
        on_click=SidebarState.toggle_pin(row["id"]),
    )


def _file_popover(row: rx.Var) -> rx.Component:
    """Files the conversation under a category, by name: an existing one, or a new one."""
    return rx.popover.root(
        rx.popover.trigger(
            rx.icon_button(rx.icon("tag", size=14), variant="ghost", size="1", aria_label="Category")
        ),
        rx.popover.content(
            rx.form(
                rx.vstack(
                    rx.text("Category", size="2", weight="bold"),
                    rx.input(
                        name="category",
                        placeholder="Work, Travel, …",
                        list="category-names",
                        max_length=60,
                        auto_focus=True,
                    ),
                    rx.el.datalist(
                        rx.foreach(SidebarState.categories, lambda c: rx.el.option(value=c["name"])),
                        id="category-names",
                    ),
                    rx.input(name="id", type="hidden", value=row["id"]),
                    rx.text(
                        "Leave it empty to take the conversation out of its category.",
                        size="1",
                        class_name="muted",
                    ),
                    rx.popover.close(rx.button("File", type="submit", size="1")),
                    gap="2",
                ),
                on_submit=[SidebarState.file_chat, ConversationState.refresh_header],
                reset_on_submit=True,
            ),
        ),
    )


def _category_filter() -> rx.Component:
    return rx.hstack(
        rx.select.root(
            rx.select.trigger(
                placeholder="All conversations",
                id="category-filter",
                width="100%",
                aria_label="Show conversations of a category",
            ),
            rx.select.content(
                rx.select.item("All conversations", value="all"),
                rx.foreach(SidebarState.categories, lambda c: rx.select.item(c["name"], value=c["id"])),
            ),
            value=rx.cond(SidebarState.category_filter == "", "all", SidebarState.category_filter),
            on_change=SidebarState.filter_by_category,
            size="1",
        ),
        _categories_dialog(),
        width="100%",
        align="center",
    )


def _category_row(category: rx.Var) -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(name="name", default_value=category["name"], max_length=60, size="1"),
            rx.input(name="id", type="hidden", value=category["id"]),
            rx.button("Rename", type="submit", size="1", variant="soft"),
            rx.button(
                "Delete",
                type="button",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=SidebarState.delete_category(category["id"]),
            ),
            align="center",
        ),
        on_submit=SidebarState.rename_category,
    )


def _categories_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.icon_button(
                rx.icon("tags", size=14), variant="ghost", size="1", aria_label="Manage categories"
            )
        ),
        rx.dialog.content(
            rx.dialog.title("Categories"),
            rx.cond(
                SidebarState.categories.length() > 0,
                rx.vstack(rx.foreach(SidebarState.categories, _category_row), gap="2"),
                rx.text("No categories yet: file a conversation under one with its tag button.", size="2"),
            ),
            rx.text(
                "Deleting a category keeps its conversations.", size="1", class_name="muted", margin_top="8px"
            ),
            rx.flex(rx.dialog.close(rx.button("Close", variant="soft")), justify="end", margin_top="12px"),
        ),
    )


def _row(row: rx.Var) -> rx.Component:
    selected = row["id"] == SessionState.conversation_id
    return rx.fragment(
        rx.cond(row["heading"] != "", rx.text(row["heading"], class_name="history-heading")),
        rx.hstack(
            rx.el.button(
                row["title"],
                type="button",
                class_name="history-title",
                on_click=ConversationState.open_chat(row["id"]),
                title=row["title"],
                aria_current=rx.cond(selected, "page", "false"),
            ),
            rx.hstack(
                _pin_button(row),
                _file_popover(row),
                _rename_dialog(row),
                _delete_dialog(row),
                class_name="history-actions",
                gap="1",
            ),
            class_name=rx.cond(selected, "history-row history-row-selected", "history-row"),
            data_conversation_id=row["id"],
            align="center",
        ),
    )


def history_panel() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Chats", size="4"),
            rx.spacer(),
            rx.button(
                rx.icon("square-pen", size=16),
                "New chat",
                id="new-chat",
                on_click=ConversationState.new_chat,
                size="2",
            ),
            width="100%",
            align="center",
        ),
        rx.input(
            placeholder="Search conversations",
            id="history-search",
            value=SidebarState.search_query,
            on_change=SidebarState.search.debounce(250),
            type="search",
            max_length=200,
            width="100%",
            size="2",
        ),
        rx.cond(SidebarState.search_query != "", _search_results(), _conversation_list()),
        height="100%",
        width="100%",
        gap="3",
    )


def _search_result(hit: rx.Var) -> rx.Component:
    return rx.el.button(
        # Spans, as a button may hold only those: the title, then the words found, each on a line.
        rx.el.span(hit["title"], class_name="history-title search-title"),
        rx.el.span(hit["snippet"], class_name="muted search-snippet"),
        type="button",
        class_name="history-row search-result",
        on_click=ConversationState.open_result(hit["conversation_id"], hit["message_id"]),
    )


def _search_results() -> rx.Component:
    return rx.box(
        rx.cond(
            SidebarState.search_results.length() > 0,
            rx.foreach(SidebarState.search_results, _search_result),
            rx.text("Nothing found.", class_name="muted"),
        ),
        id="search-results",
        class_name="history-list",
    )


def _conversation_list() -> rx.Component:
    return rx.fragment(
        _category_filter(),
        rx.box(
            rx.cond(
                SidebarState.history.length() > 0,
                rx.foreach(SidebarState.history, _row),
                rx.text("No conversations yet.", class_name="muted"),
            ),
            rx.cond(
                SidebarState.history_cursor != "",
                ScrollSentinel.create(
                    rx.text("Loading older conversations…", size="1", class_name="muted"),
                    marker=SidebarState.history_cursor,
                    on_visible=SidebarState.load_more_history,
                    id="history-more",
                ),
            ),
            id="history",
            class_name="history-list",
            data_scroll_root=True,
        ),
    )

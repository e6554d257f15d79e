"""Naming a new conversation: the model's suggestion read with care, and a title of the user's own words."""

from __future__ import annotations

import pytest

from chatapp.domain import ChatOptions
from chatapp.providers.mock import MockProvider
from chatapp.turns import naming

OFFERED = naming.offered_categories(["Recipes"])


def test_offered_categories_put_the_users_own_first_and_end_with_the_way_out():
    assert OFFERED[0] == "Recipes"
    assert "Coding" in OFFERED and OFFERED[-1] == naming.NO_CATEGORY
    # A default the user already has, in any case, is offered once.
    assert naming.offered_categories(["coding"]).count("Coding") == 0


@pytest.mark.parametrize(
    ("reply", "title", "category"),
    [
        # Replies the bundled SmolLM2-135M gave in a trial, and how each is read.
        ("Title: Reverse a list in Python\nCategory: Coding", "Reverse a list in Python", "Coding"),
        ("Title: Pancakes recipe\nCategory: Cooking, Science, Health", "Pancakes recipe", None),
        ("Title: Lisbon with kids\nCategory: Travel", "Lisbon with kids", "Travel"),
        (
            "Title: Quantum entanglement: the ultimate science fiction\nCategory: Science",
            "Quantum entanglement",
            "Science",
        ),
        ('**Title:** "Autumn Leaves"\nCategory: writing', "Autumn Leaves", "Writing"),
        ("Title: Hello\nCategory: Other", "Hello", None),
    ],
)
def test_a_usable_suggestion_is_taken_as_the_model_wrote_it(reply, title, category):
    question = {
        "Reverse": "How do I reverse a list in Python?",
        "Pancakes": "Give me a recipe for pancakes",
        "Lisbon": "Plan a weekend in Lisbon with kids",
        "Quantum": "Explain quantum entanglement simply",
        "Autumn": "Write a poem about autumn leaves",
        "Hello": "hi",
    }[title.split()[0]]

    label = naming.read(reply, question, "Hello! Here is what I know.", OFFERED)

    assert (label.title, label.category, label.by_model) == (title, category, True)


@pytest.mark.parametrize(
    "reply",
    [
        "",  # the request failed or timed out
        # The model answered the question instead of naming it.
        "You can reverse a list in Python using slicing with a step of -1 or the built-in reversed()",
        "Title: Medieval castles of Bavaria\nCategory: Travel",  # nothing to do with the exchange
        "Title: ?!\nCategory: Coding",
    ],
)
def test_an_unusable_suggestion_gives_way_to_a_title_from_the_message(reply):
    label = naming.read(reply, "How do I reverse a list in Python?", "Use slicing: items[::-1].", OFFERED)

    assert label.title == "Reverse a list in Python"
    assert not label.by_model


@pytest.mark.parametrize(
    ("message", "title"),
    [
        (
            "Could you please plan a weekend in Lisbon with the kids?",
            "Plan a weekend in Lisbon with the kids",
        ),
        ("/mock tokens=5\nhello, tell me a joke", "Tell me a joke"),
        (
            "Hi, can you help me write a cover letter for a job at a bakery in town",
            "Write a cover letter for a job",
        ),
        ("   \n\nwhat's 2+2\nsecond line", "What's 2+2"),
        ("?", "New conversation"),
    ],
)
def test_a_title_from_the_message_is_short_and_reads_like_a_title(message, title):
    assert naming.title_from_message(message) == title


async def test_the_mock_names_a_conversation_by_what_it_says_without_using_a_queued_answer():
    provider = MockProvider(latency_ms=0, tokens_per_s=10_000)
    provider.script("the queued answer")
    request = naming.request("/mock tokens=3\nAny recipes for a quick dinner?", OFFERED)

    reply = await provider.complete(request, ChatOptions())

    assert reply == "Title: Any recipes for a quick dinner\nCategory: Recipes"
    assert list(provider.queue) and provider.requests == [] and len(provider.one_shot_requests) == 1


def test_a_greeting_without_its_comma_is_part_of_the_title():
    assert naming.title_from_message("Hello REST") == "Hello REST"

"""How far the app's token estimates are from a real count, for a gpt-4o-family model, by script.

For each text it prints the count of bpe-openai's own o200k_base tokenizer (a Rust implementation apart
from tiktoken, the reference here), the app's estimate (tiktoken with the o200k_base file the app ships), and
what the estimate was before the app shipped o200k_base (cl100k_base, as it counted every model then).
Prints numbers; asserts nothing. Run: `.venv/bin/python benchmarks/token_estimates.py`.
"""

from __future__ import annotations

import bpe_openai

from chatapp.metering import tokens

TEXTS = {
    "English": "Spring in Lisbon is mild. Bring a light jacket for the evenings and comfortable shoes for "
    "the steep lanes of the old town; the trams are crowded after nine.",
    "German": "Im Frühling ist das Wetter in Lissabon mild. Für die Abende empfiehlt sich eine leichte "
    "Jacke, und bequeme Schuhe für die steilen Gassen der Altstadt.",
    "Russian": "Весной в Лиссабоне мягкая погода. Возьмите лёгкую куртку на вечер и удобную обувь для "
    "крутых улочек старого города.",
    "Chinese": "里斯本的春天气候温和，白天适合散步。晚上气温会下降，"
    "建议带一件薄外套，并穿舒适的鞋子走老城区的坡道。",
    "Hindi": "वसंत में लिस्बन का मौसम सुहावना रहता है। शाम को हल्की ठंड होती है, इसलिए एक हल्की जैकेट और "
    "पुराने शहर की ढलानों के लिए आरामदायक जूते साथ रखें।",
    "code with emoji": 'def greet(name: str) -> str:\n    return f"👋 Olá, {name}! 🎉"  # ünïcode\n' * 3,
}


def main() -> None:
    reference = bpe_openai.get_encoding("o200k_base")
    now, before = tokens.encoding_for("gpt-4o"), tokens.encoding_for("gpt-4")
    print(f"{'text':16} {'reference':>9} {'estimate':>9} {'off':>7} {'cl100k_base':>12} {'off':>7}")
    for name, text in TEXTS.items():
        real = len(reference.encode(text))
        estimate, old = tokens.count(text, now), tokens.count(text, before)
        print(
            f"{name:16} {real:>9} {estimate:>9} {100 * (estimate - real) / real:>+6.1f}% "
            f"{old:>12} {100 * (old - real) / real:>+6.1f}%"
        )


if __name__ == "__main__":
    main()

"""Word and sentence statistics for plain-text documents, used by a readability report."""

from __future__ import annotations

import re
from collections import Counter

WORD = re.compile(r"[A-Za-z']+")
SENTENCE_END = re.compile(r"[.!?]+")
STOPWORDS = frozenset({"the", "a", "an", "and", "or", "of", "to", "in", "is", "it"})


def words(text):
    return [w.lower() for w in WORD.findall(text)]


def sentences(text):
    parts = SENTENCE_END.split(text)
    return [p.strip() for p in parts if p.strip()]


def word_frequencies(text, skip_stopwords=True):
    counts = Counter(words(text))
    if skip_stopwords:
        for stop in STOPWORDS:
            counts.pop(stop, None)
    return counts


def top_words(text, n=10):
    return [word for word, _ in word_frequencies(text).most_common(n)]


def count_syllables(word):
    word = word.lower()
    vowels = "aeiouy"
    count = 0
    previous = False
    for ch in word:
        is_vowel = ch in vowels
        if is_vowel and not previous:
            count += 1
        previous = is_vowel
    if word.endswith("e") and count > 1:
        count -= 1
    return max(count, 1)


def flesch_reading_ease(text):
    ws = words(text)
    ss = sentences(text)
    if not ws or not ss:
        return 0.0
    syllables = sum(count_syllables(w) for w in ws)
    return 206.835 - 1.015 * (len(ws) / len(ss)) - 84.6 * (syllables / len(ws))


def longest_sentence(text):
    return max(sentences(text), key=len, default="")


def summary(text):
    ws = words(text)
    return {
        "words": len(ws),
        "sentences": len(sentences(text)),
        "unique": len(set(ws)),
        "reading_ease": round(flesch_reading_ease(text), 1),
    }

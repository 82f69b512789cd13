"""Hypothesis strategies that mutate a valid token: bit flips, truncation, padding, other alphabets, huge inputs."""

from __future__ import annotations

from hypothesis import strategies as st


def _flip(token: str, index: int, bit: int) -> str:
    i = index % len(token)
    return token[:i] + chr(ord(token[i]) ^ (1 << bit)) + token[i + 1 :]


def _other_alphabet(token: str) -> str:
    # standard base64 instead of URL-safe, and look-alike letters
    return token.replace("-", "+").replace("_", "/").replace("a", "\u0430").replace("O", "0")


def mutations(token: str) -> st.SearchStrategy[str]:
    n = len(token)
    return st.one_of(
        st.builds(_flip, st.just(token), st.integers(0, n - 1), st.integers(0, 7)),
        st.integers(1, n - 1).map(lambda k: token[:k]),
        st.integers(1, 4).map(lambda k: token + "=" * k),
        st.integers(0, n).map(lambda k: token[:k] + "=" + token[k:]),
        st.just(_other_alphabet(token)),
        st.integers(2, 300).map(lambda k: token * k),
        st.integers(1_000, 200_000).map(lambda k: token + "A" * k),
        st.tuples(st.integers(0, n), st.text(min_size=1, max_size=12)).map(
            lambda p: token[: p[0]] + p[1] + token[p[0] :]
        ),
        st.tuples(st.integers(0, n - 1), st.sampled_from("ABCxyz019-_.")).map(
            lambda p: token[: p[0]] + p[1] + token[p[0] + 1 :]
        ),
    ).filter(lambda m: m != token)

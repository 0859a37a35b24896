"""Render a first-person clause as a third-person statement about the user.

"I'm gluten-free" -> "Is gluten-free"; "I work at a hospital as a nurse" -> "Works at a
hospital as a nurse"; "I usually take the train to work" -> "Usually takes the train to work";
"I can't eat nuts" -> "Cannot eat nuts"; "I studied nursing" -> "Studied nursing" (a past is
kept: life history). The subject is dropped (the user is implied), the
finite verb is put in the third person singular by lemminflect (an inflection library built
on spaCy's tags, so irregular verbs come out right), "my" becomes "their", and a pronoun object
("them", "it", "ones") is replaced by the noun phrase it refers to, or the clause is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from selfmodel.observer.extractors.inflection import inflect

# Dependents that are not part of what the clause says about the user: the subject, other
# clauses joined to it, discourse words, and punctuation.
_CUT_DEPS = frozenset({"nsubj", "nsubjpass", "expl", "cc", "conj", "advcl", "parataxis",
                       "punct", "intj", "mark", "discourse", "vocative", "dep", "meta",
                       "preconj"})
_CONTRACTIONS = {"'m": "am", "'re": "are", "'ve": "have", "'d": "would", "ca": "can",
                 "wo": "will", "n't": "not", "'ll": "will", "sha": "shall"}
_POSSESSIVE = {"my": "their", "mine": "theirs", "myself": "themselves", "our": "their"}
_REFERRING = frozenset({"it", "them", "they", "ones", "one", "these", "those"})


def clause_tokens(verb: Any) -> list[Any]:
    """The verb's own clause: its subtree without subject, joined clauses and punctuation."""
    cut: set[int] = set()
    for child in verb.children:
        if child.dep_ == "advcl" and not _own_clause(child, verb):
            continue
        if child.dep_ in _CUT_DEPS:
            cut.update(t.i for t in child.subtree)
    for token in verb.subtree:
        if token.i in cut or token.i == verb.i:
            continue
        if (token.dep_ == "prep" and _to_me(token)) or _own_clause(token, verb) or (
                _aside_relative(token)):
            cut.update(t.i for t in token.subtree)  # read on its own, or the user, implied
    subject = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")), None)
    if subject is not None:  # "For the record, I keep bees": a frame, not the statement
        for child in verb.children:
            if child.i < subject.i and child.dep_ in ("prep", "npadvmod", "advmod"):
                cut.update(t.i for t in child.subtree)
    tokens = sorted((t for t in verb.subtree if t.i not in cut and not (
        t.tag_ in ("WRB", "WP") and t.i < verb.i)), key=lambda t: t.i)  # a non-projective
    # parse lists a subtree out of order; "(of) how I tend to...": the wh-word is not said
    while tokens and (tokens[-1].is_punct or (tokens[-1].pos_ in ("CCONJ", "SCONJ", "ADP", "DET")
                                              and tokens[-1].dep_ != "prt")
                      or tokens[-1].lower_ in ("please", "too", "also", "as well")):
        tokens.pop()
    while tokens and (tokens[0].is_punct or tokens[0].pos_ in ("CCONJ", "SCONJ", "INTJ")):
        tokens.pop(0)
    # "as I have a phobia of heights myself": an emphatic "myself" adds nothing
    return [t for t in tokens if not (t.lower_ == "myself" and t.dep_ not in (
        "dobj", "pobj", "dative"))]


def _own_clause(token: Any, verb: Any) -> bool:
    """A clause inside the subtree that is read on its own: an adverbial clause ("as I find
    it dull"), a verb joined by "and" ("... and refuse to engage"), a clause whose subject is
    the user ("decor I purchase")."""
    if token.dep_ == "advcl" and any(c.dep_ == "mark" and c.lower_ in ("unless", "except")
                                     for c in token.children):
        return False  # "unless they include music therapy": part of the preference
    if token.dep_ in ("advcl", "parataxis") or (token.dep_ == "pcomp" and token.pos_ in (
            "VERB", "AUX") and any(c.dep_ == "nsubj" for c in token.children)):
        return True  # "as I find it dull", "for what it's worth"
    if token.dep_ == "conj" and token.head.i == verb.i and token.pos_ in ("VERB", "AUX") \
            and token.tag_ not in ("VBG", "VBN"):
        return True  # "I'm vegan and avoid honey": read on its own; not "participate in or
        # support X" under "refuse to", nor gerunds joined as one object
    return token.pos_ in ("VERB", "AUX") and any(
        c.dep_ in ("nsubj", "nsubjpass") and (c.lower_ == "i" or c.i < token.head.i)
        for c in token.children)  # "(to me,) it looks dated, so I avoid...": another clause


def noun_phrase(noun: Any) -> list[Any]:
    """The noun phrase's own words: its subtree without what is set off by a comma and
    carries a clause or a second noun phrase ("Glacier National Park, the landscapes there
    are just incredible, is my favorite spot": the value is "Glacier National Park"), so a
    run-on clause is never fused into a value."""
    cut: set[int] = set()
    for token in noun.subtree:
        if token.i == noun.i or token.i in cut:
            continue
        if token.dep_ in ("appos", "relcl", "acl") and _after_comma(token):
            cut.update(t.i for t in token.subtree)
    return [t for t in noun.subtree if t.i not in cut]


def _after_comma(token: Any) -> bool:
    return token.i > token.head.i and any(
        t.is_punct and t.text in (",", "(", "-", "\u2014")
        for t in token.doc[token.head.i + 1:token.left_edge.i])


def _aside_relative(token: Any) -> bool:
    """', which ...': a relative clause set off by a comma adds to its noun on the side
    ("I have a dog, which I walk twice a day"); the statement is whole without it."""
    return token.dep_ == "relcl" and token.i > 0 and any(
        t.is_punct and t.text == "," for t in token.doc[token.head.i + 1:token.left_edge.i])


def _to_me(prep: Any) -> bool:
    objects = [c for c in prep.children if c.dep_ == "pobj"]
    return len(objects) == 1 and objects[0].lower_ in ("me", "myself") and not any(
        True for c in prep.children if c.dep_ != "pobj")


def resolve(tokens: Sequence[Any], antecedents: Sequence[Any]) -> list[str] | None:
    """Words of the clause with pronoun objects replaced by the noun phrase they point to
    (the nearest earlier noun phrase of the user's own words), or None when one cannot be."""
    words: list[str] = []
    for n, token in enumerate(tokens):
        if n and tokens[n - 1].i + 1 != token.i and words and not words[-1].endswith(" "):
            words[-1] += " "  # words were cut between these two
        low = token.lower_
        is_object = token.dep_ in ("dobj", "pobj", "attr", "nsubjpass", "dative")
        if is_object and low in _REFERRING and token.pos_ in ("PRON", "NOUN", "NUM", "DET"):
            phrase = _antecedent(token, antecedents)
            if phrase is None:
                return None
            words.append(phrase + token.whitespace_)
            continue
        words.append(_word(token))
    return words


def _antecedent(token: Any, antecedents: Sequence[Any]) -> str | None:
    """The closest preceding noun chunk that is not a pronoun and not the user; "ones" keeps
    its own modifiers ("the red ones" -> "the red shoes")."""
    verb = token.head
    while verb.pos_ not in ("VERB", "AUX") and verb.head.i != verb.i:
        verb = verb.head
    earlier = [c for c in antecedents if c.end <= token.i or c.doc is not token.doc]
    for chunk in reversed(earlier):
        root = chunk.root
        if root.pos_ in ("PRON",) or root.lower_ in _REFERRING:
            continue
        if root.doc is token.doc and root.head.i == verb.i and root.dep_ in ("dobj", "attr"):
            continue  # "I have more time for it": not the object of its own verb
        if token.lower_ in ("ones", "one"):
            return root.text if token.tag_ == "NN" else _plural(root)
        words = [uncapitalized(t) for t in chunk
                 if t.dep_ != "det" and t.lower_ not in _POSSESSIVE]
        return " ".join(words) or None
    return None


def _plural(root: Any) -> str:
    if root.tag_ in ("NNS", "NNPS"):
        return str(root.text)
    found = inflect(root.lemma_, "NNS")
    return str(found[0]) if found else str(root.text)


def uncapitalized(token: Any) -> str:
    """The token's text without the capital its place at the start of a sentence gave it
    ("Dairy makes me sick, so I avoid it" -> "Avoids dairy"); names and acronyms keep theirs."""
    text = str(token.text)
    if token.is_sent_start and token.pos_ != "PROPN" and not text.isupper() and text != "I":
        return text[:1].lower() + text[1:]
    return text


def _word(token: Any) -> str:
    low = token.lower_
    text = str(_POSSESSIVE.get(low) or _CONTRACTIONS.get(low) or uncapitalized(token))
    if (low in _CONTRACTIONS and not low[0].isalpha()) or low == "n't":
        text = " " + text  # "don't" -> "do not": the expansion needs its own space
    return text + str(token.whitespace_)


def third_person(tokens: Sequence[Any], words: list[str]) -> str:
    """The clause's words with its first finite verb in the third person singular."""
    out = list(words)
    for n, token in enumerate(tokens):
        if token.pos_ == "ADV" or token.dep_ == "neg":
            continue
        if token.tag_ in ("VBP", "VB", "VBD") or (token.pos_ == "AUX" and token.tag_ != "MD"):
            out[n] = _finite(token) + token.whitespace_
        break
    text = " ".join("".join(out).split())
    text = text.replace("can not", "cannot").replace(" ,", ",")
    return text[:1].upper() + text[1:]


def _finite(token: Any) -> str:
    """The third person of the finite verb; a past stays past ("studied", "was": life
    history), unless its form is also the present ("put", "read")."""
    lemma = token.lemma_.lower()
    if token.tag_ == "VBD":
        present = inflect(lemma, "VBP")
        if token.lower_ in ("was", "were"):
            return "was"
        if not (present and present[0] == token.lower_):
            return str(token.lower_)
    if lemma == "be":
        return "is"
    if lemma == "do" and token.i + 1 < len(token.doc) and token.doc[token.i + 1].dep_ == "neg":
        return "does"
    found = inflect(lemma, "VBZ")
    return str(found[0]) if found else str(token.text)


def has_first_or_second_person(words: Sequence[str]) -> bool:
    joined = f" {''.join(words).lower()} "
    return any(f" {w} " in joined for w in ("i", "me", "you", "your", "yours", "we", "us"))

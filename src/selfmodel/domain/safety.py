"""Stored-prompt-injection guard: text that reads as instructions never becomes a belief.

Belief text comes from users (and from whatever they paste), and a stored belief is replayed
into every later request of that user. So the text an extractor, the API or a PATCH wants to
store is checked here, the normalized statement and the raw quote alike, and refused when it:

- carries characters a person cannot see (control, zero-width, bidi, Unicode tag characters:
  the "ASCII smuggling" channel), or a long encoded blob;
- carries template syntax (Jinja ``{{ {% {#``) or chat role markers (``system:``,
  ``<|im_start|>``, ``[INST]``, ``### Instruction``, ``<system>``...);
- carries a markdown image or a URL with a query string (the exfiltration channels);
- carries a link in any form, or dictates content for the answers (a quoted string, a code
  word, a secret to reveal): domain/answer_content.py;
- uses a known injection phrase: override ("ignore previous instructions"), leak ("reveal the
  system prompt"), identity ("you are now", "act as", "developer mode"), "new instructions:";
- or, scored clause by clause, is a directive to the assistant that goes beyond the form of
  this user's answers: it pushes content ("always recommend X", "mention", "tell"), reaches
  other users ("every user"), hides itself ("do not tell the user"), or is meant to persist
  ("from now on", "in all future conversations").

What users actually say about themselves passes: first-person facts ("I always want code
first"), and requests about the *form* of their answers ("Please keep answers short", "Never
use emojis", "Answer in French"), because those are the preferences selfmodel exists to keep.
The line drawn is: instructions on how to answer *me* are preferences; instructions on what to
say, to whom, or what to ignore are not.
"""

from __future__ import annotations

import re
import unicodedata

from selfmodel.domain.answer_content import answer_content_reason

_ALLOWED_CONTROLS = frozenset("\t\n\r\u200d")  # ZWJ joins emoji; the rest is visible layout
_TEMPLATE = re.compile(r"\{\{|\{%|\{#|%\}|#\}|\}\}")
_ROLE_TOKEN = re.compile(
    r"<\|[a-z_ ]{2,30}\|>|\[/?inst\]|<</?sys>>|</?s>|<start_of_turn>|<end_of_turn>"
    r"|###\s*(instruction|system|response|input|human|assistant|user)s?\b"
    r"|\[(system|assistant|user|developer)\]",
    re.IGNORECASE,
)
_ROLE_TAG = re.compile(
    r"</?\s*(system|assistant|developer|user|human|ai|model|tool|function|instructions?|prompt"
    r"|sys|admin|important|user_profile|profile|memory|context|im_start|im_end|override)"
    r"(\s[^>]*)?>",
    re.IGNORECASE,
)
_ROLES = r"(system|assistant|developer|human|user|ai|model|tool|chatgpt|bot)"
_ROLE_LINE = re.compile(
    rf"(^|[\n.!?>\]}})]\s*)[#*>\-\s]{{0,4}}{_ROLES}\s*(message|prompt|note)?\s*:"
    r"|(?-i:\b(SYSTEM|System|ASSISTANT|Assistant|DEVELOPER|Developer)\s*:)"
    r"|\bsystem\s*(prompt|message|note|override|instruction|update)s?\s*:",
    re.IGNORECASE,
)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\s*\(")
_CODE_FENCE = re.compile(r"```|~~~")
_URL = re.compile(r"\b(?:https?|ftp|data|javascript)s?:\S+|\bwww\.\S+", re.IGNORECASE)
_BLOB = re.compile(r"(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[A-Z])[A-Za-z0-9+/]{40,}={0,2}")
_AI = r"(ai|assistant|model|llm|chatbot|bot|agent|gpt|chatgpt|claude|gemini|copilot)"

_PHRASES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE))
    for reason, pattern in (
        (
            "tells the model to ignore its instructions",
            r"\b(ignore|disregard|forget|override|bypass|overrule|neglect|abandon|discard)\b"
            r"(\W+\w+){0,5}?\W+(instructions?|prompts?|rules|guidelines|directives?|directions"
            r"|programming|guardrails?|restrictions?|constraints?|polic(y|ies)|filters?|safety"
            r"|safeguards?|training|ethics)\b"
            r"|\b(ignore|disregard|forget)\s+(everything|anything|all|what|whatever)\s+(above"
            r"|before|prior|previous|earlier|else|you|that|said)"
            r"|\b(follow|obey|execute|comply with|carry out)\s+(only\s+)?(these|the following"
            r"|the below|below|new|those|the new|hidden)\s+(instructions?|commands?"
            r"|directives?|orders?|rules)\b",
        ),
        (
            "tells the model to ignore its instructions",
            r"\b(ignor\w*|olvid\w*|oubli\w*|vergiss\w*)\b(\W+\w+){0,4}?\W+"
            r"(instrucc\w*|instruct\w*|anweisung\w*|consignes?|regla\w*|règles?|regeln)\b",
        ),
        (
            "asks for the system prompt or secrets",
            r"\b(reveal|print|show|output|repeat|display|leak|dump|tell|give|share|expose|echo"
            r"|return|disclose|spell[- ]?check|translate|summari[sz]e|recite|write out)\b"
            r"(\W+\w+){0,5}?\W+((system|developer|hidden|initial|secret|internal)\W+(prompts?"
            r"|instructions?|messages?|rules|configuration)|(above|previous|prior|original"
            r"|full|your)\W+(prompts?|instructions?))\b",
        ),
        (
            "asks for credentials",
            r"\b(reveal|print|output|leak|share|send|give|tell|expose|read|include|pass|post)\b"
            r"(\W+\w+){0,5}?\W+(passwords?|api[ _-]?keys?|credentials|(access|auth|session"
            r"|bearer) tokens?|private keys?|ssh keys?|id_rsa|\.env|session cookies?)\b",
        ),
        (
            "rewrites the model's identity",
            r"\b(you are|you're|you will be|you'll be|you will|you'll)\s+(now|no longer"
            r"|henceforth|from now on)\b|\bfrom now on,?\s+you\b|\byour\s+(new\s+)?(name|role"
            r"|task|goal|purpose|job|objective|persona|identity|instructions)\s+(is|are|will be)\b"
            r"|\b(developer|debug|god|dan|unrestricted|jailbreak|sudo|admin)\s+mode\b"
            r"|\bjailbr[eo]a?k\w*|\bdo anything now\b|(?-i:\bDAN\b)"
            r"|\b(pretend|imagine)\s+(that\s+)?(you|to be)\b|\bimpersonate\b"
            r"|\brole-?play\s+as\b"
            rf"|\byou are (a|an)\s+(\w+\s+){{0,3}}{_AI}\b",
        ),
        (
            "announces new instructions",
            r"\b(new|updated|additional|real|actual|true|revised|important|secret|hidden|override)"
            r"\s+(system\s+)?(instructions?|directives?|commands?|rules|prompt)\b\s*[:\-]"
            rf"|\b(instructions?|directives?|commands?|message|note)\s+(for|to)\s+(the\s+)?{_AI}s?\b"
            rf"|\bif you are (an?\s+)?{_AI}\b|\bif you('re| are) (an?\s+)?language model\b"
            rf"|\b{_AI}s?\s+(reading|processing|summari[sz]ing) this\b"
            r"|\bthe user (has\s+)?(wants|asked|asks|requested|requests|instructs|instructed"
            r"|would like)\s+(you|that you|the assistant)\b"
            r"|\bend of (the\s+)?(system\s+)?(prompt|instructions)\b"
            r"|\b(store|save|add|write|remember|commit|record|update|create)\s+(this|the"
            r" following|a|these|new|the)\s+(new\s+)?(memory|memories|fact|facts|note|entry)\s*:",
        ),
        (
            "hides itself from the user",
            r"\b(without|don'?t|do not|never)\s+(telling|informing|alerting|notifying|tell"
            r"|inform|alert|notify|mention\w*|reveal\w*|let)\s+(this\s+)?(to\s+)?(the\s+)?"
            r"(user|them)\b(?!\s+to\b)|\b(tell|mention|reveal|disclose)\w*\s+(\w+\s+){0,2}about"
            r"\s+(these|this|the|my|our)\s+(instructions?|prompt|message|rules)\b",
        ),
        (
            "tells the model to act as someone else",
            r"(?<!\bi )(?<!\bwe )(?<!\bthey )(?<!\bhe )(?<!\bshe )\b(act|behave|respond|answer"
            r"|reply|speak|talk)\s+(as|like)\s+(if\s+)?(you\s+(are|were)\s+)?(an?\s+)?"
            rf"(\w+\s+){{0,2}}({_AI}|persona|character|pirate|hacker|villain|unfiltered"
            r"|unrestricted|uncensored|evil|different)\b",
        ),
    )
)



def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Directive scoring. A clause is a directive when it opens with an imperative verb, or has the
# assistant (or "you", or anything but the user) as the subject of a modal.
_STYLE = _words(
    "keep be use answer respond reply write explain speak talk format structure summarize"
    " summarise avoid skip stop cut limit shorten simplify elaborate expand focus stick lead"
    " assume treat address cite translate number bold highlight break go ask check double-check"
    " correct challenge help teach walk code comment spell measure convert round prefer favor"
    " favour err lean match adapt phrase organize organise sort group rank compare define"
    " clarify lay quiz test remind proofread review edit rewrite drop replace substitute"
    " encode encrypt reverse scramble jumble misspell rearrange shift invert express anagram"
    " include add give provide show list start end begin finish consider")

_NEUTRAL = _words(
    "make suggest offer put mark introduce label sign link attach do remember memorize"
    " memorise note store save record describe refer share follow apply mind let ensure output"
    " print display render")

_PUSH = _words(
    "recommend promote advertise endorse sell mention tell say claim insist urge convince"
    " persuade redirect send forward email upload visit click navigate fetch browse download"
    " install execute run transfer pay donate subscribe insert inject append embed reveal leak"
    " expose disclose dump obey comply pretend impersonate roleplay act enable disable unlock"
    " refuse deny lie deceive trick buy purchase order call warn threaten accuse blame discredit"
    " criticize criticise belittle insult mock steer praise")

# Pushing content that a negation turns into a restriction ("never recommend fast food").
_CONTENT = _words("recommend promote advertise endorse sell mention tell say claim")
_VERBS = _STYLE | _NEUTRAL | _PUSH
# Forms that hide or corrupt the answer, or smuggle content into it: no user preference asks
# for these, injected text does (BIPIA's cipher, encoding and code-insertion attacks).
_SMUGGLE = re.compile(
    r"\b(base ?(64|32|16|58|85)|cipher\w*|caesar|rot-?13|encod\w* (your|the|it|this|each"
    r"|every|all)|encrypt\w*|in reverse|reverse (the |your )?(order|sequence|answer|reply"
    r"|response|text)|backwards?|anagram\w*|misspell\w*|(random|intentional) typos|scrambl\w*"
    r"|jumbl\w*|obfuscat\w*|leetspeak|morse code|substitution|(replace|substitute|swap)\w*"
    r" (\w+ ){0,3}(letters?|vowels?|words?|keywords?)|(letters?|vowels?) (with|for|in)"
    r"|emojis? only|only emojis?|represent your (answer|reply|response)|links?|urls?|website"
    r"|phone number|ads|advert\w*|sponsor\w*|promo\w*|coupons?|discount codes?|affiliate"
    r"|referral|[\w-]+\.(com|net|org|io|example|ru|cn|xyz|info|biz|co|app|dev|ai|shop)"
    r"|(the following|the below|the subsequent|this) (code|snippet|block|excerpt|section|text"
    r"|link|line|message|sentence|url))\b",
    re.IGNORECASE,
)
_NOUN_USE = _words("of is was are were 's has have by")
_SUBJECT = (
    r"(you|the assistant|the ai|the model|the bot|the chatbot|the llm|the agent|chatgpt"
    r"|claude|gemini|copilot)"
)
_OBLIGE = re.compile(
    rf"^{_SUBJECT}\s+(must|shall|have to|has to|need to|needs to|are to|is to"
    r"|are required to|is required to|are obliged to)\b",
    re.IGNORECASE,
)
_SOFT = re.compile(
    rf"^{_SUBJECT}\s+(should|always|never|can|cannot|can't|may|may not|will|won't|are not"
    r"|aren't|are allowed to|are not allowed to|would|do|don't)\b",
    re.IGNORECASE,
)
_OTHER_MODAL = re.compile(
    r"^(?!(i|we|my|our|me)\b)([\w'-]+\s+){1,6}?(should|must|shall|has to|have to|needs to"
    r"|need to|is to|are to)\b",
    re.IGNORECASE,
)
_WANT = re.compile(
    r"\b(want|wants|would like|'d like|need|needs|expect|expects|ask|asks|prefer|prefers"
    rf"|like|likes)\s+{_SUBJECT}\s+to\s+",
    re.IGNORECASE,
)
_LEAD_IN = re.compile(
    r"^\s*((please|pls|kindly|also|and|so|then|now|just|ok|okay|hey|hi|note|fyi|important"
    r"|remember|reminder|ps|ai|assistant|chatgpt|claude)\b[\s,:!-]*|(can|could|would|will)"
    r" you\s+|(remember|note|keep"
    r" in mind|make sure|be sure)\s+(that|to)\s+|(do not|don't|dont|never|always|only"
    r"|simply|secretly|quietly|subtly|silently|covertly|discreetly|naturally|casually)\s+)+",
    re.IGNORECASE,
)
_QUOTED_REPLY = re.compile(
    r"\b(with|saying|say|output|print|answer|reply|respond)\s*(:?\s*[\"'\u201c\u2018]|:)",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"^\s*((please|just|also)\s+)*(do not|don't|dont|never)\b", re.IGNORECASE)
_RELATIVE = re.compile(r"\b(that|which|who)\s+[\w'-]+", re.IGNORECASE)
_PERSIST = re.compile(
    r"\b(always|never|every time|each time|whenever|at all times|no matter what|regardless"
    r"|in (every|each|all) (\w+\s+)?(responses?|answers?|replies|messages?|outputs?"
    r"|conversations?|chats?|sessions?)|permanently|forever|for good)\b",
    re.IGNORECASE,
)
_PERSIST_STRONG = re.compile(
    r"\b(from now on|from this point|henceforth|going forward|for the rest of|in (all )?future"
    r"|all future|for all (future )?(conversations|chats|sessions|requests))\b",
    re.IGNORECASE,
)
_AUDIENCE = re.compile(
    r"\b(every|all|any|each|other|another)\s+(\w+\s+)?(users?|customers?|people|persons?"
    r"|visitors?|readers?|clients?|members?|patients?)\b|\b(everyone|everybody|whoever"
    r"|anyone who|someone who|users|customers|clients|visitors)\b",
    re.IGNORECASE,
)
_SECRECY = re.compile(
    r"\b(secretly|covertly|silently|surreptitiously|quietly|discreetly|subtly"
    r"|without (them|the user|anyone) (noticing|knowing))\b",
    re.IGNORECASE,
)
_ASKING = re.compile(r"\s*(i|we)\b", re.IGNORECASE)
_SELF = re.compile(r"\b(me|my|mine|myself)\b", re.IGNORECASE)
_CALL_ME = re.compile(r"\bcall me\b", re.IGNORECASE)
_CLAUSES = re.compile(
    r"([.!?;:\n,()]+|\s[-\u2013\u2014]\s|\b(?:and then|then|and|but|or)\s)", re.IGNORECASE
)
_CONJUNCTION = re.compile(r"\s*(and then|then|and|but|or)\s*$", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"^(i|i'm|i've|i'd|i'll|we|we're|my|our)\b", re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z][a-z'-]*")
_REFUSE_AT = 3


def instruction_reason(text: str) -> str | None:
    """Why ``text`` may not be stored as a belief (it reads as instructions to the model,
    carries role markers or template syntax), or None when it is safe to store."""
    hidden = _hidden_characters(text)
    if hidden:
        return hidden
    folded = unicodedata.normalize("NFKC", text)
    return (_markup_reason(folded) or _phrase_reason(folded) or answer_content_reason(folded)
            or _directive_reason(folded))


def _hidden_characters(text: str) -> str | None:
    """Characters a reader cannot see carry text past review (tags, zero-width, bidi)."""
    for char in text:
        if char in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Co", "Cs", "Cn") or 0xE0100 <= ord(char) <= 0xE01EF:
            return f"contains an invisible or control character (U+{ord(char):04X})"
    return None


def _markup_reason(text: str) -> str | None:
    """Syntax that only means something to a template engine, a chat format or a renderer."""
    checks = (
        (_TEMPLATE, "contains template syntax"),
        (_ROLE_TOKEN, "contains a chat role marker"),
        (_ROLE_TAG, "contains a role or instruction tag"),
        (_ROLE_LINE, "contains a role prefix such as 'system:'"),
        (_MD_IMAGE, "contains a markdown image (an exfiltration channel)"),
        (_CODE_FENCE, "contains a code block (beliefs are short statements)"),
        (_BLOB, "contains a long encoded string"),
    )
    for pattern, reason in checks:
        if pattern.search(text):
            return reason
    for url in _URL.findall(text):
        if not url.lower().startswith(("http", "www", "ftp")) or "?" in url or "=" in url:
            return "contains a URL with a query or an unusual scheme (an exfiltration channel)"
    return None


def _phrase_reason(text: str) -> str | None:
    for reason, pattern in _PHRASES:
        if pattern.search(text):
            return reason
    return None


def _directive_reason(text: str) -> str | None:
    """Score each sentence: a directive to the assistant plus what it asks for and of whom."""
    for sentence in _SENTENCES.split(text):
        clauses = _clauses(sentence)
        scores = [_clause_score(clause, negated) for clause, negated in clauses]
        clause_score = max(scores, default=0)
        style_only = all(_style_request(c) for (c, _), n in zip(clauses, scores, strict=True)
                         if n)
        markers = _sentence_markers(sentence, style_only=style_only)
        if clause_score and clause_score + markers >= _REFUSE_AT:
            return "reads as an instruction to the assistant"
    return None


def _clauses(sentence: str) -> list[tuple[str, bool]]:
    """Clauses (and whether each is negated), with an embedded "(I) want you to ..." turned
    into the directive it carries.

    A verb joined by "and"/"but" to a first-person clause keeps its subject: in "I work in
    sales and always recommend our product" the second verb is the user's, not an order.
    """
    parts = _CLAUSES.split(_CALL_ME.sub("address me", sentence))
    out: list[tuple[str, bool]] = []
    first_person = False
    for index in range(0, len(parts), 2):
        joined_by = parts[index - 1] if index else ""
        part = parts[index]
        if not part.strip():
            continue
        if first_person and _CONJUNCTION.match(joined_by):
            continue
        match = _WANT.search(part)
        body = part[match.end():] if match else part
        out.append((_LEAD_IN.sub("", body).strip(), bool(_NEGATED.match(body))))
        first_person = bool(_FIRST_PERSON.match(part.strip())) and not match
    return out


def _clause_score(clause: str, negated: bool = False) -> int:
    """0 for no directive; else 1, +1 for an obligation, + the weight of its verbs.

    A negated neutral or content verb ("never suggest meat dishes", "don't recommend fast
    food") restricts the answer, so it weighs like a style request; a negated action verb
    ("never refuse") or a link still pushes.
    """
    weight = -1
    extra = 0
    for pattern, bonus in ((_OBLIGE, 1), (_SOFT, 0), (_OTHER_MODAL, 0)):
        match = pattern.match(clause)
        if match:
            rest = clause[match.end():]
            if _ASKING.match(rest):  # "what should I say?": the user asking, not ordering
                return 0
            weight, extra = _verb_weight(rest), bonus
            break
    if weight < 0:
        words = _WORD.findall(clause.lower())
        if not words or words[0] not in _VERBS or (len(words) > 1 and words[1] in _NOUN_USE):
            return 0
        weight = _verb_weight(clause)
    if negated and (weight == 1 or (weight == 2 and _only_content(clause))):
        weight = 0
    return 1 + extra + weight


def _style_request(clause: str) -> bool:
    """An imperative about the form of the answer only ("answer in French", "keep it short"),
    with no one but the user's assistant as its subject."""
    if any(p.match(clause) for p in (_OBLIGE, _SOFT, _OTHER_MODAL)):
        return False
    words = _WORD.findall(clause.lower())
    return bool(words) and words[0] in _STYLE and _verb_weight(clause) == 0


def _only_content(clause: str) -> bool:
    """Whether the clause's pushing verbs are all content verbs (and it smuggles nothing)."""
    words = set(_WORD.findall(clause.lower())) & _PUSH
    return words <= _CONTENT and not _SMUGGLE.search(clause)


def _verb_weight(clause: str) -> int:
    """2 when the clause pushes content or actions, 1 for neutral verbs, 0 for style only."""
    clause = _RELATIVE.sub("", clause)
    words = set(_WORD.findall(clause.lower()))
    if words & _PUSH or _SMUGGLE.search(clause):
        return 2
    return 1 if words & _NEUTRAL else 0


def _sentence_markers(sentence: str, *, style_only: bool = False) -> int:
    """Persistence, other audiences and secrecy raise a directive's weight; "me" lowers it.

    Persistence does not count against a directive about the form of the answers alone:
    "answer in French from now on" is how a lasting preference is said, and is exactly what
    selfmodel keeps (other audiences and secrecy still count).
    """
    score = 0
    if style_only:
        pass
    elif _PERSIST_STRONG.search(sentence):
        score += 2
    elif _PERSIST.search(sentence):
        score += 1
    if _AUDIENCE.search(sentence) or _SECRECY.search(sentence):
        score += 3
    if _QUOTED_REPLY.search(sentence):
        score += 1
    if sentence.rstrip().endswith("?"):
        score -= 1  # a question is a request for this turn ("can you recommend a book?")
    if _SELF.search(sentence):
        score -= 1
    return score

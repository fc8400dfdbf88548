"""Drop sentences of a passage that address the model instead of informing the reader.

Retrieved text is data, but a 135M model obeys whatever imperative it reads last. Before a
passage reaches the prompt, sentences that look like instructions to an assistant are
replaced by a marker: overrides ("ignore previous instructions", in several languages),
fake role turns ("System:", "### Assistant:"), demands on the answer ("before you answer",
"end your reply with"), requests to print codes, prompts or other passages, and embedded
images or image-loading markup. Retrieval and stored text are untouched; only what the
LLM is shown changes.

This is one layer of three (with delimiters a document cannot close, and the output
sanitiser in rag.sanitize). It is pattern-based: it catches the common phrasings measured
in EVALUATION.md, not every paraphrase.
"""

from __future__ import annotations

import re

from rag.text import record_fields, sentences

MARKER = "[instruction removed]"

_PATTERNS = [
    # Overrides, in English, German, French, Spanish, Italian, Portuguese.
    r"\b(ignore|disregard|forget|ignoriere|vergiss|ignore[rz]?|oublie[rz]?|ignora|olvida|ignorar|dimentica|esque[cç]a)\b"
    r".{0,60}\b(instructions?|rules?|prompt|anweisungen|regeln|instrucciones|reglas|istruzioni|regole|instru[cç][õo]es)\b",
    # Chat markup, and the model addressed by name (role turns: _ROLE below).
    r"<\|?im_(start|end)\|?>|\[/?INST\]|<</?SYS>>",
    r"\b(assistant|chatbot|ai|model|bot)\s*,\s*(please\s+)?(say|write|print|reply|answer|tell|output|repeat)\b",
    # Demands on the answer itself.
    r"\b(before|when|after) you (answer|reply|respond)\b",
    r"\b(your|the|every) (answer|reply|response)s? (must|should|shall|has to)\b",
    r"\b(start|begin|end|finish|append|prefix)\w* (your|the|every|each) (answer|reply|response)\b",
    r"\b(always|only) (answer|reply|respond|say|write)\b",
    r"\b(reply|respond|answer)\b.{0,30}\b(only|solely|just) (with|the word)\b",
    r"\b(antworte|réponds|responde|rispondi|responda)\b",
    r"\b(commence|termine|finis)\w* (ta|votre) réponse\b|\bdeine[rn]? antwort\b|\btu respuesta\b|\bla tua risposta\b",
    r"\bin deiner antwort\b|\bdans ta réponse\b|\ben tu respuesta\b",
    # Requests to disclose.
    r"\b(print|reveal|repeat|output|disclose|show|list|nenne|zeige|affiche|révèle|muestra|revela|mostra|rivela)\b"
    r".{0,60}\b(access code|code|pin|password|passwort|secret|geheimnis|system prompt|prompt|other passages?|all passages?|"
    r"instructions?|zugangscode|code d'accès|contraseña|código)\b",
    # Images and loading markup, and requests to add them.
    r"!\[[^\]]*\]\s*\(|<\s*(img|iframe|script)\b",
    r"\b(add|append|include|insert|füge|ajoute|añade|aggiungi)\b.{0,40}\b(markdown|image|link|bild|lien|imagen|immagine)\b",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)
# A fake role turn ("System: ..."). A table record whose column is named "System" or "User"
# ("System: AquaSCADA; Business owner: ...", as ingest.tables writes rows) is data, not a
# turn: its fields are still checked against every other pattern.
_ROLE = re.compile(r"(^|\n|\s)(#+\s*)?(system|assistant|user|developer)\s*:", re.IGNORECASE)
# A fake chat turn owns the rest of its line: every sentence of it goes.
_ROLE_LINE = re.compile(r"^\s*(#+\s*)?(system|assistant|user|developer)\s*:|<\|?im_(start|end)\|?>|\[/?INST\]|<</?SYS>>",
                        re.IGNORECASE | re.MULTILINE)


def _instruction(text: str) -> bool:
    if _INSTRUCTION.search(text):
        return True
    return any(_ROLE.search(line) and not record_fields(line) for line in text.split("\n"))


def strip_instructions(text: str) -> str:
    """The passage with instruction-like sentences replaced by MARKER (once per run)."""
    if not _instruction(text):
        return text
    out: list[str] = []
    kept_lines = [MARKER if _ROLE_LINE.search(line) and not record_fields(line) else line
                  for line in text.split("\n")]
    for sentence in sentences("\n".join(kept_lines)):
        if sentence == MARKER or _instruction(sentence):
            if not out or out[-1] != MARKER:
                out.append(MARKER)
        else:
            out.append(sentence)
    return " ".join(out)

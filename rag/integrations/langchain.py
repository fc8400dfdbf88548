"""A LangChain retriever over a Groundwork collection, in-process or over HTTP.

    retriever = GroundworkRetriever(collection="handbook", base_url="http://127.0.0.1:8000")
    chain = retriever | format_docs | prompt | llm
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.types import Filters


class GroundworkRetriever(BaseRetriever):
    """Returns the collection's top chunks as LangChain Documents with their provenance.

    Give `service` (a rag.service.RagService) to search in-process, or `base_url` to call
    a running server's /collections/{collection}/search.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    collection: str
    top_k: int = 4
    mode: str = "hybrid"
    service: Any = None
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        if self.service is not None:
            hits = self.service.search(self.collection, query, self.top_k, Filters(), self.mode)
            return [self._doc(h.chunk.text, h.chunk.id, h.document.id, h.document.name, h.chunk.page,
                              h.chunk.section, h.score) for h in hits]
        if not self.base_url:
            raise ValueError("give either service= (in-process) or base_url= (HTTP)")
        body = json.dumps({"query": query, "top_k": self.top_k, "mode": self.mode}).encode()
        headers = {"content-type": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url.rstrip('/')}/collections/{self.collection}/search",
                                         data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            results = json.loads(response.read())["results"]
        return [self._doc(r["text"], r["chunk_id"], r["document_id"], r["document_name"], r["page"],
                          r["section"], r["score"]) for r in results]

    def _doc(self, text: str, chunk_id: int, document_id: str, name: str, page: int | None,
             section: str | None, score: float) -> LCDocument:
        return LCDocument(page_content=text, metadata={
            "collection": self.collection, "chunk_id": chunk_id, "document_id": document_id,
            "source": name, "page": page, "section": section, "score": score})

"""The LangChain retriever, in-process and over HTTP, inside a real langchain-core chain."""

from __future__ import annotations

from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda

from ingest.pipeline import IncomingFile
from rag.bootstrap import Runtime
from rag.integrations.langchain import GroundworkRetriever
from tests import docs
from tests.server import Server, link_model_cache

C = "lc"
DOC = docs.markdown("Orchard", {"Trees": "The Pellow orchard grows a pear called Winter Nelis."})


def test_in_process_retriever_in_a_chain(runtime: Runtime) -> None:
    runtime.ingestor.ingest(C, IncomingFile("orchard.md", DOC))
    retriever = GroundworkRetriever(collection=C, service=runtime.service, top_k=2)
    found = retriever.invoke("Which pear grows in the Pellow orchard?")
    assert "Winter Nelis" in found[0].page_content and found[0].metadata["source"] == "orchard.md"
    prompt = PromptTemplate.from_template("Context: {context}\nQuestion: {question}")
    chain = {"context": retriever | RunnableLambda(lambda ds: " ".join(d.page_content for d in ds)),
             "question": RunnableLambda(lambda q: q)} | prompt
    text = chain.invoke("Which pear grows in the Pellow orchard?").to_string()
    assert "Winter Nelis" in text and text.endswith("Which pear grows in the Pellow orchard?")


def test_http_retriever(runtime: Runtime, tmp_path) -> None:
    data = tmp_path / "data"
    link_model_cache(runtime.settings.model_cache_dir, data)
    srv = Server(data, RAG_LLM__PRELOAD="false", RAG_LOAD_SAMPLES="false").start()
    try:
        assert srv.upload(C, {"orchard.md": DOC})[0] == 200
        found = GroundworkRetriever(collection=C, base_url=srv.base).invoke("Pellow orchard pear")
        assert found and "Winter Nelis" in found[0].page_content and found[0].metadata["page"] is None
    finally:
        srv.stop()

"""Finding the chunks that answer a question: filters, dense + lexical search, fusion."""

"""Storage: SQLite is the truth, FAISS a derived cache."""
